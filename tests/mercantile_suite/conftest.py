"""Run mercantile 1.2.1's own tests (test_funcs.py, vendored unchanged) against fused.tiles.

While pytest imports a test module of this directory, ``sys.modules["mercantile"]`` is
``fused.tiles``, so the module's ``import mercantile`` binds ``fused.tiles``; the real
mercantile is put back right after, for the rest of the suite, which compares against it.
"""

import sys
from pathlib import Path

import pytest
from hypothesis import settings

import fused.tiles

# No example database written into the working directory.
settings.register_profile("mercantile_suite", database=None)
settings.load_profile("mercantile_suite")

_ABSENT = object()


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    if not isinstance(collector, pytest.Module):
        yield
        return
    saved = sys.modules.get("mercantile", _ABSENT)
    sys.modules["mercantile"] = fused.tiles
    try:
        yield
    finally:
        if saved is _ABSENT:
            del sys.modules["mercantile"]
        else:
            sys.modules["mercantile"] = saved


def pytest_collection_modifyitems(items):
    # Check the shim took: every vendored test runs against fused.tiles.
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and Path(module.__file__).parent == Path(__file__).parent:
            assert module.mercantile is fused.tiles, module.mercantile
