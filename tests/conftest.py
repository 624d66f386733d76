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


@pytest.fixture
def remote(server, monkeypatch):
    """The SDK pointed at the test module's own `server` fixture (a real fused-server):
    `fused.run` then uses the remote engine by default."""
    monkeypatch.setenv("FUSED_SERVER_URL", server.base)
    monkeypatch.setenv("FUSED_AUTH_TOKEN", server.key)
    return server
