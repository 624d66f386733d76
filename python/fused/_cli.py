"""The `fused` command: `fused run`, `fused serve`, `fused admin create-user`, `fused login`,
`fused whoami`, `fused logout`, `fused tiles export`."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from fused._options import options

__all__ = ["main"]


def _default_data_dir() -> str:
    return str(options.home / "server")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fused", description="fused-rs command line")
    sub = parser.add_subparsers(dest="command", required=True)

    # `fused serve` options are parsed by the server itself (see `fused serve --help`).
    sub.add_parser("serve", help="run the fused-rs HTTP server", add_help=False)
    sub.add_parser("tiles", help="tilesets: fused tiles export UDF --bbox ... -o out.pmtiles")

    admin = sub.add_parser("admin", help="administration")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser("create-user", help="create an account; prints its API key")
    create.add_argument("email")
    create.add_argument("--data-dir", default=None, help="default: $FUSED_HOME/server")

    login = sub.add_parser("login", help="log in to a server (OAuth device flow)")
    login.add_argument("--server", required=True, help="the server's URL")
    login.add_argument("--open-browser", action="store_true")

    sub.add_parser("whoami", help="the account you are logged in as")
    sub.add_parser("logout", help="forget the saved login ($FUSED_HOME/credentials)")
    # `fused run` parses its own arguments (UDF parameters are free-form --NAME VALUE).
    sub.add_parser("run", help="run a UDF and print or save its result", add_help=False)
    return parser


def _serve(args: list[str]) -> int:
    """`fused serve [OPTIONS]`: the options go to the server's own parser."""
    from fused import _native

    try:
        _native.serve(args, python=sys.executable, data_dir=_default_data_dir())
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"fused serve: {exc}", file=sys.stderr)
        return 1 if not isinstance(exc, ValueError) else 2
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        return _serve(argv[1:])
    if argv[:1] == ["run"]:
        from fused._cli_run import run_command

        return run_command(argv[1:])
    if argv[:2] == ["tiles", "export"]:
        from fused._export import cli_main

        return cli_main(argv[2:])
    args = _parser().parse_args(argv)
    try:
        if args.command == "admin":
            from fused import _native

            data_dir = args.data_dir or _default_data_dir()
            key = _native.admin_create_user(args.email, data_dir)
            print(f"created user {args.email} in {data_dir}; API key (shown once):")
            print(key)
        elif args.command == "login":
            from fused._account import login

            login(args.server, open_browser=args.open_browser)
        elif args.command == "whoami":
            from fused._account import whoami

            me = whoami()
            print(me.get("email", me))
        elif args.command == "logout":
            from fused._client import forget_credentials

            path = forget_credentials()
            print(f"logged out (removed {path})" if path else "not logged in")
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError, PermissionError, RuntimeError) as exc:
        print(f"fused {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
