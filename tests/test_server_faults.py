"""Fault injection against the real `fused-server`: every badly behaved UDF (too slow,
deadlocked, segfaulting, exiting, eating memory, its client gone) fails only its own request,
the worker is replaced, and the requests in flight beside it still succeed. Also: the
bounded queue (503 + Retry-After), worker recycling and draining on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from harness import Server, binary

NOCACHE = "/api/v1/run/udf?cache=false"

FAST = """\
import os
@fused.udf
def udf(i: int = 0):
    return {"i": i, "pid": os.getpid()}
"""

SLEEP = """\
import time
@fused.udf
def udf(s: float = 30.0, path: str = ""):
    if path:
        open(path, "a").write("started\\n")
    time.sleep(s)
    if path:
        open(path, "a").write("finished\\n")
    return "slept"
"""

DEADLOCK = """\
import threading
@fused.udf
def udf():
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()
"""

SEGFAULT = """\
import faulthandler
@fused.udf
def udf():
    faulthandler._sigsegv()
"""

OS_EXIT = """\
import os
@fused.udf
def udf():
    os._exit(7)
"""

SYS_EXIT = """\
import sys
@fused.udf
def udf():
    sys.exit(3)
"""

HOG = """\
@fused.udf
def udf(mb: int = 2000):
    chunks = []
    for _ in range(mb // 50):
        chunks.append(b"x" * (50 << 20))
    return len(chunks)
"""

STUBBORN = """\
import signal, time
@fused.udf
def udf(path: str = ""):
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    open(path, "a").write("started\\n")
    time.sleep(30)
    return "never"
"""


@pytest.fixture(scope="module")
def exe() -> Path:
    return binary()


@pytest.fixture(scope="module")
def server(exe, tmp_path_factory):
    s = Server(
        exe,
        tmp_path_factory.mktemp("faults-data"),
        workers=2,
        extra_args=[
            "--timeout",
            "3",
            "--max-timeout",
            "4",
            "--worker-memory-mb",
            "600",
            "--spare-workers",
            "1",
        ],
    )
    s.wait_workers(2)
    yield s
    s.stop()


def health(s: Server) -> dict:
    return s.request("GET", "/health").json()["workers"]


def wait_for(pred, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not pred():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - start


def run(srv: Server, code: str, headers=None, **params):
    body = {"udf": {"name": "t", "code": code}, "parameters": params}
    return srv.request("POST", NOCACHE, body, key=srv.key, headers=headers, timeout=60)


def with_bystanders(s: Server, bad, n: int = 6):
    """Run `bad()` while `n` fast requests go through the same pool; all of those succeed."""
    with ThreadPoolExecutor(n + 1) as pool:
        bad_future = pool.submit(bad)
        time.sleep(0.05)
        fast = [pool.submit(run, s, FAST, i=i) for i in range(n)]
        replies = [f.result() for f in fast]
        bad_reply = bad_future.result()
    for i, r in enumerate(replies):
        assert r.status == 200, (r.status, r.body)
        assert r.json()["i"] == i
    return bad_reply


def assert_replaced(s: Server, restarts_before: int) -> None:
    """The pool is whole again (from a spare: within a second) and counted the restart."""
    took = wait_for(lambda: health(s)["alive"] == 2, 1.0, "worker replaced")
    assert took < 1.0
    assert health(s)["restarts"] > restarts_before


def ready_spare(s: Server) -> None:
    wait_for(lambda: health(s)["spares"] == 1 and health(s)["alive"] == 2, 60, "spare ready")


def test_timeout_is_504_and_worker_replaced(server):
    ready_spare(server)
    before = health(server)["restarts"]
    start = time.monotonic()
    r = with_bystanders(server, lambda: run(server, SLEEP, headers={"x-fused-timeout": "1"}))
    elapsed = time.monotonic() - start
    assert r.status == 504, r.body
    meta = r.meta
    assert meta["error_type"] == "timeout"
    assert "time limit of 1 s" in meta["errormsg"]
    assert r.json()["error_type"] == "timeout"
    assert 1.0 <= elapsed < 3.0, elapsed
    assert_replaced(server, before)


def test_default_timeout_and_cap(server):
    ready_spare(server)
    # no header: the server's --timeout 3; a header above --max-timeout 4 is capped at 4
    start = time.monotonic()
    r = run(server, SLEEP, s=20.0)
    assert r.status == 504 and "time limit of 3 s" in r.meta["errormsg"]
    assert 3.0 <= time.monotonic() - start < 5.0
    ready_spare(server)
    start = time.monotonic()
    r = run(server, SLEEP, headers={"x-fused-timeout": "1000"}, s=20.0)
    assert r.status == 504 and "time limit of 4 s" in r.meta["errormsg"]
    assert 4.0 <= time.monotonic() - start < 6.0
    # the limit counts from the start of the task: a fast UDF under a short limit is fine
    r = run(server, SLEEP, headers={"x-fused-timeout": "2.5"}, s=0.2)
    assert r.status == 200 and r.json() == "slept"


@pytest.mark.parametrize("value", ["abc", "-1", "0", "nan", ""])
def test_bad_timeout_header_is_400(server, value):
    r = run(server, FAST, headers={"x-fused-timeout": value})
    assert r.status == 400, r.body
    assert "x-fused-timeout" in r.json()["error"]
    assert r.meta["error_type"] == "bad_request"


def test_deadlock_caught_by_timeout(server):
    ready_spare(server)
    before = health(server)["restarts"]
    r = with_bystanders(server, lambda: run(server, DEADLOCK, headers={"x-fused-timeout": "1"}))
    assert r.status == 504 and r.meta["error_type"] == "timeout"
    assert_replaced(server, before)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (SEGFAULT, "signal 11 (SIGSEGV)"),
        (OS_EXIT, "exited with code 7"),
    ],
)
def test_crash_is_502_and_worker_replaced(server, code, message):
    ready_spare(server)
    before = health(server)["restarts"]
    r = with_bystanders(server, lambda: run(server, code))
    assert r.status == 502, r.body
    assert r.meta["error_type"] == "worker_crash"
    assert message in r.meta["errormsg"], r.meta["errormsg"]
    assert_replaced(server, before)


def test_sys_exit_is_502_worker_kept(server):
    ready_spare(server)
    before = health(server)["restarts"]
    r = with_bystanders(server, lambda: run(server, SYS_EXIT))
    assert r.status == 502, r.body
    assert r.meta["error_type"] == "worker_crash"
    assert "sys.exit(3)" in r.meta["errormsg"] and "exit code 3" in r.meta["errormsg"]
    # the worker caught SystemExit: nothing had to be replaced
    assert health(server)["restarts"] == before
    assert health(server)["alive"] == 2


def test_memory_hog_is_502_out_of_memory(server):
    ready_spare(server)
    before = health(server)["restarts"]
    r = with_bystanders(server, lambda: run(server, HOG, mb=3000))
    assert r.status == 502, r.body
    meta = r.meta
    assert meta["error_type"] == "out_of_memory"
    assert "over the limit of 600 MiB" in meta["errormsg"]
    assert_replaced(server, before)
    # under the limit the same UDF is fine
    ready_spare(server)
    r = run(server, HOG, mb=100)
    assert r.status == 200 and r.json() == 2


def _send_and_drop(srv: Server, code: str, **params) -> socket.socket:
    """POST a run on a raw socket and close it before the answer: the client goes away."""
    body = json.dumps({"udf": {"name": "t", "code": code}, "parameters": params})
    head = (
        f"POST {NOCACHE} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {srv.key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", srv.port))
    sock.sendall(head.encode() + body.encode())
    return sock


def test_client_disconnect_interrupts_running_udf(server, tmp_path):
    ready_spare(server)
    before = health(server)["restarts"]
    marker = tmp_path / "slow.txt"
    sock = _send_and_drop(server, SLEEP, s=20.0, path=str(marker))
    wait_for(lambda: marker.exists(), 10, "UDF started")
    sock.close()
    # interrupted (KeyboardInterrupt-like), not killed: the worker is free again at once
    wait_for(lambda: health(server)["busy"] == 0, 2.0, "worker freed")
    assert marker.read_text() == "started\n"
    assert health(server)["restarts"] == before
    assert health(server)["alive"] == 2
    r = run(server, FAST, i=5)
    assert r.status == 200 and r.json()["i"] == 5


def test_client_disconnect_kills_udf_that_ignores_interrupt(server, tmp_path):
    ready_spare(server)
    before = health(server)["restarts"]
    marker = tmp_path / "stubborn.txt"
    sock = _send_and_drop(server, STUBBORN, path=str(marker))
    wait_for(lambda: marker.exists(), 10, "UDF started")
    sock.close()
    # it blocks the interrupt signal: killed after the 1 s grace and replaced
    wait_for(lambda: health(server)["restarts"] > before, 3.0, "stubborn worker killed")
    wait_for(lambda: health(server)["alive"] == 2, 1.0, "replaced")


@pytest.fixture()
def one_worker(exe, tmp_path):
    s = Server(
        exe,
        tmp_path / "data",
        workers=1,
        extra_args=["--queue-size", "2", "--worker-max-tasks", "3", "--spare-workers", "0"],
    )
    s.wait_workers(1)
    yield s
    s.stop()


def test_queued_task_of_gone_client_never_runs(one_worker, tmp_path):
    s = one_worker
    running = tmp_path / "running.txt"
    queued = tmp_path / "queued.txt"
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(run, s, SLEEP, s=1.5, path=str(running))
        wait_for(lambda: running.exists(), 10, "first task started")
        sock = _send_and_drop(s, SLEEP, s=0.0, path=str(queued))
        wait_for(lambda: health(s)["queued"] == 1, 2, "second task queued")
        sock.close()
        wait_for(lambda: health(s)["queued"] == 0, 2, "queued task dropped")
        assert slow.result().status == 200
    r = run(s, FAST, i=1)
    assert r.status == 200
    assert not queued.exists(), "the cancelled task ran"


def test_full_queue_is_503_with_retry_after(one_worker, tmp_path):
    s = one_worker
    marker = tmp_path / "m.txt"
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(run, s, SLEEP, s=1.5, path=str(marker))
        wait_for(lambda: marker.exists(), 10, "first task started")
        waiting = [pool.submit(run, s, SLEEP, s=0.1) for _ in range(2)]
        wait_for(lambda: health(s)["queued"] == 2, 2, "queue full")
        refused = [run(s, FAST, i=i) for i in range(3)]
        for r in refused:
            assert r.status == 503, r.body
            assert r.meta["error_type"] == "queue_full"
            assert int(r.headers["Retry-After"]) >= 1
            assert "queue size 2" in r.json()["error"]
        assert first.result().status == 200
        assert [w.result().status for w in waiting] == [200, 200]
    assert run(s, FAST, i=9).status == 200


def test_worker_recycled_after_max_tasks(one_worker):
    s = one_worker
    pids = []
    for i in range(7):
        r = run(s, FAST, i=i)
        assert r.status == 200
        pids.append(r.json()["pid"])
    assert len(set(pids[0:3])) == 1 and len(set(pids[3:6])) == 1
    assert pids[0] != pids[3] != pids[6]
    assert health(s)["restarts"] == 2


def _children(pid: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out.add(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_sigterm_drains_requests_in_flight(exe, tmp_path):
    s = Server(exe, tmp_path / "data", workers=2, extra_args=["--shutdown-grace", "10"])
    s.wait_workers(2)
    workers = _children(s.proc.pid)
    assert len(workers) >= 2
    marker = tmp_path / "m.txt"
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(run, s, SLEEP, s=1.5, path=str(marker))
        wait_for(lambda: marker.exists(), 10, "task started")
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # no new connections while draining
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", s.port), timeout=1).close()
        r = slow.result()
    assert r.status == 200 and r.json() == "slept"
    assert marker.read_text() == "started\nfinished\n"
    assert s.proc.wait(timeout=15) == 0
    assert not [p for p in workers if _alive(p)], "orphaned workers"


def test_sigterm_grace_expires(exe, tmp_path):
    s = Server(exe, tmp_path / "data", workers=1, extra_args=["--shutdown-grace", "1"])
    s.wait_workers(1)
    workers = _children(s.proc.pid)
    marker = tmp_path / "m.txt"
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(run, s, SLEEP, s=60.0, path=str(marker))
        wait_for(lambda: marker.exists(), 10, "task started")
        start = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=15) == 0
        took = time.monotonic() - start
        # past the grace period the request still gets an answer before the server exits
        r = slow.result()
    assert r.status == 503 and r.meta["error_type"] == "executor_unavailable"
    assert "shutting down" in r.json()["error"]
    assert took < 8, took
    assert marker.read_text() == "started\n"
    assert not [p for p in workers if _alive(p)], "orphaned workers"


def test_bad_flags_name_the_flag(exe, tmp_path):
    import subprocess

    for args, flag in [
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "10", "--max-timeout", "5"], "--max-timeout"),
        (["--queue-size", "0"], "--queue-size"),
        (["--worker-memory-mb", "lots"], "--worker-memory-mb"),
        (["--worker-max-tasks", "-1"], "--worker-max-tasks"),
    ]:
        p = subprocess.run(
            [str(exe), "--data-dir", str(tmp_path), *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert p.returncode != 0
        assert flag in p.stderr, p.stderr


def test_fused_serve_uses_the_server_flags(tmp_path):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "fused._cli", "serve"]
    p = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0
    for flag in ["--timeout", "--worker-memory-mb", "--queue-size", "--shutdown-grace"]:
        assert flag in p.stdout
    assert "fused serve" in p.stdout
    p = subprocess.run(
        [*cmd, "--data-dir", str(tmp_path), "--queue-size", "none"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2
    assert '--queue-size: expected an integer 1-1048576, got "none"' in p.stderr


def test_sdk_raises_udf_timeout_error_and_server_error(server, monkeypatch):
    import fused
    from fused._client import ServerError
    from fused.types import UdfTimeoutError

    monkeypatch.setenv("FUSED_SERVER_URL", server.base)
    monkeypatch.setenv("FUSED_AUTH_TOKEN", server.key)
    ready_spare(server)

    @fused.udf(cache_max_age="0s")
    def sleepy(s: float = 20.0):
        import time

        time.sleep(s)
        return 1

    with pytest.raises(UdfTimeoutError, match="time limit of 3 s"):
        fused.run(sleepy)

    @fused.udf(cache_max_age="0s")
    def crashes():
        import os

        os._exit(9)

    ready_spare(server)
    with pytest.raises(ServerError, match="exited with code 9") as info:
        fused.run(crashes)
    assert info.value.status == 502
