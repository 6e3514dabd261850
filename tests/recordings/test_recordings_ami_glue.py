"""MixMonitor events to the catalogue: the golden Asterisk capture replayed, hostile events, missed events
after a resync, and a whole call on the Asterisk emulator over real AMI, transcribed and found by search."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from ami.client import AmiClient
from ami.events import AmiEvent, CoreShowChannel, ResyncEvent, parse_event
from ami.protocol import AmiParser
from recordings.ami_glue import MAX_CHANNELS, RecordingsAmiGlue
from recordings.catalogue import RecordingCatalogue
from recordings.model import RecordingState
from recordings.queries import RecordingFilter, RecordingQueries
from recordings.store import RecordingStore
from recordings.transcriber import TranscriberSpec
from recordings.worker import TranscriptionWorker, WorkerConfig
from switchboard.clock import ScaledClock
from tests.recordings.rec_helpers import ASTERISK_DIR, SOURCE

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def golden_events(golden_dir: Path, name: str) -> list[AmiEvent]:
    parser = AmiParser(expect_banner=True)
    events: list[AmiEvent] = []
    for line in (golden_dir / "ami" / f"{name}.ami.txt").read_text().splitlines():
        parts = line.strip().split(" ", 2)
        if len(parts) == 3 and parts[1] == "<<<":
            data = bytes(parts[2], "ascii").decode("unicode_escape").encode("latin-1")
            events += [parse_event(m) for m in parser.feed(data) if "Event" in m.fields]
    return events


def offline_client(clock) -> AmiClient:
    """A real AMI client that is not connected: every Getvar fails as it does while AMI is down."""
    return AmiClient(host="127.0.0.1", port=1, username="x", secret="x", clock=clock)


def glue_for(catalogue: RecordingCatalogue, client, clock, source: str = SOURCE) -> RecordingsAmiGlue:
    return RecordingsAmiGlue(
        client, catalogue, clock, source=source, asterisk_dir=ASTERISK_DIR, file_template="sb-{uniqueid}.wav"
    )


async def only_recording(queries: RecordingQueries):
    page = await queries.search(RecordingFilter())
    assert page.total == 1, page
    return page.items[0]


async def test_golden_acd_connect_capture_catalogues_the_mixmonitor_file_and_closes_it_on_hangup(
    golden_dir, catalogue, queries, clock
) -> None:
    glue = glue_for(catalogue, offline_client(clock), clock)
    events = golden_events(golden_dir, "acd-connect")
    start_at = next(i for i, e in enumerate(events) if e.name == "MixMonitorStart")
    for event in events[: start_at + 1]:
        await glue.handle(event)
    rec = await only_recording(queries)
    assert rec.state is RecordingState.RECORDING
    assert rec.call_id == "golden-0001" and rec.uniqueid == "1795396042.6"
    assert rec.asterisk_path == "/var/spool/asterisk/monitor/sb-golden-1795396042.6.wav"
    assert rec.local_path == str(catalogue.mapper.local_dir / "sb-golden-1795396042.6.wav")
    assert rec.caller_number == "+15551230002" and rec.caller_name == "Hold Caller"
    assert rec.channel == "Local/hold-caller@sb-caller-00000003;1"
    await clock.advance(8)
    for event in events[start_at + 1 :]:
        await glue.handle(event)
    rec = await only_recording(queries)
    assert rec.state is RecordingState.READY and rec.duration_s == 8.0


async def test_without_the_filename_variable_the_template_names_the_file(catalogue, queries, clock) -> None:
    glue = glue_for(catalogue, offline_client(clock), clock)
    await glue.handle(parse_event({"Event": "MixMonitorStart", "Channel": "PJSIP/x-1", "Uniqueid": "77.1"}))
    rec = await only_recording(queries)
    assert rec.asterisk_path == f"{ASTERISK_DIR}/sb-77.1.wav" and rec.call_id is None


async def test_hostile_event_values_never_become_paths_or_oversized_fields(catalogue, queries, clock) -> None:
    glue = glue_for(catalogue, offline_client(clock), clock)
    channel = {"Channel": "PJSIP/x-1", "Uniqueid": "78.1"}
    await glue.handle(
        parse_event({"Event": "VarSet", **channel, "Variable": "SB_CALL_ID", "Value": "c\r\n" + "x" * 500})
    )
    await glue.handle(
        parse_event(
            {"Event": "VarSet", **channel, "Variable": "MIXMONITOR_FILENAME", "Value": "/etc/../etc/shadow"}
        )
    )
    await glue.handle(
        parse_event({"Event": "MixMonitorStart", **channel, "CallerIDName": "<script>x</script>"})
    )
    await glue.handle(parse_event({"Event": "MixMonitorStart", "Channel": "PJSIP/no-uniqueid"}))
    rec = await only_recording(queries)
    assert rec.call_id == "c" + "x" * 63
    assert rec.state is RecordingState.RECORDING and rec.local_path is None
    assert rec.caller_name == "<script>x</script>"
    await glue.handle(parse_event({"Event": "Hangup", **channel}))
    rec = await only_recording(queries)
    assert rec.state is RecordingState.MISSING and rec.problem is not None and "'..'" in rec.problem


async def test_a_flood_of_variables_for_fake_channels_stays_bounded(catalogue, clock) -> None:
    glue = glue_for(catalogue, offline_client(clock), clock)
    for i in range(MAX_CHANNELS + 500):
        await glue.handle(
            parse_event(
                {
                    "Event": "VarSet",
                    "Channel": f"X/{i}",
                    "Uniqueid": f"{i}",
                    "Variable": "SB_CALL_ID",
                    "Value": "c",
                }
            )
        )
    assert len(glue._vars) == MAX_CHANNELS


async def test_resync_closes_recordings_whose_hangup_was_missed(catalogue, queries, clock) -> None:
    glue = glue_for(catalogue, offline_client(clock), clock)
    for uid in ("80.1", "80.2"):
        await glue.handle(
            parse_event({"Event": "MixMonitorStart", "Channel": f"PJSIP/{uid}", "Uniqueid": uid})
        )
    live = parse_event({"Event": "CoreShowChannel", "Channel": "PJSIP/80.2", "Uniqueid": "80.2"})
    assert isinstance(live, CoreShowChannel)
    await glue.handle(ResyncEvent(name="SwitchboardResync", fields={}, reason="connected", channels=(live,)))
    states = {r.uniqueid: r.state for r in (await queries.search(RecordingFilter())).items}
    assert states == {"80.1": RecordingState.READY, "80.2": RecordingState.RECORDING}
    await glue.handle(parse_event({"Event": "Hangup", "Channel": "PJSIP/80.2", "Uniqueid": "80.2"}))
    states = {r.uniqueid: r.state for r in (await queries.search(RecordingFilter())).items}
    assert states["80.2"] is RecordingState.READY


async def test_a_restarted_glue_still_closes_recordings_opened_before(catalogue, queries, clock) -> None:
    first = glue_for(catalogue, offline_client(clock), clock)
    await first.handle(parse_event({"Event": "MixMonitorStart", "Channel": "PJSIP/81", "Uniqueid": "81.1"}))
    restarted = glue_for(catalogue, offline_client(clock), clock)
    restarted._recording = await catalogue.open_uniqueids(SOURCE)  # what run() does before reading events
    await restarted.handle(parse_event({"Event": "Hangup", "Channel": "PJSIP/81", "Uniqueid": "81.1"}))
    assert (await only_recording(queries)).state is RecordingState.READY


EMULATED_DIALPLAN = """
[sb-inbound]
exten => s,1,Answer()
 same => n,Set(SB_CALL_ID=call-emu-1)
 same => n,Set(SB_AGENT_ID=a1)
 same => n,Set(SB_QUEUE=billing)
 same => n,MixMonitor(/var/spool/asterisk/monitor/sb-${UNIQUEID}.wav,b)
 same => n,Dial(PJSIP/101,20)
 same => n,Hangup()
