"""Executing UDF code: compile once per code hash, run as a module in a fresh namespace.

A `Prepared` UDF holds the compiled code objects and everything derived from the
entrypoint's signature, cached by (code, headers, entrypoint). Each run executes the
module body in a fresh namespace with `fused` injected, header modules importable by name
(only while it runs), stdout/stderr captured and echoed, and errors turned into
`fused.types.UdfRuntimeError` with the line number in the UDF code.
"""

from __future__ import annotations
import __future__

import builtins
import hashlib
import importlib.abc
import importlib.util
import inspect
import linecache
import sys
import threading
import traceback
import types
from typing import TYPE_CHECKING, Any, Callable, Optional

from fused import _coerce
from fused._definition import Header, UdfParameter, load_state
from fused.types import UdfRuntimeError

if TYPE_CHECKING:
    from fused._udf import Udf

__all__ = ["Prepared", "execute", "header_module", "module_namespace", "prepare"]

_MISSING = object()


def _filename(kind: str, name: str, code: str) -> str:
    digest = hashlib.sha1(code.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"<fused {kind} {name} {digest}>"


def _register_source(filename: str, code: str) -> None:
    # mtime None: linecache.checkcache keeps the entry, so tracebacks and inspect show lines.
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)


# Annotations stay unevaluated at def time (PEP 563), so a UDF written in a notebook with
# `from typing import Dict` above it still executes in its fresh namespace; they are
# resolved afterwards against the namespace, the defining module and `typing`.
_COMPILE_FLAGS = __future__.annotations.compiler_flag


def _compile(code: str, filename: str, udf_name: str) -> types.CodeType:
    try:
        return compile(code, filename, "exec", flags=_COMPILE_FLAGS, dont_inherit=True)
    except SyntaxError as exc:
        raise UdfRuntimeError(
            f"SyntaxError in UDF {udf_name!r} at line {exc.lineno}: {exc.msg}",
            exception_class="SyntaxError",
            errormsg=str(exc.msg),
            lineno=exc.lineno,
            traceback="".join(traceback.format_exception_only(type(exc), exc)),
        ) from None


class _HeaderSource:
    """A header module's source, compiled the first time it is imported: a package whose
    broken `utils.py` is never imported still loads and runs (as on Fused)."""

    __slots__ = ("_code", "filename", "label", "source", "source_file")

    def __init__(self, source: str, filename: str, source_file: str, label: str) -> None:
        self.source = source
        self.filename = filename
        self.source_file = source_file
        self.label = label
        self._code: Optional[types.CodeType] = None

    def code(self) -> types.CodeType:
        """The compiled module; a SyntaxError names the header file and its line."""
        if self._code is None:
            try:
                self._code = compile(
                    self.source, self.filename, "exec", flags=_COMPILE_FLAGS, dont_inherit=True
                )
            except SyntaxError as exc:
                raise SyntaxError(
                    f"{exc.msg} in header {self.source_file}",
                    (self.source_file, exc.lineno, exc.offset, exc.text),
                ) from None
        return self._code


class _HeaderFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves a running UDF's header modules (`import utils`) from its package."""

    def __init__(self) -> None:
        self._local = threading.local()

    def active(self) -> list[dict[str, _HeaderSource]]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        stack = getattr(self._local, "stack", None)
        if stack and fullname in stack[-1]:
            return importlib.util.spec_from_loader(
                fullname, self, origin=stack[-1][fullname].filename
            )
        return None

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        header = self.active()[-1][module.__name__]
        module.__file__ = header.filename
        module.__dict__.setdefault("fused", sys.modules["fused"])
        exec(header.code(), module.__dict__)


_finder = _HeaderFinder()
sys.meta_path.insert(0, _finder)


class _HeadersInstalled:
    """Context: the UDF's headers are importable by name; afterwards sys.modules is as before."""

    __slots__ = ("headers", "saved")

    def __init__(self, headers: dict[str, _HeaderSource]) -> None:
        self.headers = headers
        self.saved: dict[str, Any] = {}

    def __enter__(self) -> None:
        for name in self.headers:
            self.saved[name] = sys.modules.pop(name, _MISSING)
        _finder.active().append(self.headers)

    def __exit__(self, *exc: Any) -> None:
        _finder.active().pop()
        for name, previous in self.saved.items():
            sys.modules.pop(name, None)
            if previous is not _MISSING:
                sys.modules[name] = previous


