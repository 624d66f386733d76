"""`make run`, part 2: start `fused serve` on its defaults, save and share the example UDFs,
print their share URLs (file and tile template), and serve until interrupted (Ctrl-C)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import fused

HERE = Path(__file__).resolve().parent / "udfs"
HOST, PORT = (
    os.environ.get("FUSED_RUN_HOST", "127.0.0.1"),
    int(os.environ.get("FUSED_RUN_PORT", "8000")),
)
BASE = f"http://{HOST}:{PORT}"
DATA_DIR = Path(os.environ.get("FUSED_RUN_DATA_DIR") or fused.options.home / "server")
DEMO_EMAIL = "demo@fused.local"
TILE_UDFS = {"Tile_Grid", "Tile_Hillshade", "Buffered_Points"}


def demo_key() -> str:
    """The demo account's API key: created once, kept (0600) in the data dir."""
    key_file = DATA_DIR / "quickstart-api-key"
    if key_file.exists():
        return key_file.read_text().strip()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fused._cli",
            "admin",
            "create-user",
            DEMO_EMAIL,
            "--data-dir",
            str(DATA_DIR),
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        sys.exit(f"could not create the demo user: {out.stderr.strip()}")
    key = out.stdout.strip().splitlines()[-1]
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


def wait_ready(proc: subprocess.Popen, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"fused serve exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{BASE}/health", timeout=1) as resp:
                return json.loads(resp.read())
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    sys.exit(f"fused serve did not answer on {BASE}/health within {timeout_s} s")


def _stop(signum: int, frame: object) -> None:
    """SIGTERM / SIGHUP end the quickstart like Ctrl-C: the server is stopped too."""
    sys.exit(128 + signum)


def _die_with_parent() -> None:
    """In the server's process (Linux): SIGTERM when this script dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main() -> None:
    key = demo_key()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fused._cli",
            "serve",
            "--host",
            HOST,
            "--port",
            str(PORT),
            "--data-dir",
            str(DATA_DIR),
            # readable request lines for a person at a terminal (the default is JSON lines)
            "--log-format",
            "text",
        ],
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    try:
        health = wait_ready(proc)
        print(f"\nfused serve is up at {BASE} ({health['workers']['configured']} workers)")
        os.environ["FUSED_SERVER_URL"] = BASE
        os.environ["FUSED_AUTH_TOKEN"] = key
        for folder in sorted(HERE.iterdir()):
            udf = fused.load(folder)
            udf.to_fused(overwrite=True)
            token = udf.create_access_token()
            print(f"\n{udf.name}")
            print(f"  file: {token.shared_url}")
            if udf.name in TILE_UDFS:
                print(f"  tiles: {token.tile_url}")
            print(f"  on a map: {BASE}/workbench?share={token.token}")
        print(f"\nThe Workbench: {BASE}/workbench")
        print(f"  sign in with the API key in {DATA_DIR / 'quickstart-api-key'}")
        print("\nServing until interrupted (Ctrl-C).")
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
