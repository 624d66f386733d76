"""The error names shared by the server, the worker and the SDK come from one Rust list each
(`fused._native.ERROR_CODES`, `fused._native.WORKER_ERROR_KINDS`)."""

from __future__ import annotations

import fused._remote
import fused._worker
from fused import _native


def test_error_codes_are_the_servers_list():
    codes = _native.ERROR_CODES
    assert isinstance(codes, tuple) and len(codes) == len(set(codes))
    assert {"parameter", "timeout", "udf_exception", "internal", "invalid_grant"} <= set(codes)
    assert "internal_error" not in codes  # one spelling of the internal error
    # every code the SDK maps to an exception is one the server answers with
    assert set(fused._remote.EXCEPTION_OF_CODE) <= set(codes)


def test_worker_error_kinds_are_the_servers_list():
    kinds = _native.WORKER_ERROR_KINDS
    assert kinds == (
        "runtime",
        "parameter",
        "call",
        "result",
        "exit",
        "cancelled",
        "worker_crash",
        "unavailable",
    )
    assert set(fused._worker._KIND) == set(kinds)
