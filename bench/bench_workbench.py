"""The Workbench in headless Chromium against a script fetching the same tiles.

A real `fused-server` (2 warm workers) serves Tile_Grid through a share link. Each round uses
parameter values no earlier request used, so every tile is computed on a worker (no result
cache hit) both for the page and for the script:

* page load -> first tile drawn / all tiles drawn: `performance.now()` marks of the page
  (from navigation start: HTML, the 1.6 MB bundle, MapLibre start-up, the first-tile probe,
  the tile runs, decoding and drawing);
* parameter change -> layer redrawn: from the widget's change event to the map idle with
  every tile of the new value drawn;
* bare MapLibre: the least any map page can do with these tiles, in the same browser: a page
  with nothing but MapLibre (the same `maplibre-gl` build the Workbench bundles), the same
  offline basemap and the same fill/line/circle layers on the share link's tile URLs; the
  Workbench's own cost is its time minus this page's;
* script: the same tile URLs fetched by Python with 6 connections (a browser's per-host
  limit), time to the first and to the last tile.

Run: `.venv/bin/python bench/bench_workbench.py [--rounds N]` (needs Chromium at
/usr/bin/chromium, the release server binary and `web/node_modules` from `web/build.sh` or
`npm ci --prefix web` for the bare page's MapLibre). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness import BROWSER_ARGS, CHROMIUM, Server, binary  # noqa: E402

import fused  # noqa: E402

VIEW = "2/20/0"
MAPLIBRE = ROOT / "web" / "node_modules" / "maplibre-gl" / "dist"

# The bare page: MapLibre, the Workbench's offline basemap (web/src/basemap.js, imported as is)
# and the same three vector layers; `window.bare` holds its marks like `workbench.state.marks`.
BARE_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="stylesheet" href="/bare/maplibre-gl.css"></head>
<body style="margin:0"><div id="map" style="position:absolute;inset:0"></div>
<script type="module">
import * as maplibregl from "/bare/maplibre-gl.mjs";
import { offlineStyle } from "/bare/basemap.js";
maplibregl.setWorkerUrl("/bare/maplibre-gl-worker.mjs");
const marks = { requested: performance.now() };
window.bare = { marks, generation: 0 };
const poly = ["==", ["geometry-type"], "Polygon"];
const map = new maplibregl.Map({ container: "map", style: offlineStyle(), center: [0, 20],
  zoom: 2, fadeDuration: 0, attributionControl: false });
map.once("style.load", () => {
  map.addSource("udf", { type: "vector", tiles: [TILES], maxzoom: 22 });
  map.addLayer({ id: "f", type: "fill", source: "udf", "source-layer": "udf", filter: poly,
    paint: { "fill-color": "#2f7ed8", "fill-opacity": 0.35 } });
  map.addLayer({ id: "l", type: "line", source: "udf", "source-layer": "udf",
    filter: ["any", poly, ["==", ["geometry-type"], "LineString"]],
    paint: { "line-color": "#1f5fa8", "line-width": 1 } });
  map.addLayer({ id: "c", type: "circle", source: "udf", "source-layer": "udf",
    filter: ["==", ["geometry-type"], "Point"], paint: { "circle-color": "#2f7ed8" } });
});
map.on("data", (e) => {
  const m = window.bare.marks;
  if (e.sourceId === "udf" && e.tile && m.firstTile === undefined) m.firstTile = performance.now();
});
map.on("idle", () => {
  const m = window.bare.marks;
  if (m.firstTile !== undefined && m.idle === undefined) m.idle = performance.now();
});
window.bareChange = (url) => {
  window.bare.marks = { requested: performance.now() };
  window.bare.generation += 1;
  map.getSource("udf").setTiles([url]);
};
</script></body></html>"""
BARE_IDLE = (
    "(g) => { const b = window.bare; return b && b.generation >= g && b.marks.idle !== undefined; }"
)


def serve_file(path: Path, ctype: str):
    """A route handler answering with one file (Playwright passes (route, request))."""
    body = path.read_bytes()
    return lambda route: route.fulfill(body=body, content_type=ctype)


