"""PJSIP is reloaded over AMI after rendering; every failure is one clear line and the file stays written."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from acd.pjsip_render import PjsipRenderError, reload_pjsip
from acd.repository import AcdRepository
from sim.emulator import AsteriskEmulator
from switchboard.clock import ManualClock
from switchboard.errors import AmiLoginError, AsteriskUnavailableError
from switchboard.settings import AmiSettings
from tests.acd.api.scripted_ami import AmiScript, ScriptedAmi, closed_port
from tests.acd.conftest import make_config

SWITCHBOARD_BIN = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "switchboard"
PASSWORD_LINE = re.compile(r"agent (\S+)\s+endpoint (\S+)\s+username (\S+)\s+password (\S+)\s+\((.*)\)")


def ami(port: int, secret: str = "switchboard") -> AmiSettings:
    return AmiSettings(port=port, secret=secret, connect_timeout=2, action_timeout=2)


async def test_reload_sends_reload_of_res_pjsip_and_returns_asterisks_answer() -> None:
    with ScriptedAmi(AmiScript()) as server:
        assert await reload_pjsip(ami(server.port)) == "Module Reloaded"
        assert [(a["Action"], a["Module"]) for a in server.reloads()] == [("Reload", "res_pjsip.so")]


async def test_reload_refused_by_asterisk_is_reported_with_its_message() -> None:
    refused = re.escape("refused to reload res_pjsip.so: No such module")
    with (
        ScriptedAmi(AmiScript(reload_error="No such module")) as server,
        pytest.raises(PjsipRenderError, match=refused),
    ):
        await reload_pjsip(ami(server.port))


async def test_unreachable_ami_is_one_clear_error() -> None:
    port = closed_port()
    with pytest.raises(
        AsteriskUnavailableError, match=f"cannot reach Asterisk's manager interface at 127.0.0.1:{port}"
    ):
        await reload_pjsip(ami(port))


async def test_refused_ami_login_is_one_clear_error_without_the_secret() -> None:
    with ScriptedAmi(AmiScript(secret="right")) as server, pytest.raises(AmiLoginError) as caught:
        await reload_pjsip(ami(server.port, secret="wrong-secret"))
    assert "wrong-secret" not in str(caught.value)


async def test_the_emulator_has_no_reload_action_and_that_is_reported_clearly() -> None:
    emulator = AsteriskEmulator(ManualClock())
    await emulator.start()
    try:
        with pytest.raises(PjsipRenderError, match="Invalid/unknown command: Reload"):
            await reload_pjsip(ami(emulator.ami_port))
    finally:
        await emulator.stop()


# ---- the command end to end (a real process) ----


@pytest.fixture
def command_env(tmp_path: Path) -> dict[str, str]:
    """A database with the three test agents; the include under tmp_path; no SWITCHBOARD_* leaking in."""
    from switchboard.db import create_engine, session_factory, upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'sb.db'}"

    async def prepare() -> None:
        await upgrade(url)
        engine = create_engine(url)
        try:
            await AcdRepository(session_factory(engine)).save_config(make_config())
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("SWITCHBOARD_")}
    return {
        **clean,
        "SWITCHBOARD_DATABASE_URL": url,
        "SWITCHBOARD_ACD_PJSIP_INCLUDE": str(tmp_path / "asterisk" / "pjsip_switchboard_agents.conf"),
        "SWITCHBOARD_ACD_PJSIP_REALM": "sb.test",
        "SWITCHBOARD_AMI_SECRET": "switchboard",
        "SWITCHBOARD_AMI_CONNECT_TIMEOUT": "2",
        "SWITCHBOARD_AMI_ACTION_TIMEOUT": "2",
        "SWITCHBOARD_GENERAL_VAR_DIR": str(tmp_path / "var"),
    }


def switchboard(env: dict[str, str], port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SWITCHBOARD_BIN), "asterisk", "pjsip", *args],
        env={**env, "SWITCHBOARD_AMI_PORT": str(port)},
        cwd=Path(env["SWITCHBOARD_GENERAL_VAR_DIR"]).parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def printed_passwords(stdout: str) -> dict[str, tuple[str, str]]:
    return {m[0]: (m[2], m[3]) for m in PASSWORD_LINE.findall(stdout)}


def auth_digests(text: str, username: str) -> list[str]:
    block = text.split(f"[{username}-auth](sb-agent-auth)", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"password_digest = (\S+)", block)


@pytest.mark.slow
def test_command_renders_prints_secrets_once_keeps_them_and_rotates_on_request(
    command_env: dict[str, str],
) -> None:
    include = Path(command_env["SWITCHBOARD_ACD_PJSIP_INCLUDE"])
    with ScriptedAmi(AmiScript()) as server:
        first = switchboard(command_env, server.port)
        assert first.returncode == 0, first.stderr
        secrets = printed_passwords(first.stdout)
        assert set(secrets) == {"a1", "a2", "a3"}
        assert stat.S_IMODE(include.stat().st_mode) == 0o600
        text = include.read_text()
        username, password = secrets["a1"]
        assert username == "101"
        md5 = hashlib.md5(f"101:sb.test:{password}".encode()).hexdigest()
        assert f"MD5:{md5}" in auth_digests(text, "101")
        assert all(pw not in text for _, pw in secrets.values())
        assert "PJSIP reloaded: Module Reloaded" in first.stdout

        second = switchboard(command_env, server.port)
        assert second.returncode == 0, second.stderr
        assert printed_passwords(second.stdout) == {}  # shown once only
        assert include.read_text() == text

        rotated = switchboard(command_env, server.port, "--rotate", "a2")
        assert set(printed_passwords(rotated.stdout)) == {"a2"}
        after = include.read_text()
        assert auth_digests(after, "101") == auth_digests(text, "101")
        assert auth_digests(after, "102") != auth_digests(text, "102")
        assert len(server.reloads()) == 3


@pytest.mark.slow
def test_command_with_asterisk_unreachable_still_writes_the_file_and_says_so(
    command_env: dict[str, str],
) -> None:
    result = switchboard(command_env, closed_port())
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("switchboard: error: ")
    assert "is written, but PJSIP was not reloaded" in line and "cannot reach Asterisk" in line
    assert set(printed_passwords(result.stdout)) == {"a1", "a2", "a3"}  # the secrets are not lost
    assert Path(command_env["SWITCHBOARD_ACD_PJSIP_INCLUDE"]).is_file()


def test_command_refuses_to_rotate_an_unknown_agent(command_env: dict[str, str]) -> None:
    result = switchboard(command_env, closed_port(), "--rotate", "ghost", "--no-reload")
    assert result.returncode == 2
    assert "--rotate names unknown agent(s): ghost" in result.stderr
    assert not Path(command_env["SWITCHBOARD_ACD_PJSIP_INCLUDE"]).exists()
