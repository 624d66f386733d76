"""`python -m fused._worker` driven over its framed pipe, as the server's pool drives it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest
import shapely

_LEN = struct.Struct("<I")


class Worker:
    def __init__(self, result_dir: str) -> None:
        self.result_dir = result_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fused._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.hello = json.loads(self._read())
        self.n = 0

    def _read(self) -> bytes:
        head = self.proc.stdout.read(4)
        assert len(head) == 4, f"worker closed its pipe (exit {self.proc.poll()})"
        (n,) = _LEN.unpack(head)
        data = self.proc.stdout.read(n)
        assert len(data) == n
        return data

    def _write(self, data: bytes) -> None:
        self.proc.stdin.write(_LEN.pack(len(data)) + data)
        self.proc.stdin.flush()

    def run(
        self, code: str, parameters=None, tile=None, inline_limit=1 << 20, udf_hash=None, **pkg
    ):
        self.n += 1
        task_id = f"task-{self.n}"
        udf = {"name": "t", "code": textwrap.dedent(code), **pkg}
        req = {
            "task_id": task_id,
            "udf": udf,
            "udf_hash": udf_hash
            if udf_hash is not None
            else hashlib.sha256(json.dumps(udf, sort_keys=True).encode()).hexdigest(),
            "parameters": parameters or {},
            "tile": tile,
            "result_dir": self.result_dir,
            "inline_limit": inline_limit,
        }
        self._write(json.dumps(req).encode())
        header = json.loads(self._read())
        assert header["task_id"] == task_id
        payload = None
        p = header.get("payload")
        if p and p.get("inline"):
            payload = self._read()
        elif p and p.get("file"):
            with open(p["file"], "rb") as f:
                payload = f.read()
            os.remove(p["file"])
        return header, payload

    def close(self) -> int:
        """Close the worker's stdin (it exits on EOF), wait, close its stdout; its exit code."""
        self.proc.stdin.close()
        code = self.proc.wait(timeout=30)
        self.proc.stdout.close()
        return code


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    w = Worker(str(tmp_path_factory.mktemp("results")))
    yield w
    w.close()


def test_hello(worker):
    assert worker.hello["ready"] is True
    assert worker.hello["pid"] == worker.proc.pid


def test_json_result_with_converted_parameter(worker):
    h, payload = worker.run(
        """
        @fused.udf
        def udf(n: int = 1, name: str = "x"):
            return {"n": n * 2, "name": name, "t": type(n).__name__}
        """,
        parameters={"n": "21", "name": "café"},
    )
    assert h["ok"] and h["kind"] == "json", h
    assert json.loads(payload) == {"n": 42, "name": "café", "t": "int"}


def test_geodataframe_as_arrow_with_geo_metadata(worker):
    h, payload = worker.run(
        """
        @fused.udf
        def udf(n: int = 3):
            import geopandas as gpd
            from shapely.geometry import Point
            return gpd.GeoDataFrame(
                {"v": list(range(n))}, geometry=[Point(i, i + 0.5) for i in range(n)],
                crs="EPSG:4326")
        """
    )
    assert h["ok"] and h["kind"] == "table", h
    table = pa.ipc.open_stream(payload).read_all()
    assert table.column("v").to_pylist() == [0, 1, 2]
    assert pa.types.is_binary(table.schema.field("geometry").type)
    geoms = shapely.from_wkb(table.column("geometry").to_pylist())
    assert [(g.x, g.y) for g in geoms] == [(0, 0.5), (1, 1.5), (2, 2.5)]
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["primary_column"] == "geometry"
    col = geo["columns"]["geometry"]
    assert col["encoding"] == "WKB"
    assert col["geometry_types"] == ["Point"]
    assert col["crs"]["id"] == {"authority": "EPSG", "code": 4326}
    assert col["bbox"] == [0.0, 0.5, 2.0, 2.5]


def test_plain_dataframe(worker):
    h, payload = worker.run(
        """
        @fused.udf
        def udf():
            import pandas as pd
            return pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
        """
    )
    assert h["kind"] == "table"
    table = pa.ipc.open_stream(payload).read_all()
    assert table.to_pydict() == {"a": [1, 2], "b": ["x", "y"]}
    assert b"geo" not in (table.schema.metadata or {})


def test_raster_and_bounds(worker):
    h, payload = worker.run(
        """
        @fused.udf
        def udf():
            import numpy as np
            return np.arange(6, dtype="uint8").reshape(2, 3)
        """
    )
    assert (h["kind"], h["dtype"], h["shape"], h.get("bounds")) == ("raster", "|u1", [2, 3], None)
    assert np.frombuffer(payload, "u1").reshape(2, 3).tolist() == [[0, 1, 2], [3, 4, 5]]
    h, payload = worker.run(
        """
        @fused.udf
        def udf():
            import numpy as np
            return np.ones((2, 2), dtype=">f4"), [-10, -5, 10, 5]
        """
    )
    assert (h["kind"], h["dtype"], h["bounds"]) == ("raster", "<f4", [-10.0, -5.0, 10.0, 5.0])
    assert np.frombuffer(payload, "<f4").tolist() == [1.0] * 4


def test_bytes_and_html(worker):
    h, payload = worker.run("@fused.udf\ndef udf():\n    return b'\\x00\\x01'\n")
    assert (h["kind"], h["content_type"], payload) == (
        "bytes",
        "application/octet-stream",
        b"\x00\x01",
    )
    h, payload = worker.run("@fused.udf\ndef udf():\n    return '<!DOCTYPE html><p>hi</p>'\n")
    assert h["content_type"].startswith("text/html")
    assert payload == b"<!DOCTYPE html><p>hi</p>"
    h, payload = worker.run("@fused.udf\ndef udf():\n    return 'plain'\n")
    assert (h["kind"], json.loads(payload)) == ("json", "plain")


