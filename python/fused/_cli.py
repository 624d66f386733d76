"""The `fused` command: `fused serve`, `fused admin create-user`, `fused login`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from fused._options import options

__all__ = ["main"]


def _default_data_dir() -> str:
    return str(options.home / "server")


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {n}")
    return n


def _port(value: str) -> int:
    n = _positive(value)
    if n > 65535:
        raise argparse.ArgumentTypeError(f"expected a port 1..65535, got {n}")
    return n


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fused", description="fused-rs command line")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the fused-rs HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument("--data-dir", default=None, help="default: $FUSED_HOME/server")
    serve.add_argument("--workers", type=_positive, default=os.cpu_count() or 1)
    serve.add_argument(
        "--log-format",
        choices=["json", "text"],
        default=None,
        help="log lines on stderr (default: $FUSED_LOG_FORMAT, else json)",
    )

    admin = sub.add_parser("admin", help="administration")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser("create-user", help="create an account; prints its API key")
    create.add_argument("email")
    create.add_argument("--data-dir", default=None, help="default: $FUSED_HOME/server")

    login = sub.add_parser("login", help="log in to a server (OAuth device flow)")
    login.add_argument("--server", required=True, help="the server's URL")
    login.add_argument("--open-browser", action="store_true")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            from fused import _native

            _native.serve(
                host=args.host,
                port=args.port,
                data_dir=args.data_dir or _default_data_dir(),
                workers=args.workers,
                python=sys.executable,
                log_format=args.log_format,
            )
        elif args.command == "admin":
            from fused import _native

            data_dir = args.data_dir or _default_data_dir()
            key = _native.admin_create_user(args.email, data_dir)
            print(f"created user {args.email} in {data_dir}; API key (shown once):")
            print(key)
        elif args.command == "login":
            from fused._account import login

            login(args.server, open_browser=args.open_browser)
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError, PermissionError, RuntimeError) as exc:
        print(f"fused {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
