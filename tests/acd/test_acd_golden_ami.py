"""The ACD reacting to real Asterisk event streams: golden AMI transcripts replayed through the AMI glue."""

from __future__ import annotations

from pathlib import Path

from acd.ami_glue import live_channel, translate
from acd.codec import config_from_dict
from acd.errors import AgentUnavailableError
from acd.model import AgentState
from acd.service import AcdService
from ami.events import parse_event
from switchboard.settings import AcdSettings

GOLDEN_CONFIG = {
    "agents": [
        {"id": "ans", "endpoint": "Local/agent-answer@sb-agent", "skills": {"billing": 5}},
        {"id": "noans", "endpoint": "Local/agent-noanswer@sb-agent", "skills": {"billing": 5}},
        {"id": "a101", "endpoint": "PJSIP/101", "skills": {"billing": 5}},
        {"id": "a102", "endpoint": "PJSIP/102", "skills": {"billing": 5}},
    ],
    "queues": [
        {"name": "billing", "skill": "billing", "wrap_up_seconds": 10},
        {"name": "support", "skill": "billing"},
    ],
}


def transcript(golden_dir: Path, name: str) -> list[tuple[float, str, bytes]]:
    out = []
    for line in (golden_dir / "ami" / f"{name}.ami.txt").read_text().splitlines():
        parts = line.strip().split(" ", 2)
        if len(parts) == 3:
            out.append(
                (
                    float(parts[0]),
                    parts[1],
                    bytes(parts[2], "ascii").decode("unicode_escape").encode("latin-1"),
                )
            )
    return out


def event_stream(lines) -> list[tuple[float, object]]:
    """(time of the chunk that completed it, event) for every event, in order."""
    from ami.protocol import AmiParser

    parser = AmiParser(expect_banner=True)
    out = []
    for t, d, b in lines:
        if d != "<<<":
            continue
        for msg in parser.feed(b):
            if "Event" in msg.fields:
                out.append((t, parse_event(msg)))
    return out


def action_time(lines, action: str) -> float:
    return next(t for t, d, b in lines if d == ">>>" and b.startswith(f"Action: {action}".encode()))


async def replay(service: AcdService, events, start: float = -1, end: float = 1e9) -> None:
    for t, ev in events:
        if start < t <= end:
            signal = translate(ev)
            if signal is not None:
                await service.handle(signal)


async def golden_service(store, fake_asterisk, clock) -> AcdService:
    svc = AcdService(store, fake_asterisk, clock, AcdSettings(key_prefix="sbtest"), listen=False)
    await svc.load(config_from_dict(GOLDEN_CONFIG))
    return svc


async def test_golden_rona_requeues_caller_pauses_agent_and_controller_hangup_is_abandon(
    golden_dir, store, fake_asterisk, clock, make_request
):
    lines = transcript(golden_dir, "rona")
    events = event_stream(lines)
    svc = await golden_service(store, fake_asterisk, clock)
    chan, uid = "Local/hold-caller@sb-caller-00000005;1", "1795396063.10"
    fake_asterisk.add_channel(chan, uid)
    redirect_at = action_time(lines, "Redirect")
    await svc.enqueue(make_request("golden-0001", channel=chan, uniqueid=uid, region=None))
    await replay(svc, events, end=redirect_at)
    await svc.login("noans")
    await svc.dispatcher.run_pending()
    assert fake_asterisk.named("redirect")[0]["channel"] == chan
    await replay(svc, events, start=redirect_at, end=action_time(lines, "Hangup"))
    agent = await store.agent_status("noans")
    assert agent.state is AgentState.PAUSED and agent.reason == "no answer"
    call = await store.get_call("golden-0001")
    assert call.status.value == "waiting" and call.attempts == 1
    await replay(svc, events, start=action_time(lines, "Hangup"))
    assert await store.get_call("golden-0001") is None
    kinds = [(e.type, e.fields.get("outcome", e.fields.get("kind", ""))) for e in await store.events()]
    assert ("requeued", "dial noanswer") in kinds and ("ended", "abandoned") in kinds


async def test_golden_connect_answer_goes_on_call_then_wrap_up(
    golden_dir, store, fake_asterisk, clock, make_request
):
    lines = transcript(golden_dir, "acd-connect")
    events = event_stream(lines)
    svc = await golden_service(store, fake_asterisk, clock)
    chan, uid = "Local/hold-caller@sb-caller-00000003;1", "1795396042.6"
    fake_asterisk.add_channel(chan, uid)
    redirect_at = action_time(lines, "Redirect")
    await svc.enqueue(make_request("golden-0001", channel=chan, uniqueid=uid, region=None))
    await replay(svc, events, end=redirect_at)
    await svc.login("ans")
    await svc.dispatcher.run_pending()
    bridge_at = next(t for t, ev in events if ev.name == "BridgeEnter")
    await replay(svc, events, start=redirect_at, end=bridge_at)
    agent = await store.agent_status("ans")
    assert agent.state is AgentState.ON_CALL and not agent.direct_call
    await replay(svc, events, start=bridge_at)
    assert (await store.agent_status("ans")).state is AgentState.WRAP_UP
    assert [e.fields["outcome"] for e in await store.events() if e.type == "ended"] == ["completed"]


async def test_golden_hold_abandon_is_recorded_with_its_wait(
    golden_dir, store, fake_asterisk, clock, make_request
):
    events = event_stream(transcript(golden_dir, "hold-abandon"))
    svc = await golden_service(store, fake_asterisk, clock)
    await svc.enqueue(
        make_request(
            "golden-0001",
            channel="Local/hold-abandon@sb-caller-000003eb;1",
            uniqueid="1795397397.2009",
            region=None,
        )
    )
    await clock.advance(4.5)
    await replay(svc, events)
    ended = [e for e in await store.events() if e.type == "ended"]
    assert len(ended) == 1 and ended[0].fields["outcome"] == "abandoned"
    assert await store.waiting_count("billing") == 0


async def test_golden_unregistered_softphone_cannot_be_ready(golden_dir, store, fake_asterisk, clock):
    events = event_stream(transcript(golden_dir, "pjsip-agent"))
    svc = await golden_service(store, fake_asterisk, clock)
    first_call = next(t for t, ev in events if ev.name == "Newchannel")
    await replay(svc, events, end=first_call)
    assert (await svc.login("a101")).routable  # registered (Reachable, NOT_INUSE)
    await replay(svc, events, start=first_call)
    status = await store.agent_status("a101")
    assert not status.registered and status.state is AgentState.PAUSED
    try:
        await svc.login("a101")
        raise AssertionError("an unregistered softphone became ready")
    except AgentUnavailableError:
        pass


async def test_golden_core_show_channels_become_live_channels(golden_dir):
    events = event_stream(transcript(golden_dir, "acd-connect"))
    chans = [live_channel(ev) for _, ev in events if ev.name == "CoreShowChannel"]
    assert chans[0].context == "sb-hold" and chans[0].application == "MusicOnHold"
    assert chans[0].uniqueid == "1795396042.6" and chans[0].duration_seconds == 3


async def test_golden_callback_originate_failure_is_translated(golden_dir):
    events = event_stream(transcript(golden_dir, "callback"))
    results = [translate(ev) for _, ev in events if ev.name == "OriginateResponse"]
    by_id = {r.action_id: r for r in results}
    assert not by_id["cb-unavail"].success and not by_id["cb-bad"].success
    assert by_id["cb-ok"].success and by_id["cb-ok"].uniqueid == "1795397363.2007"
