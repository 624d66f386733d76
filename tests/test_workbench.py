"""The Workbench (`/workbench`) in a real browser: headless Chromium (the system package,
driven by Playwright) against the real `fused-server` on 127.0.0.1 with the example UDFs
saved through the SDK. Screenshots go to docs/workbench-*.png with
FUSED_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from harness import BROWSER_ARGS, CHROMIUM, Server, binary

import fused

ROOT = Path(__file__).resolve().parent.parent
# Screenshots for the README: written to docs/ when FUSED_UPDATE_SCREENSHOTS=1 (so a test run
# leaves the checkout clean), else to a temporary folder.
DOCS = (
    ROOT / "docs"
    if os.environ.get("FUSED_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="fused-workbench-shots-"))
)
FAILING = """
@fused.udf
def udf(bounds: fused.types.Bounds = None, factor: int = 1):
    print("about to fail")
    raise ValueError(f"factor {factor} is not allowed here")
"""

SLOW = """
@fused.udf
def udf(bounds: fused.types.Bounds = None, marker_dir: str = ""):
    import os
    import time
    import uuid

    name = uuid.uuid4().hex
    open(os.path.join(marker_dir, "start-" + name), "w").close()
    time.sleep(4)
    open(os.path.join(marker_dir, "done-" + name), "w").close()
    import geopandas as gpd

    return gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
"""

RASTER_FILE = """
@fused.udf
def udf(size: int = 64):
    import numpy as np

    a = (np.indices((size, size)).sum(axis=0) * 4 % 256).astype("uint8")
    return a, [-10.0, 40.0, 5.0, 50.0]
"""

TYPED = """
import datetime


@fused.udf
def udf(
    day: datetime.date = datetime.date(2024, 1, 2),
    flag: bool = False,
    tags: list = None,
    label: str = "x",
    ratio: float = 0.5,
):
    import json

    import pandas as pd

    return pd.DataFrame(
        {
            "day": [day.isoformat()],
            "flag": [flag],
            "tags": [json.dumps(tags)],
            "label": [label],
            "ratio": [ratio],
        }
    )
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(binary(), tmp_path_factory.mktemp("workbench-server"), workers=2)
    srv.wait_workers(2)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def saved(server):
    """The examples saved as `make run` saves them, plus a failing Tile UDF and a share
    token for City_Points. Returns {"share": token}."""
    env = {"FUSED_SERVER_URL": server.base, "FUSED_AUTH_TOKEN": server.key}
    examples_dir = ROOT / "examples" / "udfs"
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        for folder in sorted(examples_dir.iterdir()):
            fused.load(folder).to_fused(overwrite=True)
        failing = fused.load(FAILING)
        failing.name = "Failing_Tiles"
        failing.metadata["fused:udfType"] = "vector_tile"
        failing.to_fused(overwrite=True)
        slow = fused.load(SLOW)
        slow.name = "Slow_Tiles"
        slow.metadata["fused:udfType"] = "vector_tile"
        slow.to_fused(overwrite=True)
        raster = fused.load(RASTER_FILE)
        raster.name = "Raster_File"
        raster.to_fused(overwrite=True)
        typed = fused.load(TYPED)
        typed.name = "Typed_Params"
        typed.to_fused(overwrite=True)
        token = fused.load(examples_dir / "Tile_Grid").create_access_token().token
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"share": token}


def _have_browser() -> bool:
    return Path(CHROMIUM).exists()


@pytest.fixture(scope="module")
def browser():
    if not _have_browser():
        pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs the Debian package 'chromium')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        yield b
        b.close()


