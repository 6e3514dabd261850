"""AGI on emulated channels behaves like res_agi: hang-up mid-command, dead mode, errors, media commands."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

from sim.media import read_wav
from sim.scripts import ScriptedCaller
from tests.golden.replay import refused_port
from tests.sim.emu_helpers import AgiConn, drive_until

PLAN = """
[c]
exten => _X.,1,Answer()
 same => n,AGI(agi://${SB_CONTROLLER}/test,arg1,arg two)
 same => n,Set(SB_AFTER=${AGISTATUS})
 same => n,Wait(1)
"""
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"


async def run_call(make_emulator, agi_server, clock, script, caller: ScriptedCaller, **kwargs):
    """Place one call whose AGI runs ``script``; returns (emulator, recorder, server, channel name)."""
    done = asyncio.Event()

    async def wrapped(conn: AgiConn) -> None:
        try:
            await script(conn)
        finally:
            done.set()

    server = await agi_server(wrapped)
    emulator = await make_emulator(PLAN, agi_port=server.port, **kwargs)
    recorder = emulator.record_events()
    channel = await emulator.place_call(caller, context="c", exten="100")
    await drive_until(clock, done.is_set)
    await drive_until(clock, lambda: emulator.channel(channel) is None, limit=30)
    assert server.errors == []
    return emulator, recorder, server, channel


def _varset(recorder, name: str) -> list[str]:
    return [e.get("Value") for e in recorder.named("VarSet") if e.get("Variable") == name]


def _agistatus(recorder) -> list[str]:
    return _varset(recorder, "AGISTATUS")


async def test_hangup_mid_command_returns_minus_one_then_hangup_line_then_dead_mode(
        make_emulator, agi_server, clock) -> None:
    replies: dict[str, list[str]] = {}

    async def script(conn: AgiConn) -> None:
        replies["answer"] = await conn.command("ANSWER")
        replies["wait"] = await conn.command("WAIT FOR DIGIT 10000")
        replies["stream"] = await conn.command('STREAM FILE beep ""')
        replies["getvar"] = await conn.command("GET VARIABLE CALLERID(num)")
        replies["setvar"] = await conn.command("SET VARIABLE SB_LATE yes")
        replies["hangup"] = await conn.command("HANGUP")
        replies["hangups"] = [str(conn.hangups)]
        replies["log"] = conn.log

    caller = ScriptedCaller(number="+15551230009", hangup_after=2.0)
    _, recorder, _, channel = await run_call(make_emulator, agi_server, clock, script, caller)
    assert replies["answer"] == ["200 result=0"]
    assert replies["wait"] == ["200 result=-1"]
    assert replies["log"][1:3] == ["200 result=-1", "HANGUP"]  # HANGUP follows the failed command at once
    assert replies["stream"] == [DEAD]
    assert replies["getvar"] == ["200 result=1 (+15551230009)"]
    assert replies["setvar"] == ["200 result=1"]
    assert replies["hangup"] == [DEAD]
    assert replies["hangups"] == ["1"]
    assert _agistatus(recorder) == ["HANGUP"]
    hangup = recorder.for_channel(channel, ["Hangup"])[0]
    assert (hangup.get("Priority"), hangup.get("Cause")) == ("2", "16")  # the dialplan stopped in AGI


async def test_hangup_between_commands_sends_hangup_unprompted(make_emulator, agi_server, clock) -> None:
    seen: dict[str, object] = {}

    async def script(conn: AgiConn) -> None:
        await conn.command("ANSWER")
        seen["line"] = await conn.read_unsolicited()  # nothing sent: the caller hangs up after 1 s
        seen["noop"] = await conn.command("NOOP")
        seen["status"] = await conn.command("CHANNEL STATUS")

    await run_call(make_emulator, agi_server, clock, script, ScriptedCaller(hangup_after=1.0))
    assert seen == {"line": "HANGUP", "noop": ["200 result=0"], "status": [DEAD]}


async def test_unknown_commands_usage_errors_and_exec(make_emulator, agi_server, clock) -> None:
    replies: dict[str, list[str]] = {}

    async def script(conn: AgiConn) -> None:
        replies["env"] = [f"{k}={v}" for k, v in conn.env.items() if k in (
            "agi_network_script", "agi_arg_1", "agi_arg_2", "agi_callerid", "agi_calleridname", "agi_context",
            "agi_extension", "agi_priority", "agi_type", "agi_dnid")]
        replies["bogus"] = await conn.command("BOGUS COMMAND")
        replies["get"] = await conn.command("GET")
        replies["usage"] = await conn.command("GET DATA")
        replies["lower"] = await conn.command("get variable SB_NONE")
        replies["exec_unknown"] = await conn.command("EXEC NoSuchApplication foo")
        replies["exec_set"] = await conn.command("EXEC Set SB_FROM_EXEC=1")
        replies["full"] = await conn.command("GET FULL VARIABLE ${SB_FROM_EXEC}-${CALLERID(name)}")
        replies["quoted"] = await conn.command('SET VARIABLE SB_Q "two words"')
        replies["getq"] = await conn.command("GET VARIABLE SB_Q")
        replies["status"] = await conn.command("CHANNEL STATUS")

    caller = ScriptedCaller(number="+1555000", name="Ann Example")
    _, recorder, _, _ = await run_call(make_emulator, agi_server, clock, script, caller)
    assert replies["env"] == ["agi_network_script=test", "agi_type=PJSIP", "agi_callerid=+1555000",
                              "agi_calleridname=Ann Example", "agi_dnid=100", "agi_context=c",
                              "agi_extension=100", "agi_priority=2", "agi_arg_1=arg1", "agi_arg_2=arg two"]
    assert replies["bogus"] == ["510 Invalid or unknown command"]
    assert replies["get"] == ["510 Invalid or unknown command"]
    assert replies["usage"] == [
        "520-Invalid command syntax.  Proper usage follows:",
        "Stream the given <replaceable>file</replaceable>, and receive DTMF data.",
        "Returns the digits received from the channel at the other end.",
        "520 End of proper usage.",
    ]
    assert replies["lower"] == ["200 result=0"]
    assert replies["exec_unknown"] == ["200 result=-2"]
    assert replies["exec_set"] == ["200 result=0"]
    assert replies["full"] == ["200 result=1 (1-Ann Example)"]
    assert replies["getq"] == ["200 result=1 (two words)"]
    assert replies["status"] == ["200 result=6"]
    assert _agistatus(recorder) == ["SUCCESS"]
    assert _varset(recorder, "SB_AFTER") == ["SUCCESS"]


async def test_dtmf_drives_wait_for_digit_stream_file_and_get_data(make_emulator, agi_server, clock) -> None:
    replies: dict[str, list[str]] = {}

    async def script(conn: AgiConn) -> None:
        replies["wait"] = await conn.command("WAIT FOR DIGIT 5000")  # '1' at 1.0 s
        replies["stream"] = await conn.command("STREAM FILE demo-congrats 5")  # '9' ignored, '5' stops it
        replies["getdata"] = await conn.command("GET DATA beep 3000 4")  # '4','2','#'
        replies["partial"] = await conn.command("GET DATA beep 2000 4")  # '7' then silence
        replies["maxed"] = await conn.command("GET DATA beep 3000 2")  # "12" fills max_digits=2
        replies["nothing"] = await conn.command("GET DATA beep 1000 4")
        replies["timeout"] = await conn.command("WAIT FOR DIGIT 500")
        replies["missing"] = await conn.command('STREAM FILE no-such-sound ""')

    dtmf = [(1.0, "1"), (2.0, "9"), (2.5, "5"), (4.0, "42#"), (6.0, "7"), (9.0, "12")]
    _, recorder, _, _ = await run_call(make_emulator, agi_server, clock, script, ScriptedCaller(dtmf=dtmf))
    assert replies["wait"] == ["200 result=49"]
    code, endpos = replies["stream"][0].split()[1:]
    assert code == "result=53"
    assert 11000 < int(endpos.split("=")[1]) < 13000  # ~1.5 s of the 7.5 s sound played
    assert replies["getdata"] == ["200 result=42"]
    assert replies["partial"] == ["200 result=7 (timeout)"]
    assert replies["maxed"] == ["200 result=12"]
    assert replies["nothing"] == ["200 result= (timeout)"]
    assert replies["timeout"] == ["200 result=0"]
    assert replies["missing"] == ["200 result=-1 endpos=0"]
    assert _agistatus(recorder) == ["FAILURE"]  # a failed STREAM FILE marks the AGI as failed, like Asterisk


async def test_record_file_writes_what_the_caller_says(make_emulator, agi_server, clock, golden_dir: Path,
                                                       tmp_path: Path) -> None:
    speech = golden_dir / "media" / "caller-says-restart-please.wav"
    replies: dict[str, list[str]] = {}

    async def script(conn: AgiConn) -> None:
        replies["silence"] = await conn.command('RECORD FILE /rec/first wav "#" 8000 0 s=2')
        replies["dtmf"] = await conn.command('RECORD FILE /rec/second wav "#" 8000')

    caller = ScriptedCaller(audio=[speech], speak_delay=0.3, dtmf=[(5.0, "#")])
    await run_call(make_emulator, agi_server, clock, script, caller)
    spoken = read_wav(speech)
    # Silence detection: 0.3 s pause + 1.195 s speech + 2 s silence, then the last second is trimmed.
    expected = round((0.3 + len(spoken) / 16000 + 2.0 + 0.02 - 1.0) * 8000)
    assert replies["silence"] == [f"200 result=0 (timeout) endpos={expected}"]
    first = tmp_path / "files" / "rec" / "first.wav"
    with wave.open(str(first)) as w:
        shape = (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes())
    assert shape == (8000, 1, 2, expected)
    recorded = read_wav(first)
    offset = round(0.3 * 8000) * 2
    assert recorded[offset : offset + len(spoken)] == spoken
    assert recorded[:offset] == bytes(offset)
    assert replies["dtmf"][0].startswith("200 result=35 (dtmf) endpos=")
    assert (tmp_path / "files" / "rec" / "second.wav").exists()


async def test_record_file_without_caller_media_records_only_speech_until_timeout(
        make_emulator, agi_server, clock, golden_dir: Path) -> None:
    speech = golden_dir / "media" / "caller-says-restart-please.wav"
    replies: dict[str, list[str]] = {}

    async def script(conn: AgiConn) -> None:
        replies["rec"] = await conn.command('RECORD FILE /rec/x wav "#" 4000 0 s=2')

    caller = ScriptedCaller(audio=speech, sends_media=False)
    await run_call(make_emulator, agi_server, clock, script, caller)
    assert replies["rec"] == [f"200 result=0 (timeout) endpos={len(read_wav(speech)) // 2}"]


async def test_unreachable_fastagi_server_fails_at_once_and_the_dialplan_goes_on(make_emulator,
                                                                                  clock) -> None:
    with refused_port() as port:
        emulator = await make_emulator(PLAN, agi_port=port)
        recorder = emulator.record_events()
        channel = await emulator.place_call(ScriptedCaller(), context="c", exten="100")
        await drive_until(clock, lambda: emulator.channel(channel) is None, limit=5)
    assert _agistatus(recorder) == ["FAILURE"]
    assert _varset(recorder, "SB_AFTER") == ["FAILURE"]
    hangup = recorder.for_channel(channel, ["Hangup"])[0]
    assert hangup.get("Priority") == "5"  # ran Set and Wait(1), then fell off the end of the extension
