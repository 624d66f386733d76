"""The run result cache of the real `fused-server`: hits, formats from one cached result,
bypass, expiry, errors not cached, single flight, ETag / 304, corrupt disk entries and
invalidation of a saved UDF's entries."""

from __future__ import annotations

import io
import subprocess
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
from harness import Server, binary

COUNT = """\
import pandas as pd
@fused.udf
def udf(path: str, n: int = 2):
    with open(path, "a") as f:
        f.write("run\\n")
    return pd.DataFrame({"i": list(range(n)), "sq": [i * i for i in range(n)]})
"""

SLOW = """\
import time
@fused.udf
def udf(path: str):
    with open(path, "a") as f:
        f.write("run\\n")
    time.sleep(1.0)
    return {"done": True}
"""

FAILS = """\
@fused.udf
def udf(path: str):
    with open(path, "a") as f:
        f.write("run\\n")
    raise ValueError("boom")
"""


@pytest.fixture(scope="module")
def exe() -> Path:
    return binary()


@pytest.fixture(scope="module")
def server(exe, tmp_path_factory):
    s = Server(exe, tmp_path_factory.mktemp("cache-data"), workers=2)
    s.wait_workers(2)
    yield s
    s.stop()


def runs(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def cached(reply) -> str:
    return reply.headers["x-fused-cached"]


def post(server, code, path="/api/v1/run/udf", headers=None, **body_extra):
    params = body_extra.pop("params")
    body = {"udf": {"name": "t", "code": textwrap.dedent(code)}, "parameters": params}
    body.update(body_extra)
    return server.request("POST", path, body, key=server.key, headers=headers)


def test_hit_after_miss_and_other_formats_from_the_cached_result(server, tmp_path):
    counter = tmp_path / "runs.txt"
    p = {"path": str(counter), "n": "4"}
    first = post(server, COUNT, "/api/v1/run/udf?format=csv", params=p)
    assert first.status == 200, first.body
    assert cached(first) == "false"
    second = post(server, COUNT, "/api/v1/run/udf?format=csv", params=p)
    assert second.status == 200 and cached(second) == "true"
    assert second.body == first.body
    assert runs(counter) == 1
    df = pd.read_csv(io.BytesIO(second.body))
    assert df["sq"].tolist() == [0, 1, 4, 9]
    # another format, encoded from the same cached result without running the UDF
    as_json = post(server, COUNT, "/api/v1/run/udf?format=json", params=p)
    assert as_json.status == 200 and cached(as_json) == "true"
    assert "9" in as_json.body.decode()
    assert runs(counter) == 1
    # a different parameter value is another entry
    other = post(server, COUNT, "/api/v1/run/udf?format=csv", params={**p, "n": "2"})
    assert cached(other) == "false" and runs(counter) == 2
    health = server.request("GET", "/health").json()
    assert health["cache"]["enabled"] is True
    assert health["cache"]["hits"] >= 2 and health["cache"]["misses"] >= 2
    assert health["cache"]["bytes"] > 0


def test_bypass(server, tmp_path):
    counter = tmp_path / "runs.txt"
    p = {"path": str(counter)}
    assert cached(post(server, COUNT, params=p)) == "false"
    assert runs(counter) == 1
    for path, extra in [
        ("/api/v1/run/udf?cache=false", {}),
        ("/api/v1/run/udf?cache_max_age=0", {}),
        ("/api/v1/run/udf", {"cache": False}),
        ("/api/v1/run/udf", {"cache_max_age": "0s"}),
    ]:
        r = post(server, COUNT, path, params=p, **extra)
        assert r.status == 200 and cached(r) == "false", (path, extra)
    assert runs(counter) == 5
    # the entry stored by the first run is still there
    assert cached(post(server, COUNT, params=p)) == "true"
    assert runs(counter) == 5


def test_invalid_cache_max_age_is_422_naming_it(server, tmp_path):
    p = {"path": str(tmp_path / "r.txt")}
    r = post(server, COUNT, "/api/v1/run/udf?cache_max_age=soon", params=p)
    assert r.status == 422
    assert r.json()["parameter"] == "cache_max_age"
    assert r.meta["error_type"] == "parameter"
    assert runs(tmp_path / "r.txt") == 0


def test_expiry(server, tmp_path):
    counter = tmp_path / "runs.txt"
    p = {"path": str(counter)}
    assert cached(post(server, COUNT, params=p, cache_max_age="1")) == "false"
    assert cached(post(server, COUNT, params=p, cache_max_age="1")) == "true"
    time.sleep(1.2)
    assert cached(post(server, COUNT, params=p, cache_max_age="1")) == "false"
    assert runs(counter) == 2


def test_errors_are_not_cached(server, tmp_path):
    counter = tmp_path / "runs.txt"
    for _ in range(2):
        r = post(server, FAILS, params={"path": str(counter)})
        assert r.status == 422
        assert r.meta["exception_class"] == "ValueError"
        assert "x-fused-cached" not in r.headers
    assert runs(counter) == 2


def test_single_flight(server, tmp_path):
    counter = tmp_path / "runs.txt"
    p = {"path": str(counter)}
    with ThreadPoolExecutor(5) as pool:
        replies = list(pool.map(lambda _: post(server, SLOW, params=p), range(5)))
    assert [r.status for r in replies] == [200] * 5
    assert all(r.json() == {"done": True} for r in replies)
    assert runs(counter) == 1


def test_etag_and_if_none_match(server, tmp_path):
    p = {"path": str(tmp_path / "runs.txt")}
    first = post(server, COUNT, "/api/v1/run/udf?format=csv", params=p)
    tag = first.headers["ETag"]
    assert tag.startswith('"') and tag.endswith('"')
    again = post(server, COUNT, "/api/v1/run/udf?format=csv", params=p)
    assert again.headers["ETag"] == tag
    other_format = post(server, COUNT, "/api/v1/run/udf?format=json", params=p)
    assert other_format.headers["ETag"] != tag
    r = post(server, COUNT, "/api/v1/run/udf?format=csv", params=p, headers={"If-None-Match": tag})
    assert r.status == 304
    assert r.body == b""
    assert r.headers["ETag"] == tag
    assert "request_id" in r.meta
    stale = post(
        server, COUNT, "/api/v1/run/udf?format=csv", params=p, headers={"If-None-Match": '"x"'}
    )
    assert stale.status == 200 and stale.body == first.body


def test_corrupt_disk_entry_is_recomputed(exe, tmp_path):
    data = tmp_path / "data"
    s = Server(exe, data, workers=1, extra_args=["--cache-memory-mb", "0"])
    try:
        s.wait_workers(1)
        counter = tmp_path / "runs.txt"
        p = {"path": str(counter), "n": "3"}
        first = post(s, COUNT, "/api/v1/run/udf?format=csv", params=p)
        assert cached(first) == "false"
        assert cached(post(s, COUNT, "/api/v1/run/udf?format=csv", params=p)) == "true"
        assert runs(counter) == 1
        files = [f for f in (data / "cache").rglob("*") if f.is_file()]
        assert len(files) == 1, files
        raw = bytearray(files[0].read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        files[0].write_bytes(bytes(raw))
        r = post(s, COUNT, "/api/v1/run/udf?format=csv", params=p)
        assert r.status == 200 and cached(r) == "false"
        assert r.body == first.body
        assert runs(counter) == 2
        # truncated
        files[0].write_bytes(files[0].read_bytes()[:20])
        r = post(s, COUNT, "/api/v1/run/udf?format=csv", params=p)
        assert cached(r) == "false" and r.body == first.body
        assert runs(counter) == 3
        assert cached(post(s, COUNT, "/api/v1/run/udf?format=csv", params=p)) == "true"
        assert s.request("GET", "/health").json()["cache"]["bytes"] == 0
    finally:
        s.stop()


def test_invalidate_saved_udf(exe, server, tmp_path):
    other_key = (
        subprocess.run(
            [
                str(exe),
                "admin",
                "create-user",
                "other@example.com",
                "--data-dir",
                str(server.data_dir),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    counter = tmp_path / "runs.txt"
    package = {"name": "Counted", "code": COUNT}
    saved = server.request(
        "POST",
        "/api/v1/udfs",
        {"package": package, "schema": {"path": "str", "n": "int"}},
        key=server.key,
    )
    assert saved.status == 201, saved.body

    url = f"/api/v1/run/udf/saved/me@example.com/Counted.csv?path={quote(str(counter))}"
    assert cached(server.request("GET", url, key=server.key)) == "false"
    assert cached(server.request("GET", url, key=server.key)) == "true"
    assert cached(server.request("GET", url + "&n=5", key=server.key)) == "false"
    assert runs(counter) == 2
    endpoint = "/api/v1/udf/saved/me@example.com/Counted/cache"
    assert server.request("DELETE", endpoint).status == 401
    assert server.request("DELETE", endpoint, key=other_key).status == 404
    assert server.request("DELETE", endpoint + "?x=0&y=0&z=0", key=server.key).json() == {
        "removed": 0
    }
    assert cached(server.request("GET", url, key=server.key)) == "true"
    gone = server.request("DELETE", endpoint, key=server.key)
    assert gone.status == 200 and gone.json() == {"removed": 2}
    assert cached(server.request("GET", url, key=server.key)) == "false"
    assert runs(counter) == 3
    assert server.request("DELETE", endpoint, key=server.key).json() == {"removed": 1}


def test_sdk_invalidate_cache(server, tmp_path, monkeypatch):
    import fused

    monkeypatch.setenv("FUSED_SERVER_URL", server.base)
    monkeypatch.setenv("FUSED_AUTH_TOKEN", server.key)
    counter = tmp_path / "runs.txt"
    tiles = fused.load(_tile_package(tmp_path))
    tiles.to_fused(overwrite=True)
    url = "/api/v1/run/udf/saved/me@example.com/Tile_Counted/tiles/{}?path=" + quote(str(counter))
    for t in ("1/0/0", "1/1/0", "1/0/0", "1/1/0"):
        r = server.request("GET", url.format(t), key=server.key)
        assert r.status == 200, r.body
    assert runs(counter) == 2
    assert tiles.invalidate_cache(x=0, y=0, z=1) == 1  # tiles/1/0/0
    assert cached(server.request("GET", url.format("1/1/0"), key=server.key)) == "true"
    assert cached(server.request("GET", url.format("1/0/0"), key=server.key)) == "false"
    assert runs(counter) == 3
    assert tiles.invalidate_cache() == 2
    with pytest.raises(ValueError, match="x, y and z"):
        tiles.invalidate_cache(x=1)


def _tile_package(tmp_path: Path) -> Path:
    d = tmp_path / "Tile_Counted"
    d.mkdir()
    (d / "Tile_Counted.py").write_text(
        textwrap.dedent(
            """\
            @fused.udf
            def udf(bounds: fused.types.Tile = None, path: str = ""):
                with open(path, "a") as f:
                    f.write("run\\n")
                return {"ok": True}
            """
        )
    )
    return d