class Page:
    """A browser page on the Workbench that records the HTTP requests it makes."""

    def __init__(self, browser, server) -> None:
        self.server = server
        self.context = browser.new_context(viewport={"width": 1400, "height": 860})
        self.page = self.context.new_page()
        self.requests: list[dict] = []
        self.console: list[str] = []
        self.page.on(
            "request",
            lambda r: self.requests.append(
                {"url": r.url, "method": r.method, "body": r.post_data, "headers": r.headers}
            ),
        )
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def open(self, query: str = "") -> None:
        self.page.goto(f"{self.server.base}/workbench{query}")
        self.page.wait_for_function("() => window.workbench !== undefined")

    def sign_in(self, key: str | None = None) -> None:
        self.page.fill("#api-key", key or self.server.key)
        self.page.click("#sign-in button[type=submit]")
        self.page.wait_for_selector("#signed-in-as:not([hidden])")
        self.page.wait_for_selector(".udf[data-name='Tile_Grid']")

    def choose(self, name: str, section: str = "me@example.com/") -> None:
        self.page.click(f".udf[data-key='{section}{name}']")

    def generation(self) -> int:
        return self.page.evaluate("() => window.workbench.state.generation")

    def wait_drawn(self, after: int = 0, timeout: float = 60_000) -> dict:
        """Until a layer newer than generation `after` has its tiles loaded and the map is
        idle."""
        self.page.wait_for_function(
            """(after) => { const s = window.workbench.state; const m = s.marks[s.generation];
                 return s.generation > after && m && m.idle !== undefined
                   && s.tiles.inflight === 0; }""",
            arg=after,
            timeout=timeout,
        )
        return self.page.evaluate(
            "() => { const s = window.workbench.state; return {gen: s.generation, "
            "loaded: s.tiles.loaded, failed: s.tiles.failed.size, kind: s.layerKind}; }"
        )

    def urls(self, pattern: str) -> list[str]:
        return [r["url"] for r in self.requests if re.search(pattern, r["url"])]

    def map_screenshot(self, name: str | None = None) -> bytes:
        png = self.page.locator("#map").screenshot()
        if name:
            DOCS.mkdir(exist_ok=True)
            (DOCS / name).write_bytes(png)
        return png

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser, server, saved):
    p = Page(browser, server)
    yield p
    p.close()


