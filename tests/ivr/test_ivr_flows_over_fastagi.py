"""Flows through the real FastAGI server over TCP, with a scripted Asterisk on the other end answering the
way the golden transcripts show (digits as ASCII codes, HANGUP lines, 511 on a dead channel)."""

from __future__ import annotations

import asyncio
import shlex
from datetime import UTC, datetime

import pytest

from ivr.fastagi.server import FastAgiServer, Router
from ivr.flows import FlowRegistry
from ivr.handler import flow_name_from_script, make_ivr_handler
from ivr.runtime import Outcome
from sim.agi_client import FastAgiClient
from switchboard.clock import ManualClock

IN_HOURS = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


class Paths:
    """A CallRecordSink keeping what the runner wrote."""

    def __init__(self) -> None:
        self.finished: list = []
        self.done = asyncio.Event()

    async def call_started(self, start) -> None:
        return None

    async def call_finished(self, path) -> None:
        self.finished.append(path)
        self.done.set()


class ScriptedAsterisk:
    """Answers AGI commands like Asterisk 22 for a caller who follows ``script``."""

    def __init__(self, kit, script: list[object]) -> None:
        self.kit = kit
        self.script = list(script)
        self.dead = False
        self.variables: dict[str, str] = {}

    def _peek(self) -> object | None:
        return self.script[0] if self.script else None

    def _digit_for(self, escape: str) -> str | None:
        ev = self._peek()
        if isinstance(ev, self.kit.Press) and ev.digits[0] in escape:
            self.script.pop(0)
            if len(ev.digits) > 1:
                self.script.insert(0, self.kit.Press(ev.digits[1:]))
            return ev.digits[0]
        return None

    async def __call__(self, command: str) -> str:
        words = shlex.split(command)
        verb = " ".join(words[:2]).upper()
        if verb == "GET VARIABLE":
            value = self.variables.get(words[2])
            return "200 result=0\n" if value is None else f"200 result=1 ({value})\n"
        if self.dead:
            return "511 Command Not Permitted on a dead channel or intercept routine\n"
        if isinstance(self._peek(), self.kit.Hangup):
            self.script.pop(0)
            self.dead = True
            # as in the golden ivr-hangup: the HANGUP line arrives, then the command in flight fails
            return (
                "HANGUP\n200 result=-1\n"
                if verb in ("WAIT FOR", "STREAM FILE")
                else ("HANGUP\n511 Command Not Permitted on a dead channel or intercept routine\n")
            )
        if words[0] == "ANSWER":
            return "200 result=0\n"
        if words[0] == "HANGUP":
            self.dead = True
            return "200 result=1\n"
        if verb == "SET VARIABLE":
            self.variables[words[2]] = words[3]
            return "200 result=1\n"
        if verb == "STREAM FILE":
            digit = self._digit_for(words[3] if len(words) > 3 else "")
            return f"200 result={ord(digit)} endpos=1200\n" if digit else "200 result=0 endpos=3404\n"
        if verb == "WAIT FOR":
            digit = self._digit_for("0123456789*#")
            if digit is None and self.script and isinstance(self._peek(), self.kit.Silence):
                self.script.pop(0)
            return f"200 result={ord(digit)}\n" if digit else "200 result=0\n"
        if verb == "RECORD FILE":
            digit = self._digit_for(words[4])
            if digit:
                return f"200 result={ord(digit)} (dtmf) endpos=800\n"
            ev = self.script.pop(0) if self.script else None
            if isinstance(ev, self.kit.Speak):
                local = self.kit.spool_dir / (words[2].rsplit("/", 1)[-1] + ".wav")
                self.kit.write_wav(local)
                self.kit.utterances[local.stem] = (ev.text, ev.confidence)
                return "200 result=0 (timeout) endpos=9541\n"
            return "200 result=0 (timeout) endpos=0\n"
        return "510 Invalid or unknown command\n"


