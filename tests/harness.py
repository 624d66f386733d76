"""The one harness that starts the real `fused-server` binary for tests and benchmarks:
on 127.0.0.1 with a free port and a given data directory, driven over plain HTTP.

Tests import it as `harness` (the tests folder is on pytest's path); `bench/` scripts put
`tests/` on `sys.path` first."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["ROOT", "Reply", "Server", "binary", "create_user", "free_port"]


def create_user(exe: Path, data_dir: Path, email: str) -> str:
    """`fused-server admin create-user EMAIL` in `data_dir`; the new account's API key."""
    out = subprocess.run(
        [str(exe), "admin", "create-user", email, "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1]


def binary() -> Path:
    """`$FUSED_SERVER_BIN`, else this checkout's build (cargo is a no-op when up to date; a
    shared CARGO_TARGET_DIR may hold another checkout's binary, so it always runs)."""
    if os.environ.get("FUSED_SERVER_BIN"):
        return Path(os.environ["FUSED_SERVER_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "-p", "fused-server"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "CARGO_TARGET_DIR": str(target)},
    )
    return target / "release" / "fused-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Reply:
    def __init__(self, status: int, headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    @property
    def meta(self) -> dict:
        return json.loads(self.headers["x-fused-metadata"])


class Server:
    def __init__(
        self,
        exe: Path,
        data_dir: Path,
        workers: int,
        extra_args=(),
        stderr=None,
        stdout=None,
        python=None,
        email: str = "me@example.com",
        env=None,
    ) -> None:
        """`stderr`: an open file for the server's log (default: discarded, or inherited
        when `FUSED_TEST_LOG` is set); `stdout` likewise (the "ready" line); `email`: the
        account created first (its API key is `.key`); `env`: the server's environment."""
        self.exe = exe
        self.data_dir = data_dir
        self.key = create_user(exe, data_dir, email)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [
                str(exe),
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
                "--workers",
                str(workers),
                "--python",
                str(python or sys.executable),
                *extra_args,
            ],
            stderr=stderr
            if stderr is not None
            else (subprocess.DEVNULL if not os.environ.get("FUSED_TEST_LOG") else None),
            stdout=stdout if stdout is not None else subprocess.DEVNULL,
            env=env,
        )
        # The server answers at once: 503 "starting" until a worker is up, then 200 "ok".
        self.first_health = self._wait(lambda r: r.status in (200, 503), 10)
        self.ready_after = time.monotonic() - self.started

    def _wait(self, ok, timeout: float) -> Reply:
        deadline = time.monotonic() + timeout
        while True:
            try:
                r = self.request("GET", "/health")
                if ok(r):
                    return r
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("server not ready")
            time.sleep(0.02)

    def wait_ready(self, timeout: float = 120) -> Reply:
        """Until `/health` says a worker can take tasks (200, "ok")."""
        return self._wait(lambda r: r.status == 200, timeout)

    def wait_workers(self, n: int, timeout: float = 120) -> None:
        self._wait(lambda r: r.json()["workers"]["alive"] == n, timeout)

    def request(
        self, method: str, path: str, body=None, key=None, timeout=60, headers=None
    ) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if key:
            req.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Reply(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as e:
            return Reply(e.code, e.headers, e.read())

    def run(self, code: str, path: str = "/api/v1/run/udf", schema=None, key="me", **params):
        body = {
            "udf": {"name": "t", "code": textwrap.dedent(code)},
            "schema": schema or {},
            "parameters": params,
        }
        return self.request("POST", path, body, key=self.key if key == "me" else key)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


# -- the system Chromium for browser tests and benchmarks (never a downloaded browser) -------

CHROMIUM = os.environ.get("FUSED_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
]


# -- a real Dask cluster for the Dask executor's tests --------------------------------------

DASK = Path(sys.executable).parent / "dask"
# as README advises: a task whose worker dies fails at once instead of killing three more
# workers, and no task waits on a worker (where that worker's death would fail it too)
_ENV = {
    **os.environ,
    "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0",
    "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",
}


class Cluster:
    """A scheduler and `workers` worker processes (each under its nanny)."""

    def __init__(self, workers: int, port: int | None = None) -> None:
        self.port = port or free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.start_scheduler()
        for _ in range(workers):
            self.add_worker()
        self.wait_workers(workers)

    def _spawn(self, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [str(DASK), *args],
            env=_ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc

    def start_scheduler(self) -> None:
        self.scheduler = self._spawn(
            "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"
        )

    def add_worker(self) -> None:
        self._spawn(
            "worker",
            self.address,
            "--nworkers",
            "1",
            "--nthreads",
            "1",
            "--no-dashboard",
            "--host",
            "127.0.0.1",
        )

    def wait_workers(self, n: int, timeout: float = 60) -> None:
        with __import__("distributed").Client(
            self.address, timeout=30, set_as_default=False
        ) as client:
            client.wait_for_workers(n, timeout=timeout)

    def stop_scheduler(self) -> None:
        self.scheduler.terminate()
        self.scheduler.wait(timeout=20)

    def close(self) -> None:
        import psutil

        family = []
        for proc in self.procs:
            try:
                family += psutil.Process(proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        for proc in reversed(self.procs):  # workers first
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _gone, alive = psutil.wait_procs(family, timeout=20)
        for p in alive:
            p.kill()
        assert not alive, f"processes left behind: {alive}"