def bare_round(browser, base: str, tile_url: str, new_url: str) -> tuple[float, float, float]:
    """(first tile, all drawn, change -> redrawn) in ms on the bare MapLibre page."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 860})
    page = ctx.new_page()
    files = {
        "maplibre-gl.mjs": (MAPLIBRE / "maplibre-gl.mjs", "text/javascript"),
        "maplibre-gl-worker.mjs": (MAPLIBRE / "maplibre-gl-worker.mjs", "text/javascript"),
        "maplibre-gl.css": (MAPLIBRE / "maplibre-gl.css", "text/css"),
        "basemap.js": (ROOT / "web" / "src" / "basemap.js", "text/javascript"),
    }
    html = BARE_HTML.replace("TILES", repr(base + tile_url))
    page.route(f"{base}/bare.html", lambda r: r.fulfill(body=html, content_type="text/html"))
    for name, (path, ctype) in files.items():
        page.route(f"{base}/bare/{name}", serve_file(path, ctype))
    page.goto(f"{base}/bare.html")
    page.wait_for_function(BARE_IDLE, arg=0, timeout=120_000)
    load = page.evaluate("() => window.bare.marks")
    page.evaluate("(u) => window.bareChange(u)", base + new_url)
    page.wait_for_function(BARE_IDLE, arg=1, timeout=120_000)
    change = page.evaluate("() => window.bare.marks")
    ctx.close()
    return load["firstTile"], load["idle"], change["idle"] - change["requested"]


def with_cells(urls: list[str], n: int) -> list[str]:
    return [re.sub(r"cells=\d+", f"cells={n}", u) for u in urls]


def fetch_all(base: str, urls: list[str]) -> tuple[float, float]:
    """(first, last) completion time in ms of fetching `urls` with 6 connections."""
    start = time.perf_counter()
    done: list[float] = []

    def get(u: str) -> None:
        with urllib.request.urlopen(base + u, timeout=60) as r:
            r.read()
        done.append((time.perf_counter() - start) * 1000)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(get, urls))
    return min(done), max(done)


def record(url: str, base: str, seen: list[str]) -> None:
    """Keep the path of a tile request."""
    if "/run/tiles/" in url:
        seen.append(url.split(base, 1)[1])


IDLE = (
    "(g) => { const s = window.workbench && window.workbench.state;"
    " const m = s && s.marks[s.generation];"
    " return s && s.generation > g && m && m.idle !== undefined && s.tiles.inflight === 0; }"
)
CURRENT = "() => window.workbench.state.marks[window.workbench.state.generation]"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    data = Path(tempfile.mkdtemp(prefix="bench-workbench-"))
    srv = Server(binary(), data, workers=2)
    try:
        srv.wait_workers(2)
        os.environ["FUSED_SERVER_URL"], os.environ["FUSED_AUTH_TOKEN"] = srv.base, srv.key
        grid = fused.load(ROOT / "examples" / "udfs" / "Tile_Grid")
        grid.to_fused(overwrite=True)
        token = grid.create_access_token().token
        rows = {
            k: []
            for k in (
                "map_ready",
                "load_first",
                "load_all",
                "script_first",
                "script_all",
                "change",
                "received",
                "script_change",
                "bare_first",
                "bare_all",
                "bare_change",
            )
        }
        cells = iter(range(20, 20 + 6 * (args.rounds + 1)))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            # one unmeasured page load: warms the workers' imports and Chromium's caches
            for r in range(args.rounds + 1):
                ctx = browser.new_context(viewport={"width": 1400, "height": 860})
                page = ctx.new_page()
                tiles: list[str] = []
                page.on("request", lambda req, seen=tiles: record(req.url, srv.base, seen))
                n = next(cells)
                page.goto(f"{srv.base}/workbench?share={token}&p.cells={n}&view={VIEW}")
                page.wait_for_function(IDLE, arg=0, timeout=120_000)
                marks = page.evaluate(CURRENT)
                map_ready = page.evaluate("() => window.workbench.state.timing.styleReady")
                # the map's tile URLs (the probe's duplicate of the centre tile dropped)
                urls = sorted(set(tiles))
                s_first, s_all = fetch_all(srv.base, with_cells(urls, next(cells)))
                # parameter change
                generation = page.evaluate("() => window.workbench.state.generation")
                page.fill("#param-cells", str(next(cells)))
                page.press("#param-cells", "Enter")
                page.wait_for_function(IDLE, arg=generation, timeout=120_000)
                redrawn = page.evaluate(CURRENT)
                change = redrawn["idle"] - redrawn["requested"]
                received = redrawn["lastResponse"] - redrawn["requested"]
                _, sc_all = fetch_all(srv.base, with_cells(urls, next(cells)))
                ctx.close()
                # the bare MapLibre page on the same tiles, new values again (no cache hit)
                mvt = next(u for u in urls if re.search(r"format=mvt(&|$)", u))
                template = re.sub(r"/\d+/\d+/\d+\?", "/{z}/{x}/{y}?", mvt)
                bare = bare_round(
                    browser,
                    srv.base,
                    with_cells([template], next(cells))[0],
                    with_cells([template], next(cells))[0],
                )
                if r == 0:
                    continue
                rows["map_ready"].append(map_ready)
                rows["load_first"].append(marks["firstTile"])
                rows["load_all"].append(marks["idle"])
                rows["script_first"].append(s_first)
                rows["script_all"].append(s_all)
                rows["change"].append(change)
                rows["received"].append(received)
                rows["script_change"].append(sc_all)
                rows["bare_first"].append(bare[0])
                rows["bare_all"].append(bare[1])
                rows["bare_change"].append(bare[2])
            browser.close()
        med = {k: statistics.median(v) for k, v in rows.items()}
        zoom = VIEW.split("/")[0]
        print(f"Tile_Grid, {len(urls)} tiles at z{zoom}, 2 warm workers, median of {args.rounds}\n")
        print(
            "| ms | Workbench (Chromium) | bare MapLibre page | script (urllib, 6 connections)"
            " | Workbench adds over bare MapLibre | Workbench adds over script |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        print(
            "| page load -> map style ready (MapLibre started, no UDF involved)"
            f" | {med['map_ready']:.0f} | | | | |"
        )
        for label, page_ms, bare_ms, script_ms in [
            ("page load -> first tile", med["load_first"], med["bare_first"], med["script_first"]),
            ("page load -> all tiles drawn", med["load_all"], med["bare_all"], med["script_all"]),
            ("parameter change -> last tile received", med["received"], None, med["script_change"]),
            (
                "parameter change -> layer redrawn",
                med["change"],
                med["bare_change"],
                med["script_change"],
            ),
        ]:
            bare_s = f"{bare_ms:.0f}" if bare_ms is not None else ""
            over = f"{page_ms - bare_ms:.0f}" if bare_ms is not None else ""
            print(
                f"| {label} | {page_ms:.0f} | {bare_s} | {script_ms:.0f} | {over}"
                f" | {page_ms - script_ms:.0f} |"
            )
    finally:
        srv.stop()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
