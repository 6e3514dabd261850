"""`switchboard users add|passwd|list`: the first admin from the command line, passwords never in argv."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path

import pytest

from switchboard.cli import main
from switchboard.db import upgrade


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in list(os.environ):
        if name.upper().startswith("SWITCHBOARD_"):
            monkeypatch.delenv(name)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", url)
    monkeypatch.setenv("SWITCHBOARD_GENERAL_VAR_DIR", str(tmp_path / "var"))
    return url


def run(argv: list[str], monkeypatch: pytest.MonkeyPatch, stdin: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(argv)


def test_first_admin_is_added_with_the_password_from_stdin_and_can_sign_in(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(upgrade(database))
    assert (
        run(["users", "add", "boss", "--role", "admin", "--password-stdin"], monkeypatch, "boss-password-1\n")
        == 0
    )
    assert "added admin boss" in capsys.readouterr().out
    assert (
        run(
            ["users", "add", "ann", "--role", "agent", "--agent-id", "a-7", "--password-stdin"],
            monkeypatch,
            "ann-password-11\n",
        )
        == 0
    )
    capsys.readouterr()
    assert run(["users", "list"], monkeypatch) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing == ["ann\tagent agent=a-7", "boss\tadmin"]

    from switchboard.clock import SystemClock
    from switchboard.db import create_engine, session_factory
    from switchboard.settings import WebSettings
    from switchboard.users.factory import build_user_services

    async def sign_in() -> str:
        engine = create_engine(database)
        services = build_user_services(WebSettings(), session_factory(engine), SystemClock())
        try:
            result = await services.authenticator.login("boss", "boss-password-1", address="127.0.0.1")
            return result.user.role.value
        finally:
            services.close()
            await engine.dispose()

    assert asyncio.run(sign_in()) == "admin"


def test_password_reset_from_the_command_line(database: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    asyncio.run(upgrade(database))
    run(["users", "add", "boss", "--role", "admin", "--password-stdin"], monkeypatch, "boss-password-1\n")
    assert run(["users", "passwd", "BOSS", "--password-stdin"], monkeypatch, "boss-password-2\n") == 0
    assert "password set for boss" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (
            ["users", "add", "boss", "--role", "admin", "--password-stdin"],
            "short\n",
            "at least 10 characters",
        ),
        (["users", "add", "ann", "--role", "agent", "--password-stdin"], "ann-password-1\n", "agent id"),
        (["users", "add", "boss", "--role", "admin"], "", "--password-stdin"),
        (["users", "passwd", "ghost", "--password-stdin"], "ghost-password-1\n", "no such user"),
    ],
)
def test_mistakes_are_one_line_errors(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys, argv: list[str], stdin: str, message: str
) -> None:
    asyncio.run(upgrade(database))
    assert run(argv, monkeypatch, stdin) == 2
    err = capsys.readouterr().err
    assert err.startswith("switchboard: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_duplicate_admin_is_refused(database: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    asyncio.run(upgrade(database))
    run(["users", "add", "boss", "--role", "admin", "--password-stdin"], monkeypatch, "boss-password-1\n")
    assert (
        run(["users", "add", "Boss", "--role", "admin", "--password-stdin"], monkeypatch, "boss-password-1\n")
        == 2
    )
    assert "already exists" in capsys.readouterr().err


def test_missing_tables_say_to_upgrade_first(database: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert run(["users", "list"], monkeypatch) == 2
    assert "run `switchboard db upgrade` first" in capsys.readouterr().err


def test_there_is_no_way_to_put_a_password_on_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["users", "add", "boss", "--password", "boss-password-1"])
    assert exited.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err
