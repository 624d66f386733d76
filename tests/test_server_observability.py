"""Logs and metrics of the real `fused-server`: one JSON log line per request on stderr with
the request id of `x-fused-metadata`, secrets kept out of the log, and `GET /metrics`
agreeing with the log and the result cache."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path

import pytest
from harness import Server, binary

ECHO = """\
@fused.udf
def udf(n: int = 1):
    return {"n": n}
"""

FAILS = """\
@fused.udf
def udf():
    raise ValueError("boom")
"""

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$")


@pytest.fixture(scope="module")
def exe() -> Path:
    return binary()


@pytest.fixture()
def logged(exe, tmp_path):
    """A one-worker server logging to a file; yields (server, log path)."""
    log = tmp_path / "server.log"
    with open(log, "wb") as err:
        s = Server(exe, tmp_path / "data", workers=1, stderr=err)
        try:
            s.wait_workers(1)
            yield s, log
        finally:
            s.stop()


def request_lines(log: Path) -> list[dict]:
    """The per-request JSON log lines (every line of the log must be JSON)."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [line for line in lines if line.get("message") == "request"]


def metrics(server: Server) -> dict[str, float]:
    r = server.request("GET", "/metrics")
    assert r.status == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    out = {}
    for line in r.body.decode().splitlines():
        if line and not line.startswith("#"):
            m = SAMPLE.match(line)
            assert m, line
            out[m.group(1)] = float(m.group(2))
    return out


def test_one_log_line_per_request_with_the_metadata_request_id(logged):
    server, log = logged
    first = server.run(ECHO, schema={"n": "int"}, n=3)
    again = server.run(ECHO, schema={"n": "int"}, n=3)
    failed = server.run(FAILS)
    secret = f"fsh_{uuid.uuid4().hex}"
    missing = server.request("GET", f"/shared/{secret}/run/tiles/1/0/0.mvt?token=also-secret")
    assert (first.status, again.status, failed.status, missing.status) == (200, 200, 422, 404)
    assert first.headers["x-fused-cached"] == "false"
    assert again.headers["x-fused-cached"] == "true"

    by_id = {}
    for line in request_lines(log):
        assert line["request_id"] not in by_id, f"two lines for {line['request_id']}"
        by_id[line["request_id"]] = line
    replies = [first, again, failed, missing]
    ids = [r.meta["request_id"] for r in replies]
    assert len(set(ids)) == 4
    for reply, rid in zip(replies, ids):
        assert reply.headers["x-request-id"] == rid
        line = by_id[rid]
        assert line["level"] == "INFO"
        assert line["status"] == reply.status
        assert isinstance(line["duration_ms"], (int, float)) and line["duration_ms"] >= 0
        assert line["timestamp"].endswith("Z")
    runs = [by_id[rid] for rid in ids[:3]]
    assert [(r["method"], r["path"]) for r in runs] == [("POST", "/api/v1/run/udf")] * 3
    assert runs[0]["cached"] is False and "error_type" not in runs[0]
    assert runs[1]["cached"] is True
    assert runs[2]["error_type"] == "udf_exception"
    shared = by_id[ids[3]]
    assert shared["method"] == "GET"
    assert shared["path"] == "/shared/{token}/run/tiles/1/0/0.mvt"
    assert shared["error_type"] == "not_found"
    text = log.read_text()
    assert secret not in text
    assert "also-secret" not in text
    assert server.key not in text

    # The readiness polls of /health are logged (and have ids) too: 503 while the worker
    # starts, then 200, never 503 again.
    health = [line["status"] for line in request_lines(log) if line["path"] == "/health"]
    assert health and health[-1] == 200 and set(health) <= {200, 503}
    assert 503 not in health[health.index(200) :]


def test_metrics_agree_with_the_log_and_the_cache(logged):
    server, log = logged
    before = metrics(server)
    assert before["fused_cache_hits_total"] == 0
    assert before["fused_cache_misses_total"] == 0
    assert before["fused_cache_bytes"] == 0
    assert before["fused_workers_alive"] == 1
    assert before["fused_workers_configured"] == 1
    assert before["fused_queue_depth"] == 0
    assert before["fused_workers_busy"] == 0
    assert before["fused_worker_restarts_total"] == 0

    for _ in range(3):
        assert server.run(ECHO, schema={"n": "int"}, n=5).status == 200
    assert server.request("GET", "/no/such/route").status == 404
    assert server.run(ECHO, key=None).status == 401
    after = metrics(server)
    assert after["fused_cache_misses_total"] == 1
    assert after["fused_cache_hits_total"] == 2
    assert after["fused_cache_bytes"] > 0
    assert after["fused_cache_entries"] == 1
    assert after["fused_worker_restarts_total"] == 0

    # Every request before this scrape is counted once, as the log shows it (the scrape
    # itself is logged before its answer and counted after it).
    lines = request_lines(log)
    assert lines[-1]["path"] == "/metrics"
    counted = lines[:-1]
    statuses = {line["status"] for line in counted}
    assert {200, 401, 404} <= statuses <= {200, 401, 404, 503}  # 503: /health while starting
    for status in statuses:
        n = sum(1 for line in counted if line["status"] == status)
        assert after[f'fused_requests_total{{status="{status}"}}'] == n, status
    assert after['fused_requests_total{status="401"}'] == 1
    assert after['fused_requests_total{status="404"}'] == 1
    assert after["fused_request_duration_seconds_count"] == len(counted)
    assert after['fused_request_duration_seconds_bucket{le="+Inf"}'] == len(counted)
    buckets = [v for k, v in after.items() if k.startswith("fused_request_duration_seconds_bucket")]
    assert buckets == sorted(buckets), "buckets are cumulative"
    assert 0 < after["fused_request_duration_seconds_sum"] < 60


def test_text_log_format_from_the_environment(exe, tmp_path, monkeypatch):
    monkeypatch.setenv("FUSED_LOG_FORMAT", "text")
    log = tmp_path / "server.log"
    with open(log, "wb") as err:
        s = Server(exe, tmp_path / "data", workers=1, stderr=err)
        try:
            s.wait_ready()
            rid = s.request("GET", "/health").headers["x-request-id"]
        finally:
            s.stop()
    lines = log.read_text().splitlines()
    mine = [line for line in lines if f'request_id="{rid}"' in line]
    assert len(mine) == 1
    assert " INFO " in mine[0] and 'path="/health"' in mine[0] and "status=200" in mine[0]
    assert not any(line.startswith("{") for line in lines)


def test_bad_log_format_is_refused(exe, tmp_path):
    bad_flag = subprocess.run(
        [str(exe), "--log-format", "xml", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert bad_flag.returncode == 2
    assert '--log-format: expected json or text, got "xml"' in bad_flag.stderr
    bad_env = subprocess.run(
        [str(exe), "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"FUSED_LOG_FORMAT": "yaml", "PATH": "/usr/bin:/bin"},
    )
    assert bad_env.returncode == 2
    assert 'FUSED_LOG_FORMAT: expected json or text, got "yaml"' in bad_env.stderr
