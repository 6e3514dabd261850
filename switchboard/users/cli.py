"""``switchboard users ...``: add the first admin, reset a password, list users. Passwords never in argv."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import TextIO

from switchboard.errors import UserFacingError
from switchboard.settings import Settings, mask_url_password
from switchboard.users.model import PASSWORD_MAX, Role, User, UserError


def add_users_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``users add|passwd|list`` to the ``switchboard`` command's subcommands."""
    users = commands.add_parser("users", parents=[common], help="manage who may sign in").add_subparsers(
        dest="users_command", metavar="USERS_COMMAND", required=True
    )
    add = users.add_parser(
        "add",
        parents=[common],
        help="add a user (e.g. the first admin)",
        description="Add a user. The password is asked for twice, or read from standard input with "
        "--password-stdin; it is never taken from the command line, where other users could see it.",
    )
    add.add_argument("username")
    add.add_argument(
        "--role", choices=[r.value for r in Role], default=Role.AGENT.value, help="default: agent"
    )
    add.add_argument("--agent-id", metavar="ID", help="the ACD agent this user is (required for agents)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd = users.add_parser(
        "passwd", parents=[common], help="set a user's password (signs them out everywhere)"
    )
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users.add_parser("list", parents=[common], help="list users with their roles")


def read_password(*, from_stdin: bool, stdin: TextIO | None = None, prompt: str = "Password") -> str:
    """The new password: first line of stdin, or typed twice at a terminal without echo."""
    stdin = stdin or sys.stdin
    if from_stdin:
        line = stdin.readline(PASSWORD_MAX + 2)
        return line.rstrip("\r\n")
    if not stdin.isatty():
        raise UserFacingError("no terminal to ask for the password; pipe it in with --password-stdin")
    first = getpass.getpass(f"{prompt}: ")
    if getpass.getpass(f"{prompt} (again): ") != first:
        raise UserFacingError("the two passwords differ; nothing was changed")
    return first


def run_users_command(args: argparse.Namespace, settings: Settings, *, stdin: TextIO | None = None) -> int:
    """Carry out ``switchboard users ...``; user mistakes raise UserFacingError (one line, exit 2)."""
    password = None
    if args.users_command in ("add", "passwd"):
        password = read_password(from_stdin=args.password_stdin, stdin=stdin)
    return asyncio.run(_run(args, settings, password))


async def _run(args: argparse.Namespace, settings: Settings, password: str | None) -> int:
    # Imported here: `switchboard --help` should not load SQLAlchemy and argon2.
    from sqlalchemy import inspect as sa_inspect

    from switchboard import db
    from switchboard.clock import SystemClock
    from switchboard.users.accounts import UserChanges
    from switchboard.users.factory import build_user_services

    url = settings.database_url
    engine = db.create_engine(url)
    services = build_user_services(settings.web, db.session_factory(engine), SystemClock())
    try:
        with db.database_errors(url):
            async with engine.connect() as conn:
                tables = await conn.run_sync(lambda c: sa_inspect(c).get_table_names())
        if "users" not in tables:
            raise UserFacingError(
                f"database {mask_url_password(url)} has no users table; run `switchboard db upgrade` first"
            )
        accounts = services.accounts
        try:
            if args.users_command == "add":
                assert password is not None
                user = await accounts.add(args.username, password, Role(args.role), args.agent_id)
                print(f"added {user.role.value} {user.username} (id {user.id})")
            elif args.users_command == "passwd":
                assert password is not None
                user = await accounts.by_username(args.username)
                await accounts.change(user.id, UserChanges(password=password))
                print(f"password set for {user.username}; their sessions were ended")
            else:
                for user in await accounts.list():
                    print(_describe(user))
        except UserError as exc:
            raise UserFacingError(str(exc)) from None
    finally:
        services.close()
        await engine.dispose()
    return 0


def _describe(user: User) -> str:
    agent = f" agent={user.agent_id}" if user.agent_id else ""
    state = " (disabled)" if user.disabled else ""
    return f"{user.username}\t{user.role.value}{agent}{state}"