def coloured_pixels(png: bytes) -> int:
    """Pixels clearly not the basemap (its background and graticule are grey-blue, r <= b)."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    raw = img.tobytes()
    return sum(
        1
        for i in range(0, len(raw), 3)
        if abs(raw[i] - raw[i + 2]) > 40 or abs(raw[i + 1] - raw[i + 2]) > 40
    )


# ------------------------------------------------------------------ without a browser


def test_page_assets_and_headers(server):
    r = server.request("GET", "/workbench")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    html = r.body.decode()
    assert '<script type="module" src="/workbench/assets/app.js">' in html
    assert "<script>" not in html  # no inline script
    for name, ctype in [
        ("app.js", "text/javascript"),
        ("editor.js", "text/javascript"),
        ("app.css", "text/css"),
        ("maplibre-gl.css", "text/css"),
        ("maplibre-gl-worker.mjs", "text/javascript"),
    ]:
        a = server.request("GET", f"/workbench/assets/{name}")
        assert a.status == 200 and a.headers["content-type"].startswith(ctype), name
        assert a.headers["cache-control"] == "no-cache"
        again = server.request(
            "GET", f"/workbench/assets/{name}", headers={"If-None-Match": a.headers["etag"]}
        )
        assert again.status == 304 and again.body == b""
    missing = server.request("GET", "/workbench/assets/nope.js")
    assert missing.status == 404 and "app.js" in missing.json()["error_description"]


def test_root_redirects_to_the_workbench(server):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/")
    resp = conn.getresponse()
    assert resp.status in (302, 303, 307) and resp.getheader("location") == "/workbench"
    conn.close()


def test_workbench_api_needs_the_sdk_login(server, saved):
    for method, path in [
        ("GET", "/api/v1/workbench/udfs"),
        ("GET", "/api/v1/workbench/examples"),
        ("POST", "/api/v1/workbench/signature"),
    ]:
        r = server.request(method, path, body={} if method == "POST" else None)
        assert r.status == 401, path
        r = server.request(method, path, body={} if method == "POST" else None, key="wrong")
        assert r.status == 401, path
    listed = server.request("GET", "/api/v1/workbench/udfs", key=server.key).json()["udfs"]
    by_name = {u["name"]: u for u in listed}
    assert by_name["Tile_Grid"]["mode"] == "tile" and by_name["City_Points"]["mode"] == "file"
    assert by_name["Tile_Grid"]["schema"]["cells"] == "int"
    assert isinstance(by_name["Tile_Grid"]["created_at"], int)
    examples = server.request("GET", "/api/v1/workbench/examples", key=server.key).json()
    names = [e["name"] for e in examples["examples"]]
    assert names == [
        "Tile_Grid",
        "Tile_Hillshade",
        "Buffered_Points",
        "City_Points",
        "Country_Stats",
    ]


def test_signature_probe_reports_types_defaults_and_errors(server, saved):
    pkg = server.request(
        "GET", "/api/v1/udfs/saved/me@example.com/Buffered_Points", key=server.key
    ).json()["package"]
    r = server.request("POST", "/api/v1/workbench/signature", {"udf": pkg}, key=server.key)
    assert r.status == 200, r.body
    params = {p["name"]: p for p in r.json()["parameters"]}
    assert params["n"] == {"name": "n", "spec": "int", "required": False, "default": 3}
    assert params["radius_m"]["spec"] == "float" and params["radius_m"]["default"] == 250.0
    assert params["bbox"]["spec"] == "optional[tilegdf]" or "tilegdf" in params["bbox"]["spec"]
    broken = dict(pkg, code="@fused.udf\ndef udf(n: int = 1):\n    return n +\n")
    r = server.request("POST", "/api/v1/workbench/signature", {"udf": broken}, key=server.key)
    assert r.status >= 400
    assert "SyntaxError" in (r.meta.get("exception_class") or "") + (r.meta.get("errormsg") or "")
    bad = server.request("POST", "/api/v1/workbench/signature", {"nope": 1}, key=server.key)
    assert bad.status == 400 and "'udf'" in bad.json()["error"]


def test_share_info_never_shows_code_and_rejects_unknown_tokens(server, saved):
    r = server.request("GET", f"/api/v1/workbench/shared/{saved['share']}")
    assert r.status == 200
    info = r.json()
    assert info["name"] == "Tile_Grid" and info["mode"] == "tile"
    assert "package" not in info and "code" not in json.dumps(info)
    assert server.request("GET", "/api/v1/workbench/shared/fsh_unknown").status == 404


def test_basemap_flag_goes_to_the_page_config_and_csp(tmp_path):
    srv = Server(
        binary(),
        tmp_path,
        workers=1,
        extra_args=["--basemap-style", "https://tiles.example.com/style.json"],
    )
    try:
        cfg = srv.request("GET", "/workbench/config.json").json()
        assert cfg["basemap_style"] == "https://tiles.example.com/style.json"
        csp = srv.request("GET", "/workbench").headers["content-security-policy"]
        assert "connect-src 'self' https:" in csp and "script-src 'self';" in csp
    finally:
        srv.stop()


# ------------------------------------------------------------------ in the browser


def test_sign_in_lists_saved_udfs_with_mode_parameters_and_time(page):
    page.open()
    assert page.page.locator(".udf").count() == 0
    page.sign_in()
    saved = page.page.locator("#udf-list .udf[data-key^='me@example.com/']")
    names = sorted(saved.evaluate_all("els => els.map(e => e.dataset.name)"))
    assert names == sorted(
        [
            "Buffered_Points",
            "City_Points",
            "Country_Stats",
            "Failing_Tiles",
            "Raster_File",
            "Slow_Tiles",
            "Tile_Grid",
            "Tile_Hillshade",
            "Typed_Params",
        ]
    )
    grid = page.page.locator(".udf[data-key='me@example.com/Tile_Grid']")
    assert "Tile" in grid.locator(".mode").inner_text()
    assert "cells: int" in grid.locator(".params").inner_text()
    assert "saved" in grid.locator(".saved-at").inner_text()
    city = page.page.locator(".udf[data-key='me@example.com/City_Points']")
    assert "File" in city.locator(".mode").inner_text()
    assert page.page.locator(".udf[data-key^='example:']").count() == 5
    page.page.fill("#search", "hills")
    assert page.page.locator(".udf[data-key^='me@example.com/']").count() == 1
    # the token never appears in a URL the page requested
    assert not any(page.server.key in r["url"] for r in page.requests)
    assert page.server.key not in page.page.url


def test_tile_udf_draws_and_a_parameter_change_rerequests(page):
    page.open("?view=2/20/0")
    page.sign_in()
    page.choose("Tile_Grid")
    drawn = page.wait_drawn()
    assert drawn["kind"] == "vector" and drawn["loaded"] >= 1 and drawn["failed"] == 0
    tiles = page.urls(r"/api/v1/run/udf/saved/me%40example\.com/Tile_Grid/tiles/\d+/\d+/\d+")
    assert tiles, page.requests[-5:]
    # the bearer token travels in the header, not the URL
    tile_req = next(r for r in page.requests if r["url"] == tiles[-1])
    assert tile_req["headers"].get("authorization") == f"Bearer {page.server.key}"
    png = page.map_screenshot("workbench-tile-udf.png")
    assert coloured_pixels(png) > 5000
    page.page.screenshot(path=str(DOCS / "workbench.png"))
    # change `cells`: every visible tile is requested again with the new value
    before, gen = len(page.requests), page.generation()
    page.page.fill("#param-cells", "2")
    page.page.press("#param-cells", "Enter")
    page.wait_drawn(after=gen)
    again = [r["url"] for r in page.requests[before:] if "/Tile_Grid/tiles/" in r["url"]]
    assert again and all("cells=2" in u for u in again), again
    # Enter and the change event after it redraw once: one new layer, each tile asked once
    page.page.locator("#param-cells").blur()
    page.page.wait_for_timeout(300)
    assert page.generation() == gen + 1
    assert len(again) == len(set(again)), again
    assert "p.cells=2" in page.page.url and "udf=me@example.com/Tile_Grid" in page.page.url
    # the page URL reproduces the view: open it again in a fresh page
    link = page.page.url
    assert re.search(r"view=2\.00/20\.0+/0\.0+", link), link


def test_feature_click_shows_its_attributes(page):
    page.open("?view=3/20/10")
    page.sign_in()
    page.choose("Tile_Grid")
    page.wait_drawn()
    box = page.page.locator("#map").bounding_box()
    page.page.mouse.click(box["x"] + box["width"] / 2 + 7, box["y"] + box["height"] / 2 + 9)
    popup = page.page.locator(".maplibregl-popup .attr-table")
    popup.wait_for(timeout=10_000)
    text = popup.inner_text()
    assert "cell" in text and re.search(r"\b[0-3]-[0-3]\b", text), text


def test_failing_udf_shows_its_error_line_and_stdout(page):
    page.open("?view=1/0/0")
    page.sign_in()
    page.choose("Failing_Tiles")
    drawn = page.wait_drawn()
    assert drawn["failed"] >= 1
    problems = page.page.locator("#problems")
    problems.locator(".problem").first.wait_for()
    text = problems.inner_text()
    assert "ValueError" in text and "factor 1 is not allowed here" in text
    assert "line 5" in text and "about to fail" in text
    page.map_screenshot("workbench-tile-errors.png")


def test_raster_tile_udf_uses_png_tiles_and_default_view(page):
    page.open()
    page.sign_in()
    page.choose("Tile_Hillshade")
    drawn = page.wait_drawn()
    assert drawn["kind"] == "raster" and drawn["loaded"] >= 1
    pngs = page.urls(r"/Tile_Hillshade/tiles/\d+/\d+/\d+\?.*format=png")
    assert pngs
    assert "view=9.00/37.77000/-122.42000" in page.page.url  # fused:defaultViewState


def test_file_udf_shows_geojson_layer_and_table(page):
    page.open()
    page.sign_in()
    page.choose("City_Points")
    page.page.locator("#results:not([hidden])").wait_for()
    assert page.page.locator("#row-count").inner_text() == "8 rows"
    headers = page.page.locator("#result-table th").all_inner_texts()
    assert headers == ["name", "region", "geometry"]
    assert "Tokyo" in page.page.locator("#result-table").inner_text()
    page.wait_drawn()
    page.page.wait_for_timeout(300)
    png = page.map_screenshot("workbench-file-udf.png")
    assert coloured_pixels(png) > 50
    # a table-only result (a DataFrame without geometry)
    page.choose("Country_Stats")
    page.page.wait_for_function(
        "() => document.querySelector('#row-count').textContent === '5 rows'"
    )
    assert "India" in page.page.locator("#result-table").inner_text()
    assert page.page.locator("#problems").inner_text().count("countries with at least") == 1


def test_edit_run_and_save_round_trip(page):
    page.open("?view=2/20/0")
    page.sign_in()
    page.choose("Tile_Grid")
    page.wait_drawn()
    # edit: default 4 cells -> 3, and a print
    page.page.locator(".cm-content").wait_for()
    code = page.page.evaluate("() => window.workbench.editor.state.doc.toString()")
    assert "cells: int = 4" in code
    edited = code.replace("cells: int = 4", "cells: int = 3").replace(
        "    import geopandas", '    print("edited grid")\n    import geopandas'
    )
    # type it as a user would: select all in the editor, then insert the new text
    page.page.click(".cm-content")
    page.page.keyboard.press("Control+A")
    page.page.keyboard.insert_text(edited)
    assert page.page.evaluate("() => window.workbench.editor.state.doc.toString()") == edited
    before, gen = len(page.requests), page.generation()
    page.page.click("#run")
    page.wait_drawn(after=gen)
    shipped = [r for r in page.requests[before:] if "/api/v1/run/udf/tiles/" in r["url"]]
    assert shipped and all(r["method"] == "POST" for r in shipped)
    body = json.loads(shipped[-1]["body"])
    assert "cells: int = 3" in body["udf"]["code"] and body["format"] == "mvt"
    assert body["parameters"] == {}
    # the widget shows the new default from the edited code
    assert page.page.locator("#param-cells").get_attribute("placeholder") == "3"
    assert "edited grid" in page.page.locator("#problems").inner_text()
    # save as a new name: it appears in the list and in the registry with its schema
    page.page.fill("#save-name", "Grid_Edited")
    page.page.click("#save")
    page.page.locator("#save-status.ok").wait_for()
    page.page.locator(".udf[data-key='me@example.com/Grid_Edited']").wait_for()
    saved = page.server.request(
        "GET", "/api/v1/udfs/saved/me@example.com/Grid_Edited", key=page.server.key
    ).json()
    assert "cells: int = 3" in saved["package"]["code"]
    assert saved["schema"]["cells"] == "int"
    # saving again under an existing name is a conflict, shown, and can overwrite
    page.page.fill("#save-name", "Tile_Grid")
    page.page.click("#save")
    status = page.page.locator("#save-status.error")
    status.wait_for()
    assert "already exists" in status.inner_text()
    page.page.click("#overwrite")
    page.page.locator("#save-status.ok").wait_for()
    grid = page.server.request(
        "GET", "/api/v1/udfs/saved/me@example.com/Tile_Grid", key=page.server.key
    ).json()
    assert "cells: int = 3" in grid["package"]["code"]
    # put the example back for the other tests
    os.environ["FUSED_SERVER_URL"], os.environ["FUSED_AUTH_TOKEN"] = (
        page.server.base,
        page.server.key,
    )
    try:
        fused.load(ROOT / "examples" / "udfs" / "Tile_Grid").to_fused(overwrite=True)
    finally:
        del os.environ["FUSED_SERVER_URL"], os.environ["FUSED_AUTH_TOKEN"]


def test_share_link_works_signed_out_and_sees_nothing_else(page, saved):
    token = saved["share"]
    page.open(f"?share={token}&p.cells=3&view=2/20/0")
    drawn = page.wait_drawn()
    assert drawn["loaded"] >= 1 and drawn["failed"] == 0
    shared = page.urls(rf"/shared/{token}/run/tiles/\d+/\d+/\d+\?.*cells=3")
    assert shared
    assert not any("authorization" in r["headers"] for r in page.requests)
    assert page.page.locator("#code-section").is_hidden()
    # a read-only view never loads the code editor's module
    assert not page.urls(r"/workbench/assets/editor\.js")
    assert page.page.locator(".udf").count() == 0
    assert "read-only" in page.page.locator("#current-title").inner_text()
    png = page.map_screenshot("workbench-share.png")
    assert coloured_pixels(png) > 5000
    # the page's origin cannot reach any other UDF without signing in
    statuses = page.page.evaluate(
        """async () => Promise.all([
            '/api/v1/workbench/udfs',
            '/api/v1/udfs/saved/me@example.com/City_Points',
            '/api/v1/run/udf/saved/me@example.com/City_Points',
        ].map(async (u) => (await fetch(u)).status))"""
    )
    assert statuses == [401, 401, 401]


def test_device_flow_sign_in(page, server):
    page.open()
    page.page.click("#device-login")
    page.page.locator("#device-box:not([hidden])").wait_for()
    code = page.page.locator("#device-code").inner_text()
    link = page.page.locator("#device-link").get_attribute("href")
    assert urllib.parse.urlparse(link).path == "/device"
    # approve it as the user would on the approval page
    data = urllib.parse.urlencode(
        {"user_code": code, "api_key": server.key, "action": "approve"}
    ).encode()
    with urllib.request.urlopen(f"{server.base}/device", data=data, timeout=10) as resp:
        assert resp.status == 200
    page.page.wait_for_selector("#signed-in-as:not([hidden])", timeout=30_000)
    assert page.page.locator("#signed-in-as").inner_text() == "me@example.com"
    page.page.locator(".udf[data-key='me@example.com/Tile_Grid']").wait_for()
    # the access token is in no URL the page requested
    assert not any("access_token" in r["url"] for r in page.requests)


def test_page_has_no_console_errors_on_start(page):
    page.open()
    page.page.wait_for_timeout(500)
    assert not [m for m in page.console if m.startswith(("error", "pageerror"))], page.console


def test_moving_the_map_cancels_stale_tile_runs(page, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    page.open(f"?udf=me@example.com/Slow_Tiles&p.marker_dir={markers}&view=3/0/0")
    page.sign_in()
    # two tiles running on the two workers, more waiting in the queue
    page.page.wait_for_function("() => window.workbench.state.tiles.inflight >= 3", timeout=30_000)
    deadline = 30
    while len(list(markers.glob("start-*"))) < 2 and deadline > 0:
        page.page.wait_for_timeout(100)
        deadline -= 0.1
    started = {p.name[len("start-") :] for p in markers.glob("start-*")}
    assert started
    # move far away: the old tiles' requests are aborted, which stops their runs
    page.page.evaluate("() => window.workbench.map.jumpTo({center: [150, -60], zoom: 6})")
    page.page.wait_for_function(
        "() => (window.workbench.state.tiles.cancelled || 0) >= 2", timeout=10_000
    )
    page.page.wait_for_timeout(5_000)  # longer than a run would have taken
    unfinished = [n for n in started if not (markers / f"done-{n}").exists()]
    assert unfinished, "every run that had started before the move still finished"


def test_file_raster_with_bounds_is_an_image_layer(page):
    page.open()
    page.sign_in()
    page.choose("Raster_File")
    page.wait_drawn()
    layer = page.page.evaluate(
        """() => { const m = window.workbench.map; const s = m.getSource('udf');
             return {type: s.type, coords: s.coordinates, center: m.getCenter()}; }"""
    )
    assert layer["type"] == "image"
    assert layer["coords"] == [[-10, 50], [5, 50], [5, 40], [-10, 40]]
    assert abs(layer["center"]["lng"] - (-2.5)) < 1 and 40 < layer["center"]["lat"] < 50
    assert page.page.locator("#results").is_hidden()


def test_viz_config_colours_follow_the_chosen_udf(page):
    page.open("?view=2/20/0")
    page.sign_in()
    page.choose("Tile_Grid")
    gen = page.wait_drawn()["gen"]
    fill = page.page.evaluate(
        "() => window.workbench.map.getPaintProperty('udf-fill', 'fill-color')"
    )
    # colorCategories over `cell` with the Bold palette -> a MapLibre match expression
    assert fill[0] == "match" and fill[1] == ["to-string", ["get", "cell"]]
    assert fill[2:4] == ["0-0", "#7F3C8D"] and fill[4:6] == ["0-1", "#11A579"]
    opacity = page.page.evaluate(
        "() => window.workbench.map.getPaintProperty('udf-fill', 'fill-opacity')"
    )
    assert opacity == 0.6
    page.choose("Buffered_Points")
    page.wait_drawn(after=gen)
    fill = page.page.evaluate(
        "() => window.workbench.map.getPaintProperty('udf-fill', 'fill-color')"
    )
    line = page.page.evaluate(
        "() => window.workbench.map.getPaintProperty('udf-line', 'line-color')"
    )
    assert fill == "rgba(37, 99, 235, 0.471)" and line == "rgba(30, 64, 175, 1)"


def test_parameter_widgets_follow_the_types(page):
    page.open()
    page.sign_in()
    page.choose("Typed_Params")
    page.page.locator("#results:not([hidden])").wait_for()
    # widgets once the signature (types and defaults) is known
    page.page.wait_for_function("() => window.workbench.state.current.signature !== null")
    day = page.page.locator("#param-day")
    assert day.get_attribute("type") == "date" and day.input_value() == "2024-01-02"
    assert page.page.locator("#param-flag").get_attribute("type") == "checkbox"
    assert not page.page.locator("#param-flag").is_checked()
    assert page.page.locator("#param-ratio").get_attribute("type") == "number"
    assert page.page.locator("#param-ratio").get_attribute("placeholder") == "0.5"
    assert page.page.locator("#param-label").get_attribute("type") == "text"
    tags = page.page.locator("textarea#param-tags")

    def row() -> str:
        return page.page.locator("#result-table tbody").inner_text()

    # invalid JSON: an error on the widget, nothing sent
    before = len(page.urls("/Typed_Params"))
    tags.fill("[1,")
    tags.dispatch_event("change")
    assert "expected JSON" in page.page.locator("[data-param=tags] .param-error").inner_text()
    page.page.wait_for_timeout(300)
    assert len(page.urls("/Typed_Params")) == before
    # valid values: each change runs again with it
    tags.fill('["a", "b"]')
    tags.dispatch_event("change")
    page.page.wait_for_function(
        "() => document.querySelector('#result-table tbody').textContent.includes('[\"a\", \"b\"]')"
    )
    day.fill("2025-03-04")
    page.page.wait_for_function(
        "() => document.querySelector('#result-table tbody').textContent.includes('2025-03-04')"
    )
    page.page.click("#param-flag")
    page.page.wait_for_function(
        "() => document.querySelector('#result-table tbody').textContent.includes('true')"
    )
    assert "2025-03-04" in row() and "true" in row()
    url = page.page.url
    assert "p.day=2025-03-04" in url and "p.flag=true" in url and "p.tags=" in url