class _Tee:
    """Echoes writes to the stream it replaces and keeps a copy."""

    __slots__ = ("stream", "parts")

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        if self.stream is not None:
            self.stream.write(text)
        return len(text)

    def flush(self) -> None:
        if self.stream is not None:
            self.stream.flush()

    def getvalue(self) -> str:
        return "".join(self.parts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class Prepared:
    """A UDF's code compiled once, with its resolved entrypoint and signature."""

    def __init__(self, udf: Udf) -> None:
        self.name = udf.name
        self.filename = _filename("udf", udf.name, udf.code)
        _register_source(self.filename, udf.code)
        source = udf.code
        if udf.__dict__.get("__wrapped__") is not None:
            # Defined in this session: the decorator has run already, and its arguments may
            # name variables of the defining scope, so it is not run again.
            source = _blank_udf_decorators(source)
        self.code = _compile(source, self.filename, udf.name)
        self.headers: dict[str, _HeaderSource] = {}
        self.header_files: set[str] = set()
        for header in udf.headers:
            filename = _filename("header", header.module_name, header.source_code)
            _register_source(filename, header.source_code)
            self.headers[header.module_name] = _HeaderSource(
                header.source_code, filename, header.source_file, f"{udf.name}/{header.source_file}"
            )
            self.header_files.add(filename)
        self.module_name = f"fused_udf_{udf.name}"
        # Discovery run: execute the module once to find the entrypoint and its signature.
        self.namespace, decorated = self._exec_module()
        self.entrypoint = _resolve_entrypoint(udf, self.namespace, decorated)
        func = _unwrap(self.namespace[self.entrypoint])
        self.decorator_config: dict[str, Any] = getattr(func, "__fused_udf__", None) or {}
        live = getattr(udf.__dict__.get("__wrapped__"), "__globals__", None)
        _resolve_annotations(func, live)
        signature = inspect.signature(func)
        specs = _coerce.param_specs(func)
        self.parameters: dict[str, UdfParameter] = {}
        self.var_keyword = False
        self.required: list[str] = []
        for p in signature.parameters.values():
            if p.kind is p.VAR_KEYWORD:
                self.var_keyword = True
                continue
            if p.kind is p.VAR_POSITIONAL:
                continue
            default = None if p.default is p.empty else p.default
            self.parameters[p.name] = UdfParameter(
                p.name, p.annotation, default, specs.get(p.name, "any")
            )
            if p.default is p.empty:
                self.required.append(p.name)
        self.param_names = list(self.parameters)
        # run-cache keyers (fused._runcache) by default parameters
        self.run_keyers: dict[Optional[str], Any] = {}

    def _fresh_namespace(self) -> dict[str, Any]:
        """A new module namespace for the UDF code, with `fused` injected."""
        return {
            "__name__": self.module_name,
            "__file__": self.filename,
            "__builtins__": builtins,
            "fused": sys.modules["fused"],
        }

    def _exec_module(self) -> tuple[dict[str, Any], list[Callable[..., Any]]]:
        namespace = self._fresh_namespace()
        frames = load_state.frames
        frames.append([])
        try:
            if self.headers:
                with _HeadersInstalled(self.headers):
                    exec(self.code, namespace)
            else:
                exec(self.code, namespace)
        except Exception as exc:
            raise self.runtime_error(exc, "", "") from _trim(exc, self._user_files())
        finally:
            decorated = frames.pop()
        return namespace, decorated

    def _user_files(self) -> set[str]:
        return {self.filename} | self.header_files

    def runtime_error(self, exc: BaseException, stdout: str, stderr: str) -> UdfRuntimeError:
        user = self._user_files()
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in user]
        lineno = next((f.lineno for f in reversed(frames) if f.filename == self.filename), None)
        if lineno is None and frames:
            lineno = frames[-1].lineno
        text = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames))
        text += "".join(traceback.format_exception_only(type(exc), exc))
        cls = type(exc).__name__
        where = f" at line {lineno}" if lineno is not None else ""
        return UdfRuntimeError(
            f"UDF {self.name!r} raised {cls}{where}: {exc}",
            exception_class=cls,
            errormsg=str(exc),
            lineno=lineno,
            traceback=text,
            stdout=stdout,
            stderr=stderr,
        )

    def call(self, kwargs: dict[str, Any]) -> Any:
        """Run the module in a fresh namespace and call the entrypoint with `kwargs`."""
        namespace = self._fresh_namespace()
        installed = _HeadersInstalled(self.headers) if self.headers else None
        out, err = sys.stdout, sys.stderr
        tee_out, tee_err = _Tee(out), _Tee(err)
        frames = load_state.frames
        sys.stdout, sys.stderr = tee_out, tee_err
        try:
            if installed is not None:
                installed.__enter__()
            frames.append([])
            try:
                exec(self.code, namespace)
            finally:
                frames.pop()
            func = _unwrap(namespace[self.entrypoint])
            return func(**kwargs)
        except Exception as exc:
            raise self.runtime_error(exc, tee_out.getvalue(), tee_err.getvalue()) from _trim(
                exc, self._user_files()
            )
        finally:
            sys.stdout, sys.stderr = out, err
            if installed is not None:
                installed.__exit__()


