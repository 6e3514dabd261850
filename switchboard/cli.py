"""The ``switchboard`` command: serve, demo, db upgrade, config show, users, asterisk pjsip.

Problems the operator can fix print as one line ``switchboard: error: ...`` with exit code 2; Ctrl-C exits
130 without a traceback; SIGTERM stops as gracefully as Ctrl-C and exits 0. Only real bugs show tracebacks.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import importlib
import inspect
import json
import logging
import re
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, TextIO

from switchboard import __version__
from switchboard.errors import (
    UserFacingError,
    ami_login_refused,
    asterisk_unreachable,
    listen_error,
    one_line,
)
from switchboard.settings import (
    CONFIG_FILE_ENV,
    Settings,
    describe_settings,
    load_settings,
    mask_url_password,
)

PROG = "switchboard"
EXIT_OK, EXIT_BUG, EXIT_USER_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser. Its help shows setting names, never setting values (so never a secret)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help=f"YAML config file (default: ${CONFIG_FILE_ENV}, else none); environment variables override it",
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common],
        description="Switchboard: a contact-center controller for a stock Asterisk PBX.",
        epilog="Settings come from SWITCHBOARD_<SECTION>_<NAME> environment variables and the optional "
        "config file; `switchboard config show` lists every setting with its description (secrets masked).",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    commands.add_parser(
        "serve",
        parents=[common],
        help="run the controller against Asterisk (FastAGI, AMI, ACD, HTTP)",
        description="Run the controller: FastAGI server, AMI client, ACD dispatcher, HTTP and workers.",
    )

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="run everything against the built-in Asterisk emulator with synthetic callers and agents",
        description="Run the whole product on embedded defaults (SQLite, embedded Redis) against the "
        "built-in Asterisk emulator, with synthetic callers and agents. No Asterisk needed.",
    )
    demo.add_argument(
        "--duration",
        type=_positive_float,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    demo.add_argument(
        "--speed", type=_positive_float, default=1.0, metavar="X", help="simulated time runs X times faster"
    )
    demo.add_argument("--calls", type=_non_negative_int, metavar="N", help="synthetic calls to place")

    db = commands.add_parser("db", parents=[common], help="database migrations").add_subparsers(
        dest="db_command", metavar="DB_COMMAND", required=True
    )
    upgrade = db.add_parser("upgrade", parents=[common], help="create or migrate the tables (safe to repeat)")
    upgrade.add_argument("--revision", default="heads", help="target revision (default: every branch's head)")
    db.add_parser("current", parents=[common], help="show the revisions the database is at")
    revision = db.add_parser(
        "revision", parents=[common], help="write a new migration on a domain's branch (for developers)"
    )
    revision.add_argument("-m", "--message", required=True, help="what the migration does")
    revision.add_argument("--branch", required=True, help="the domain's branch label, e.g. acd")
    revision.add_argument("--autogenerate", action="store_true", help="diff the registered tables")

    config = commands.add_parser("config", parents=[common], help="inspect the configuration").add_subparsers(
        dest="config_command", metavar="CONFIG_COMMAND", required=True
    )
    show = config.add_parser("show", parents=[common], help="every setting, its variable and description")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")

    from switchboard.users.cli import add_users_parser

    add_users_parser(commands, common)
    from acd.pjsip_render import add_asterisk_parser

    add_asterisk_parser(commands, common)
    from ivr.cli import add_ivr_parsers

    add_ivr_parsers(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    args = build_parser().parse_args(argv)
    settings: Settings | None = None
    terminated, restore = _stop_on_sigterm()
    try:
        settings = load_settings(getattr(args, "config", None))
        return _dispatch(args, settings)
    except KeyboardInterrupt:
        return EXIT_OK if terminated() else EXIT_INTERRUPTED
    except Exception as exc:
        problem = user_facing(exc, settings)
        if problem is None:
            raise
        print(f"{PROG}: error: {problem}", file=sys.stderr)
        return EXIT_USER_ERROR
    finally:
        restore()


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "config":
        print_settings(settings, as_json=args.json)
        return EXIT_OK
    from switchboard.logging_setup import setup_logging

    setup_logging(settings)
    if args.command == "db":
        # A one-shot command prints its own result; migration chatter only when debugging.
        if settings.general.log_level != "DEBUG":
            logging.getLogger().setLevel(logging.WARNING)
        return _db_command(args, settings)
    if args.command == "users":
        from switchboard.users.cli import run_users_command

        if settings.general.log_level != "DEBUG":  # like db: print the result, not the log chatter
            logging.getLogger().setLevel(logging.WARNING)
        return run_users_command(args, settings)
    if args.command == "asterisk":
        from acd.pjsip_render import run_asterisk_command

        if settings.general.log_level != "DEBUG":  # the command prints its result and the new secrets
            logging.getLogger().setLevel(logging.WARNING)
        return run_asterisk_command(args, settings)
    if args.command in ("flows", "prompts"):
        from ivr.cli import run_ivr_command

        if settings.general.log_level != "DEBUG":
            logging.getLogger().setLevel(logging.WARNING)
        return run_ivr_command(args, settings)
    if args.command == "serve":
        return _run_app("run_serve", settings)
    if args.command == "demo":
        return _run_app("run_demo", settings, duration=args.duration, speed=args.speed, calls=args.calls)
    raise AssertionError(f"unhandled command {args.command}")  # argparse only accepts the ones above


def _run_app(name: str, settings: Settings, **kwargs: Any) -> int:
    try:
        app = importlib.import_module("switchboard.app")
    except ModuleNotFoundError as exc:
        if exc.name != "switchboard.app":
            raise
        raise UserFacingError(f"this build has no {name} yet (switchboard.app is missing)") from None
    result = getattr(app, name)(settings, **kwargs)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    return result if isinstance(result, int) else EXIT_OK


def _db_command(args: argparse.Namespace, settings: Settings) -> int:
    from switchboard import db

    url = settings.database_url
    shown = mask_url_password(url)
    if args.db_command == "upgrade":

        async def upgrade() -> set[str]:
            await db.upgrade(url, args.revision)
            return await db.current_revisions(url)

        current = asyncio.run(upgrade())
        print(f"database {shown} is at {', '.join(sorted(current)) or 'base'}")
    elif args.db_command == "current":
        current = asyncio.run(db.current_revisions(url))
        heads = db.head_revisions()
        state = "up to date" if current == heads else f"behind (heads: {', '.join(sorted(heads))})"
        print(f"database {shown} is at {', '.join(sorted(current)) or 'nothing (empty)'}; {state}")
    elif args.db_command == "revision":
        path = asyncio.run(db.new_revision(args.message, args.branch, autogenerate=args.autogenerate))
        print(f"wrote {path}")
    return EXIT_OK


def print_settings(settings: Settings, *, as_json: bool = False, out: TextIO | None = None) -> None:
    """Print every setting with its variable and description; secrets show as a mask, never their value."""
    out = out or sys.stdout
    rows = describe_settings(settings)
    if as_json:
        data = [
            {"setting": f"{r.section}.{r.name}", "env": r.env, "value": r.value, "description": r.description}
            for r in rows
        ]
        print(json.dumps(data, indent=2), file=out)
        return
    width = min(60, max(len(f"{r.env}={r.value}") for r in rows))
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            print(f"{'' if row is rows[0] else chr(10)}[{section}]", file=out)
        print(f"{row.env}={row.value}".ljust(width) + f"  # {row.description}", file=out)


_BIND_ADDRESS = re.compile(r"\('(?P<host>[^']*)', (?P<port>\d+)\)")


def user_facing(exc: BaseException, settings: Settings | None) -> str | None:
    """The one line to print for an error the operator can fix, or None for a bug (traceback wanted)."""
    if isinstance(exc, BaseExceptionGroup):  # a TaskGroup that failed: report the first fixable cause
        for inner in exc.exceptions:
            line = user_facing(inner, settings)
            if line is not None:
                return line
        return None
    if isinstance(exc, UserFacingError):
        return str(exc)
    translated = _translate_foreign(exc, settings)
    return str(translated) if translated is not None else None


def _translate_foreign(exc: BaseException, settings: Settings | None) -> UserFacingError | None:
    """Known library errors that escaped their adapter's boundary: still one line, never a traceback."""
    if isinstance(exc, OSError) and exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
        match = _BIND_ADDRESS.search(str(exc))
        host, port = (match["host"], int(match["port"])) if match else ("?", 0)
        service, section = _service_for_port(port, settings)
        return listen_error(exc, service=service, host=host, port=port, setting=section)
    if isinstance(exc, ModuleNotFoundError):
        return UserFacingError(
            f"Python module {exc.name!r} is missing; install Switchboard with its dependencies (`make demo`)"
        )
    ami_errors = sys.modules.get("ami.errors")
    if ami_errors is not None and settings is not None:
        if isinstance(exc, getattr(ami_errors, "AmiAuthError", ())):
            return ami_login_refused(settings.ami.username)
        if isinstance(exc, getattr(ami_errors, "AmiConnectionError", ())):
            return asterisk_unreachable(settings.ami.host, settings.ami.port, one_line(str(exc)))
    return None


def _service_for_port(port: int, settings: Settings | None) -> tuple[str, str]:
    if settings is not None:
        if port == settings.agi.port:
            return "FastAGI", "agi"
        if port == settings.http.port:
            return "HTTP", "http"
    return "a listening service", "agi"


def _stop_on_sigterm() -> tuple[Callable[[], bool], Callable[[], None]]:
    """Make SIGTERM stop like Ctrl-C (asyncio.run then cancels the main task, so cleanup runs).

    Returns (was SIGTERM received?, restore the previous handler). Only possible in the main thread.
    """
    received = False

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        received = True
        signal.raise_signal(signal.SIGINT)

    try:
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread (e.g. called from a test's worker thread)
        return (lambda: received), (lambda: None)
    return (lambda: received), (lambda: signal.signal(signal.SIGTERM, previous))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

