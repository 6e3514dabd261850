"""``switchboard-agi`` over real pipes: a subprocess speaks AGI on stdin/stdout, this test plays Asterisk.

The replies are the golden transcripts' own bytes (``ivr-basic``, ``ivr-hangup``), so the adapter is held
to what a real Asterisk 22 sends, async ``HANGUP`` lines and 520 usage blocks included.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AGI_SCRIPT = REPO / ".venv" / "bin" / "switchboard-agi"


def golden_bytes(text: str) -> bytes:
    return bytes(text, "ascii").decode("unicode_escape").encode("latin-1")


def load_transcript(path: Path) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """(environment block, [(command, reply bytes)]) from a golden AGI transcript."""
    env = b""
    exchanges: list[tuple[bytes, bytes]] = []
    for raw in path.read_text().splitlines():
        _, direction, data = raw.strip().split(" ", 2)
        chunk = golden_bytes(data)
        if direction == ">>>":
            exchanges.append((chunk, b""))
        elif exchanges:
            command, reply = exchanges[-1]
            exchanges[-1] = (command, reply + chunk)
        else:
            env += chunk
    return env, exchanges


class FakeAsterisk:
    """The Asterisk end of one classic AGI call: writes the environment, reads commands, writes replies."""

    def __init__(self, cmd: list[str], env_block: bytes, extra_env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), **(extra_env or {})}
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO
        )
        self.commands: list[bytes] = []
        assert self.proc.stdin is not None
        self.proc.stdin.write(env_block)
        self.proc.stdin.flush()

    def read_command(self, timeout: float = 10.0) -> bytes:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise AssertionError(f"no AGI command within {timeout} s; stderr: {self.stderr()[-2000:]}")
        line = self.proc.stdout.readline()
        if line:
            self.commands.append(line)
        return line

    def reply(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_pipe(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode("utf-8", "replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def asterisk():
    started: list[FakeAsterisk] = []

    def start(cmd: list[str], env_block: bytes, extra_env: dict[str, str] | None = None) -> FakeAsterisk:
        fake = FakeAsterisk(cmd, env_block, extra_env)
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.kill()


SCENARIO = textwrap.dedent(
    """
    import asyncio, json, sys
    from ivr.classic_agi import open_session, serve_call
    from ivr.fastagi.errors import AgiCommandError, AgiHangup

    async def scenario(s):
        out = {"script": s.env.network_script, "callerid": s.env.callerid, "name": s.env.calleridname}
        await s.answer()
        out["num"] = await s.get_variable("CALLERID(num)")
        await s.set_variable("SB_TEST", "hello world")
        out["full"] = await s.get_full_variable("${SB_TEST}")
        out["unset"] = await s.get_variable("NO_SUCH_VAR")
        await s.verbose("switchboard capture", 1)
        out["status"] = await s.channel_status()
        r = await s.stream_file("beep")
        out["beep"] = [r.digit, r.endpos, r.played]
        r = await s.stream_file("no-such-sound-file")
        out["missing"] = [r.digit, r.endpos, r.played]
        out["digit"] = await s.wait_for_digit(6000)
        r = await s.get_data("beep", 6000, 4)
        out["data"] = [r.digits, r.timed_out]
        out["said"] = await s.say_digits("123")
        r = await s.record_file("/var/spool/asterisk/tmp/sb-golden-rec", "wav", "#", 4000, 0, False, 2)
        out["record"] = [r.digit, r.endpos, r.timed_out]
        out["exec"] = await s.exec("Playback", "beep")
        out["exec_missing"] = await s.exec("NoSuchApplication", "foo")
        await s.noop()
        for bad in ("BOGUS COMMAND", "GET DATA"):
            try:
                await s.send_command(bad)
            except AgiCommandError as exc:
                out.setdefault("errors", []).append([exc.code, exc.usage])
        try:
            out["late_digit"] = await s.wait_for_digit(8000)
        except AgiHangup:
            out["late_digit"] = "hangup"
        out["num_after_hangup"] = await s.get_variable("CALLERID(num)")
        out["hung_up"] = s.hung_up
        await s.hangup()
        with open(sys.argv[1], "w") as f:
            json.dump(out, f)

    sys.exit(asyncio.run(serve_call(open_session(), scenario)))
    """
)


def test_every_session_command_matches_the_golden_call_byte_for_byte(asterisk, golden_dir, tmp_path) -> None:
    env_block, exchanges = load_transcript(golden_dir / "agi" / "ivr-basic.agi.txt")
    script = tmp_path / "scenario.py"
    script.write_text(SCENARIO)
    result = tmp_path / "result.json"
    fake = asterisk([sys.executable, str(script), str(result)], env_block)
    for command, reply in exchanges:
        assert fake.read_command() == command
        fake.reply(reply)
    assert fake.wait() == 0, fake.stderr()
    out = json.loads(result.read_text())
    assert out["script"] == "ivr-basic" and out["callerid"] == "+15551230001"
    assert out["name"] == "Golden Caller"
    assert out["num"] == "+15551230001" and out["full"] == "hello world" and out["unset"] is None
    assert out["status"] == 6
    assert out["beep"] == [None, 3404, True]
    assert out["missing"] == [None, 0, False]
    assert out["digit"] == "1"
    assert out["data"] == ["42", False]
    assert out["record"] == [None, 9541, True]
    assert out["exec"] == 0 and out["exec_missing"] == -2
    assert out["errors"][0][0] == 510
    assert out["errors"][1][0] == 520 and "Stream the given" in out["errors"][1][1]
    # the caller hung up during WAIT FOR DIGIT; HANGUP arrived before the next reply, which still counts
    assert out["late_digit"] == "hangup"
    assert out["num_after_hangup"] == "+15551230001"
    assert out["hung_up"] is True


def write_flow(tmp_path: Path) -> dict[str, str]:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "hello.yaml").write_text(
        textwrap.dedent(
            """
            start: greet
            prompts:
              greet: "Thanks for calling."
            nodes:
              greet: {kind: play, prompt: greet, next: hand-off}
              hand-off: {kind: queue, queue: billing, skill: billing}
            """
        )
    )
    return {
        "SWITCHBOARD_IVR_FLOWS_DIR": str(flows),
        "SWITCHBOARD_IVR_SOUNDS_DIR": str(tmp_path / "sounds"),
        "SWITCHBOARD_IVR_DEFAULT_FLOW": "hello",
        "SWITCHBOARD_GENERAL_VAR_DIR": str(tmp_path / "var"),
        "SWITCHBOARD_SPEECH_ENGINE": "none",
    }


def classic_env(*args: str) -> bytes:
    lines = [
        "agi_request: switchboard-agi", "agi_channel: PJSIP/carrier-00000001", "agi_language: en",
        "agi_type: PJSIP", "agi_uniqueid: 1795397069.7", "agi_version: 22.11.0",
        "agi_callerid: +15557770001", "agi_calleridname: Classic Caller", "agi_context: sb-inbound",
        "agi_extension: s", "agi_priority: 2", "agi_enhanced: 0.0", "agi_accountcode: ", "agi_threadid: 1",
    ]  # fmt: skip
    lines += [f"agi_arg_{i}: {a}" for i, a in enumerate(args, 1)]
    return ("\n".join(lines) + "\n\n").encode()


def answer(command: bytes) -> bytes:
    """What a healthy channel answers (shapes from the golden transcripts)."""
    if command.startswith(b"STREAM FILE"):
        return b"200 result=0 endpos=8000\n"
    if command.startswith(b"GET VARIABLE"):
        return b"200 result=0\n"
    return b"200 result=1\n" if command.startswith(b"SET VARIABLE") else b"200 result=0\n"


@pytest.mark.skipif(not AGI_SCRIPT.exists(), reason="console scripts not installed in .venv")
def test_console_script_runs_the_flow_and_hands_the_call_to_hold(asterisk, tmp_path) -> None:
    fake = asterisk([str(AGI_SCRIPT)], classic_env("hello"), write_flow(tmp_path))
    while True:
        command = fake.read_command()
        if not command:
            break
        fake.reply(answer(command))
    assert fake.wait() == 0, fake.stderr()
    sent = b"".join(fake.commands).decode()
    assert "STREAM FILE " in sent  # the rendered greeting was offered to Asterisk
    assert "SET VARIABLE SB_QUEUE billing" in sent
    assert "SET VARIABLE SB_CALL_ID " in sent
    assert "handed to the hold context" in fake.stderr()


@pytest.mark.skipif(not AGI_SCRIPT.exists(), reason="console scripts not installed in .venv")
def test_caller_hanging_up_ends_the_process_promptly(asterisk, golden_dir, tmp_path) -> None:
    fake = asterisk([str(AGI_SCRIPT)], classic_env("hello"), write_flow(tmp_path))
    first = fake.read_command()
    # golden ivr-hangup: the async HANGUP line, then 511 for every command on the dead channel
    fake.reply(
        b"HANGUP\n200 result=-1\n" if first.startswith(b"STREAM FILE") else b"HANGUP\n" + answer(first)
    )
    started = time.monotonic()
    while (command := fake.read_command()) != b"":
        if command.startswith(b"GET VARIABLE"):
            fake.reply(b"200 result=0\n")
        else:
            fake.reply(b"511 Command Not Permitted on a dead channel or intercept routine\n")
        assert time.monotonic() - started < 10
    assert fake.wait() == 0, fake.stderr()
    assert len(fake.commands) < 15


@pytest.mark.skipif(not AGI_SCRIPT.exists(), reason="console scripts not installed in .venv")
def test_asterisk_closing_the_pipe_ends_the_process(asterisk, tmp_path) -> None:
    fake = asterisk([str(AGI_SCRIPT)], classic_env("hello"), write_flow(tmp_path))
    assert fake.read_command() != b""
    fake.close_pipe()
    assert fake.wait(10) in (0, 1)


@pytest.mark.skipif(not AGI_SCRIPT.exists(), reason="console scripts not installed in .venv")
def test_smuggled_environment_key_is_refused_before_any_command(asterisk, tmp_path) -> None:
    env = classic_env("hello").replace(b"\n\n", b"\nagi_arg_1: evil\n\n")
    fake = asterisk([str(AGI_SCRIPT)], env, write_flow(tmp_path))
    assert fake.read_command(timeout=10) == b""  # no command at all: stdout closes
    assert fake.wait() == 1
    assert "sent twice" in fake.stderr()


def test_unknown_flow_argument_runs_the_default_flow(asterisk, tmp_path) -> None:
    if not AGI_SCRIPT.exists():
        pytest.skip("console scripts not installed in .venv")
    fake = asterisk([str(AGI_SCRIPT)], classic_env("no-such-flow"), write_flow(tmp_path))
    while (command := fake.read_command()) != b"":
        fake.reply(answer(command))
    assert fake.wait() == 0
    assert b"SET VARIABLE SB_QUEUE billing" in b"".join(fake.commands)
