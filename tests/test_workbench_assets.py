"""The Workbench assets committed under crates/fused-server/assets/workbench/ are the build
of the current web/ sources: their recorded source hash matches (always checked, no Node
needed), and where Node and npm are installed a fresh build from the lock file is
byte-identical to what is committed."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
ASSETS = ROOT / "crates" / "fused-server" / "assets" / "workbench"
BUILT = [
    "index.html",
    "app.js",
    "editor.js",
    "app.css",
    "maplibre-gl.css",
    "maplibre-gl-worker.mjs",
    "SOURCE_HASH",
]


def source_hash() -> str:
    """The hash web/build.mjs records (same files, same order, same framing)."""
    files = ["build.mjs", "package.json", "package-lock.json"] + [
        f"src/{p.name}" for p in sorted((WEB / "src").iterdir(), key=lambda p: p.name)
    ]
    h = hashlib.sha256()
    for f in files:
        h.update(f.encode() + b"\0")
        h.update((WEB / f).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def test_committed_assets_were_built_from_the_current_sources():
    recorded = (ASSETS / "SOURCE_HASH").read_text().strip()
    assert recorded == source_hash(), (
        "web/ changed since the Workbench assets were built: run web/build.sh and commit "
        "crates/fused-server/assets/workbench/"
    )
    for name in BUILT:
        assert (ASSETS / name).stat().st_size > 0, name


@pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="Node.js and npm are not installed (the source-hash check above still runs)",
)
def test_a_fresh_build_is_byte_identical(tmp_path):
    work = tmp_path / "web"
    shutil.copytree(WEB, work, ignore=shutil.ignore_patterns("node_modules"))
    out = tmp_path / "out"
    subprocess.run(
        ["bash", "build.sh", str(out)], cwd=work, check=True, capture_output=True, timeout=600
    )
    for name in BUILT:
        assert (out / name).read_bytes() == (ASSETS / name).read_bytes(), name
