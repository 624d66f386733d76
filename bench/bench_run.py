"""What a local run of a trivial UDF adds over calling the function directly.

Compares fused-rs (this package) with the PyPI `fused` package's local engine, which is
installed in a separate venv (`bench/.venv-fused-pypi`, created on first use), in the same
run. Prints a markdown table of p50 overheads in microseconds: the local engine with its run
cache bypassed (`cache=False`), and a run-cache hit (the default once a call has run).

    .venv/bin/python bench/bench_run.py [--n 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYPI_VENV = HERE / ".venv-fused-pypi"
PYPI_VERSION = "2.9.5"

MEASURE = r"""
import json, statistics, sys, time
import fused

N = int(sys.argv[1])

@fused.udf
def trivial(a: int = 1):
    return a

def direct(a=1):
    return a

def p(samples, q):
    samples = sorted(samples)
    return samples[int(q * (len(samples) - 1))]

def timed(fn):
    for _ in range(200):
        fn()
    out = []
    for _ in range(N):
        t = time.perf_counter_ns()
        fn()
        out.append(time.perf_counter_ns() - t)
    return out

fresh = iter(range(10, 10**9))
base = timed(lambda: direct(a=1))
results = {"version": fused.__version__, "direct_p50_us": p(base, 0.5) / 1e3}
for label, fn in [
    # the engine itself: the run cache bypassed
    (
        "fused.run(udf, engine='local', cache=False)",
        lambda: fused.run(trivial, engine="local", cache=False),
    ),
    ("udf.run_local(cache=False)", lambda: trivial.run_local(cache=False)),
    (
        "fused.run(udf, engine='local', a=2, cache=False)",
        lambda: fused.run(trivial, engine="local", a=2, cache=False),
    ),
    # the default: after the first call, every call is a run-cache hit
    ("fused.run(udf, engine='local') (cache hit)", lambda: fused.run(trivial, engine="local")),
    # the default path on a miss: each call a new argument, run and its result stored
    (
        "fused.run(udf, engine='local', a=<new>) (cache miss, stored)",
        lambda: fused.run(trivial, engine="local", a=next(fresh)),
    ),
]:
    try:
        s = timed(fn)
    except Exception as exc:  # a call this version does not support
        results[label] = {"error": f"{type(exc).__name__}: {exc}"}
        continue
    results[label] = {
        "p50_us": (p(s, 0.5) - p(base, 0.5)) / 1e3,
        "p90_us": (p(s, 0.9) - p(base, 0.9)) / 1e3,
    }
print(json.dumps(results))
"""


def ensure_pypi_venv() -> Path:
    python = PYPI_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PYPI_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"fused=={PYPI_VERSION}"], check=True
        )
    return python


def measure(python: str, n: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUSED_")}
    # the run cache (cache-hit line) in a temporary folder, not the user's ~/.cache/fused
    env["FUSED_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-run-cache-")
    # A real file: @fused.udf reads the UDF's source, which `python -c` does not keep.
    script = Path(tempfile.mkdtemp()) / "measure_run.py"
    script.write_text(MEASURE)
    out = subprocess.run(
        [python, str(script), str(n)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=HERE,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    t0 = time.time()
    ours = measure(sys.executable, args.n)
    theirs = measure(str(ensure_pypi_venv()), args.n)
    print(
        "| call (overhead over a direct call) | fused-rs p50 µs "
        f"| fused {theirs['version']} (PyPI) p50 µs | ratio |"
    )
    print("|---|---:|---:|---:|")
    for key, value in ours.items():
        if not isinstance(value, dict) or "p50_us" not in value:
            continue
        other = theirs.get(key) or {}
        if "p50_us" in other:
            ratio = other["p50_us"] / value["p50_us"] if value["p50_us"] > 0 else float("inf")
            print(f"| `{key}` | {value['p50_us']:.1f} | {other['p50_us']:.1f} | {ratio:.0f}x |")
        else:
            print(f"| `{key}` | {value['p50_us']:.1f} | n/a ({other.get('error', '-')}) | |")
    print(
        f"\n(direct call p50: {ours['direct_p50_us']:.2f} µs; n={args.n}; {time.time() - t0:.0f}s)"
    )


if __name__ == "__main__":
    main()