def test_stdout_captured_and_pipe_protected(worker):
    h, payload = worker.run(
        """
        import os, sys
        @fused.udf
        def udf():
            print("to stdout")
            print("to stderr", file=sys.stderr)
            os.write(1, b"raw fd 1 write\\n")
            return 1
        """
    )
    assert h["ok"], h
    assert h["stdout"] == "to stdout\n"
    assert h["stderr"] == "to stderr\n"
    assert json.loads(payload) == 1


def test_exception(worker):
    h, payload = worker.run(
        """
        @fused.udf
        def udf():
            print("before")
            raise ValueError("boom")
        """
    )
    assert not h["ok"] and payload is None
    err = h["error"]
    assert (err["kind"], err["exception_class"], err["errormsg"]) == (
        "runtime",
        "ValueError",
        "boom",
    )
    assert err["lineno"] == 5
    assert "boom" in err["traceback"]
    assert h["stdout"] == "before\n"


def test_parameter_and_call_errors(worker):
    code = "@fused.udf\ndef udf(n: int):\n    return n\n"
    h, _ = worker.run(code, parameters={"n": "abc"})
    err = h["error"]
    assert err["kind"] == "parameter"
    assert (err["parameter"], err["expected"]) == ("n", "int")
    h, _ = worker.run(code)
    assert (h["error"]["kind"], h["error"]["exception_class"]) == ("call", "TypeError")
    h, _ = worker.run("@fused.udf\ndef udf():\n    return object()\n")
    assert (h["error"]["kind"], h["error"]["exception_class"]) == ("result", "TypeError")


def test_tile_mode(worker):
    import mercantile

    h, payload = worker.run(
        """
        @fused.udf
        def udf(bounds: fused.types.Bounds, k: float = 1):
            return [b * k for b in bounds]
        """,
        tile={"x": 3, "y": 2, "z": 3},
        parameters={"k": "1"},
    )
    assert h["ok"], h
    assert json.loads(payload) == pytest.approx(list(mercantile.bounds(3, 2, 3)))


def test_big_payload_goes_through_a_file(worker):
    h, payload = worker.run(
        """
        @fused.udf
        def udf():
            import numpy as np
            return np.full((1200, 1000), 7, dtype="uint8")
        """
    )
    assert "file" in h["payload"], h
    assert h["payload"]["file"].startswith(worker.result_dir)
    assert len(payload) == 1_200_000 and set(payload) == {7}
    # a small result over a low limit goes through a file too
    h, payload = worker.run("@fused.udf\ndef udf():\n    return 'x' * 100\n", inline_limit=10)
    assert "file" in h["payload"]
    assert json.loads(payload) == "x" * 100
    assert os.listdir(worker.result_dir) == []


def test_headers_importable(worker):
    h, payload = worker.run(
        "from utils import double\n@fused.udf\ndef udf(n: int = 2):\n    return double(n)\n",
        parameters={"n": "5"},
        headers=[{"module_name": "utils", "source_code": "def double(v):\n    return v * 2\n"}],
    )
    assert h["ok"], h
    assert json.loads(payload) == 10


def test_exit_on_eof(tmp_path):
    w = Worker(str(tmp_path))
    assert w.close() == 0


def test_compiled_code_is_keyed_by_the_hash_the_server_sends(worker):
    first = "@fused.udf\ndef udf():\n    return 'first'\n"
    header, payload = worker.run(first, udf_hash="h-keyed")
    assert header["ok"] and json.loads(payload) == "first"
    # the same hash means the same content: the compiled UDF is reused, the body not re-read
    header, payload = worker.run("@fused.udf\ndef udf():\n    return 'x'\n", udf_hash="h-keyed")
    assert json.loads(payload) == "first"
    header, _ = worker.run(first, udf_hash="")
    assert not header["ok"]
    assert header["error"]["kind"] == "call"
    assert "udf_hash" in header["error"]["errormsg"]


def test_hard_exit_kills_only_that_worker(tmp_path):
    w = Worker(str(tmp_path))
    w._write(
        json.dumps(
            {
                "task_id": "t",
                "udf": {"name": "t", "code": "import os\ndef udf():\n    os._exit(3)\n"},
                "udf_hash": "exit-3",
                "parameters": {},
                "tile": None,
                "result_dir": str(tmp_path),
                "inline_limit": 100,
            }
        ).encode()
    )
    assert w.proc.stdout.read(4) == b""
    assert w.proc.wait(timeout=30) == 3
    w.close()


def test_canonical_unit():
    from fused._worker import canonical

    h, p = canonical({"a": np.int64(3), "b": (1, 2)})
    assert json.loads(bytes(p)) == {"a": 3, "b": [1, 2]}
    h, p = canonical(np.zeros((0, 3), "i2"))
    assert (h["shape"], bytes(p)) == ([0, 3], b"")
    with pytest.raises(ValueError):
        canonical(float("nan"))
    with pytest.raises(TypeError, match="complex"):
        canonical(np.zeros(2, "complex64"))
    h, p = canonical(shapely.Point(1, 2))
    t = pa.ipc.open_stream(io.BytesIO(bytes(p))).read_all()
    assert shapely.from_wkb(t.column("geometry")[0].as_py()).equals(shapely.Point(1, 2))