"""


@pytest.mark.slow
@SQLITE_ONLY
async def test_emulated_call_is_recorded_catalogued_transcribed_and_found(
    tmp_path, store: RecordingStore, queries: RecordingQueries, rec_settings, tts
) -> None:
    from sim.emulator import AsteriskEmulator
    from sim.scripts import ScriptedAgent, ScriptedCaller

    clock = ScaledClock(5.0)
    files = tmp_path / "asterisk-root"
    settings = rec_settings.model_copy(
        update={"local_dir": files / "var/spool/asterisk/monitor", "settle_seconds": 0}
    )
    catalogue = RecordingCatalogue.from_settings(store, settings, clock)
    dialplan = tmp_path / "extensions.conf"
    dialplan.write_text(EMULATED_DIALPLAN)
    emulator = AsteriskEmulator(clock, dialplan_path=dialplan, ami_secret="s", file_root=files)
    await emulator.start()
    agent_says = tts("Thank you for calling billing. How can I help you today?")
    emulator.add_agent(ScriptedAgent("101", answer_after=1.0, talk_for=10.0, talk_audio=agent_says))
    client = AmiClient(
        host="127.0.0.1", port=emulator.ami_port, username="switchboard", secret="s", clock=clock
    )
    glue = glue_for(catalogue, client, clock, source=f"127.0.0.1:{emulator.ami_port}")
    worker = TranscriptionWorker(
        store, catalogue.mapper, clock, TranscriberSpec("pocketsphinx"), WorkerConfig()
    )
    task: asyncio.Task[None] | None = None
    try:
        await client.start()
        await client.wait_ready(5)
        task = asyncio.create_task(glue.run())
        await asyncio.sleep(0.1)
        await emulator.place_call(ScriptedCaller(number="+15551230002", name="<b>Caller</b>"))
        rec = await eventually(queries, RecordingState.RECORDING)
        assert rec.call_id == "call-emu-1" and rec.agent_id == "a1" and rec.queue == "billing"

        # A controller that restarted mid-call and missed the variables asks Asterisk (Getvar) instead.
        restarted = glue_for(catalogue, client, clock, source=f"127.0.0.1:{emulator.ami_port}")
        start = parse_event({"Event": "MixMonitorStart", "Channel": rec.channel, "Uniqueid": rec.uniqueid})
        await restarted.handle(start)
        again = await only_recording(queries)
        assert (again.id, again.call_id, again.asterisk_path) == (rec.id, "call-emu-1", rec.asterisk_path)

        rec = await eventually(queries, RecordingState.READY, limit=30)
        assert await asyncio.to_thread(Path(rec.local_path or "").is_file)
        assert await worker.run_once() == 1
        rec = await only_recording(queries)
        assert rec.state is RecordingState.TRANSCRIBED, rec.problem
        segments = await queries.transcript(rec.id)
        assert segments and all(s.end_s <= rec.duration_s + 0.05 for s in segments)
        word = segments[0].text.split()[0]
        assert [r.id for r in (await queries.search(RecordingFilter(text=word, agent_id="a1"))).items] == [
            rec.id
        ]
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await worker.close()
        await client.close()
        await emulator.stop()


async def eventually(queries: RecordingQueries, state: RecordingState, limit: float = 10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        page = await queries.search(RecordingFilter())
        if page.items and page.items[0].state is state:
            return page.items[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no recording reached {state.value}")