@pytest.fixture
async def agi(kit):
    """A FastAGI server on a free port running the default flows."""
    registry = FlowRegistry(kit.flows_dir)
    assert registry.reload().problems == ()
    paths = Paths()
    speech = kit.speech(free_ok=False)
    runner = kit.runner(ManualClock(IN_HOURS), speech=speech, recorder=paths)
    router = Router()
    router.add("ivr", make_ivr_handler(registry, runner, default_flow="main"))
    server = FastAgiServer(router, host="127.0.0.1", port=0)
    await server.start()
    try:
        yield server, paths, speech
    finally:
        await server.close()


def environment(network_script: str = "ivr/main", callerid: str = "+15551230001") -> dict[str, str]:
    script = network_script
    return {
        "agi_network": "yes", "agi_network_script": script, "agi_request": f"agi://127.0.0.1:4573/{script}",
        "agi_channel": "PJSIP/carrier-00000000", "agi_language": "en", "agi_type": "PJSIP",
        "agi_uniqueid": "1795397069.0", "agi_version": "22.11.0-rc1", "agi_callerid": callerid,
        "agi_calleridname": "Hidden Caller", "agi_callingpres": "0", "agi_context": "sb-ivr",
        "agi_extension": "ivr-basic", "agi_priority": "2", "agi_enhanced": "0.0", "agi_accountcode": "",
        "agi_threadid": "139912651163328",
    }  # fmt: skip


async def call(agi, kit, script: list[object], **env_kw) -> tuple[FastAgiClient, ScriptedAsterisk, object]:
    server, paths, _ = agi
    asterisk = ScriptedAsterisk(kit, script)
    client = FastAgiClient("127.0.0.1", server.port, environment(**env_kw), asterisk)
    await asyncio.wait_for(client.run(), 10)
    await asyncio.wait_for(paths.done.wait(), 5)
    return client, asterisk, paths.finished[-1]


async def test_billing_by_key_over_tcp_sets_the_hold_variables(agi, kit):
    client, asterisk, path = await call(agi, kit, [kit.Press("2")])
    assert client.commands[0] == "ANSWER"
    assert path.outcome == Outcome.QUEUED and kit.queue.requests[0].queue == "billing"
    assert asterisk.variables["SB_QUEUE"] == "billing" and asterisk.variables["SB_SKILL"] == "billing"
    assert asterisk.variables["SB_CALL_ID"] == kit.queue.requests[0].call_id
    assert client.commands[-1].startswith("SET VARIABLE SB_PRIORITY")
    assert not client.failed


async def test_agent_by_voice_over_tcp_records_on_the_asterisk_spool(agi, kit):
    _, _, speech = agi
    client, _, path = await call(agi, kit, [kit.Speak("I want to speak to an agent")])
    record = next(c for c in client.commands if c.startswith("RECORD FILE"))
    assert record.startswith("RECORD FILE /var/spool/asterisk/tmp/") and record.endswith(
        ' wav "#1270" 6000 0 s=2'
    )
    assert speech.calls and speech.calls[0][0] == "grammar"
    assert kit.queue.requests[0].skill == "general"
    assert path.steps[-2].recognised == "speak to an agent"
    assert list(kit.spool_dir.iterdir()) == []


async def test_caller_hang_up_over_tcp_is_an_abandon_and_the_session_ends_cleanly(agi, kit):
    _client, _asterisk, path = await call(agi, kit, [kit.Press("1"), kit.Hangup()])
    assert path.outcome == Outcome.ABANDONED and "caller hung up at main:tech-menu" in path.detail
    assert kit.queue.requests == []
    server, _, _ = agi
    for _ in range(50):
        if server.active_sessions == 0:
            break
        await asyncio.sleep(0.01)
    assert server.active_sessions == 0


async def test_unknown_flow_over_tcp_runs_the_default_flow(agi, kit):
    _client, _, path = await call(agi, kit, [kit.Press("0")], network_script="ivr/no-such-flow")
    assert path.start.flow == "main" and path.outcome == Outcome.QUEUED


def test_flow_names_from_agi_scripts():
    assert flow_name_from_script("ivr/main") == "main"
    assert flow_name_from_script("/ivr/router-restart?lang=fr") == "router-restart"
    assert flow_name_from_script("ivr") is None
    assert flow_name_from_script("ivr/../../etc/passwd") is None