def _blank_udf_decorators(code: str) -> str:
    """`code` with its `@fused.udf` / `@udf` decorator lines blanked (line numbers kept)."""
    import ast

    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code  # compile() reports it with the right line
    lines = code.splitlines(True)
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for deco in node.decorator_list:
            target = deco.func if isinstance(deco, ast.Call) else deco
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if name == "udf" and deco.end_lineno is not None:
                for i in range(deco.lineno - 1, deco.end_lineno):
                    ending = "\r\n" if lines[i].endswith("\r\n") else "\n"
                    lines[i] = ending if lines[i].endswith(("\n", "\r")) else ""
    return "".join(lines)


def _resolve_annotations(func: Any, fallback: Optional[dict[str, Any]]) -> None:
    """Evaluate the entrypoint's string annotations where possible (else leave the string)."""
    annotations = getattr(func, "__annotations__", None)
    if not annotations:
        return
    import typing

    scope: dict[str, Any] = {k: getattr(typing, k) for k in typing.__all__}
    if fallback:
        scope.update(fallback)
    scope.update(func.__globals__)
    resolved = {}
    for name, value in annotations.items():
        if isinstance(value, str):
            try:
                value = eval(value, scope)  # noqa: S307 - the UDF's own annotation text
            except Exception:
                pass
        resolved[name] = value
    func.__annotations__ = resolved


def _trim(exc: BaseException, user_files: set[str]) -> BaseException:
    """Drop the leading fused-internal frames from `exc`'s traceback."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename not in user_files:
        tb = tb.tb_next
    if tb is not None:
        exc.__traceback__ = tb
    return exc


def _unwrap(obj: Any) -> Callable[..., Any]:
    wrapped = getattr(obj, "__wrapped__", None)
    if wrapped is not None and type(obj).__name__ == "Udf":
        return wrapped
    return obj


def _resolve_entrypoint(
    udf: Udf, namespace: dict[str, Any], decorated: list[Callable[..., Any]]
) -> str:
    """The meta.json entrypoint, else the single decorated function, else the function
    named `udf`, else the last decorated function."""
    if udf.entrypoint:
        if not callable(namespace.get(udf.entrypoint)):
            raise ValueError(
                f"UDF {udf.name!r}: entrypoint {udf.entrypoint!r} is not a function in its code"
            )
        return udf.entrypoint
    names = [f.__name__ for f in decorated if namespace.get(f.__name__) is f]
    if len(names) == 1:
        return names[0]
    if callable(namespace.get("udf")):
        return "udf"
    if names:
        return names[-1]
    raise ValueError(
        f"UDF {udf.name!r}: no entrypoint found: decorate a function with @fused.udf "
        "or name it `udf`"
    )


_prepared: dict[tuple[str, tuple[Header, ...], Optional[str], bool], Prepared] = {}


def prepare(udf: Udf) -> Prepared:
    """The compiled form of `udf`, built once per (code, headers, entrypoint)."""
    key = (udf.code, tuple(udf.headers), udf.entrypoint, "__wrapped__" in udf.__dict__)
    prepared = _prepared.get(key)
    if prepared is None:
        # No lock held while the module body runs: it may itself load and prepare UDFs.
        # Two threads preparing the same code at once both compile; one result is kept.
        prepared = _prepared.setdefault(key, Prepared(udf))
        if udf.__dict__.get("_module") is None:
            udf._module = prepared.namespace
    return prepared


def module_namespace(udf: Udf) -> dict[str, Any]:
    """The UDF module's globals (for `loaded_udf.helper(...)`)."""
    if udf.__dict__.get("_module") is None:
        udf._module = prepare(udf).namespace
    return udf._module  # type: ignore[return-value]


def header_module(udf: Udf, header: Header) -> types.ModuleType:
    """A header module of `udf`, executed once and cached on the UDF (`udf.utils`)."""
    cache = udf.__dict__.setdefault("_header_modules", {})
    module = cache.get(header.module_name)
    if module is None:
        prepared = prepare(udf)
        source = prepared.headers[header.module_name]
        module = types.ModuleType(header.module_name)
        module.__file__ = source.filename
        module.__dict__["fused"] = sys.modules["fused"]
        with _HeadersInstalled(prepared.headers):
            try:
                exec(source.code(), module.__dict__)
            except Exception as exc:
                raise prepared.runtime_error(exc, "", "") from _trim(exc, prepared.header_files)
        cache[header.module_name] = module
    return module


def execute(prepared: Prepared, kwargs: dict[str, Any]) -> Any:
    return prepared.call(kwargs)
