from pathlib import Path

import pytest

pytest_plugins = ["fake_github"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "udfs"


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's ~/.fused or ~/.cache/fused, or sees a server."""
    home = tmp_path_factory.mktemp("fused-home")
    monkeypatch.setenv("FUSED_HOME", str(home / "home"))
    monkeypatch.setenv("FUSED_CACHE_DIR", str(home / "cache"))
    monkeypatch.delenv("FUSED_SERVER_URL", raising=False)
    monkeypatch.delenv("FUSED_AUTH_TOKEN", raising=False)
