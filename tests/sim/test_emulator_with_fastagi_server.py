"""The emulator against the product's own FastAGI server (ivr.fastagi): a typed IVR session end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.fastagi import AgiHangup, AgiSession, FastAgiServer
from sim.media import read_wav
from sim.scripts import ScriptedAgent, ScriptedCaller
from tests.sim.emu_helpers import ami_login, drive_until


async def test_typed_ivr_session_collects_digits_and_speech_then_queues(
        make_emulator, clock, golden_dir: Path, tmp_path: Path) -> None:
    speech = golden_dir / "media" / "caller-says-restart-please.wav"
    seen: dict[str, object] = {}

    async def flow(session: AgiSession) -> None:
        seen["script"] = session.env.network_script
        seen["args"] = session.env.args
        await session.answer()
        seen["menu"] = await session.get_data("beep", 5000, 1)
        seen["speech"] = await session.record_file("/tmp/sb-test/utterance", timeout_ms=6000, silence_s=2)
        await session.set_variable("SB_CALL_ID", "c-42")
        await session.set_variable("SB_QUEUE", "support")

    server = FastAgiServer(lambda env: flow, host="127.0.0.1", port=0)
    await server.start()
    try:
        emulator = await make_emulator(agi_port=server.port)
        emulator.add_agent(ScriptedAgent("101", answer_after=1.0, talk_for=5.0))
        wire = await ami_login(emulator)
        caller = ScriptedCaller(dtmf=[(1.0, "2")], audio=speech, talk_audio=speech)
        channel = await emulator.place_call(caller, exten="5551000")
        await wire.wait_for(lambda: wire.events("MusicOnHoldStart"), clock)
        wire.send("Setvar", Channel=channel, Variable="SB_AGENT_ENDPOINT", Value="PJSIP/101")
        wire.send("Redirect", Channel=channel, Context="sb-connect", Exten="s", Priority="1")
        await drive_until(clock, lambda: emulator.channel(channel) is None, limit=30)
    finally:
        await server.close()
    assert seen["script"] == "ivr/main"
    assert seen["args"] == ("5551000",)
    assert seen["menu"].digits == "2" and not seen["menu"].timed_out  # type: ignore[attr-defined]
    assert seen["speech"].timed_out and seen["speech"].endpos > 8000  # type: ignore[attr-defined]
    assert (tmp_path / "files" / "tmp" / "sb-test" / "utterance.wav").exists()
    recording = next(m.get("Value") for m in wire.events("VarSet") if m.get("Variable") == "SB_RECORDING")
    pcm = read_wav(tmp_path / "files" / str(recording).lstrip("/"))
    assert any(pcm[i] for i in range(len(pcm)))  # the caller's words are in the call recording
    await wire.close()


async def test_typed_session_sees_the_caller_hang_up(make_emulator, clock) -> None:
    outcome: dict[str, object] = {}

    async def flow(session: AgiSession) -> None:
        await session.answer()
        try:
            await session.wait_for_digit(10_000)
        except AgiHangup:
            outcome["hangup"] = True
        outcome["cid"] = await session.get_variable("CALLERID(num)")
        with pytest.raises(AgiHangup):
            await session.stream_file("beep")

    server = FastAgiServer(lambda env: flow, host="127.0.0.1", port=0)
    await server.start()
    try:
        emulator = await make_emulator(agi_port=server.port)
        channel = await emulator.place_call(ScriptedCaller(number="+15550007", hangup_after=2.0))
        await drive_until(clock, lambda: emulator.channel(channel) is None, limit=10)
    finally:
        await server.close()
    assert outcome == {"hangup": True, "cid": "+15550007"}
