"""Connecting callers through the emulator: one Redirect per attempt, skills, relaxation, priority, VIP."""

from __future__ import annotations

from datetime import datetime, timedelta

from acd.model import AgentState, CallStatus
from tests.acd.e2e.conftest import BUSINESS_MORNING, Site, site_with

AGENTS = ("a101", "a102", "a103", "a104")


def emulated(when: datetime) -> float:
    """A datetime of the ManualClock as its monotonic seconds."""
    return (when - BUSINESS_MORNING).total_seconds()


async def test_vip_caller_from_the_ivr_rings_exactly_one_agent_and_is_connected(site: Site) -> None:
    # Regression (demo log): the IVR enqueued a VIP caller, the ACD picked an agent at once (the caller's
    # channel still in the AGI); the caller then reached sb-hold, its MusicOnHoldStart was taken for a
    # no-answer, the call was re-assigned to a second agent, and both Redirects went out.
    site.add_agents()
    ctl = await site.start_controller()
    await site.login(ctl, *AGENTS)
    # A busy Asterisk answers each Setvar after 0.2 s: the caller reaches hold before the Redirect goes out.
    site.slow_action("setvar", 0.2)
    channel = await site.ivr_call("+15557770100", None)
    await site.until(lambda: site.connected(channel), limit=20, what="VIP caller connected")
    await site.run(3)
    redirects = site.redirects_of(channel)
    assert len(redirects) == 1, redirects
    assert not await site.stream("requeued")
    assert site.dialled(channel) == [redirects[0].endpoint]
    assert site.bridged_with(channel) == [redirects[0].endpoint]
    for endpoint in ("PJSIP/101", "PJSIP/102", "PJSIP/103", "PJSIP/104"):
        if endpoint != redirects[0].endpoint:
            assert site.dials_to(endpoint) == []
    assert redirects[0].attempt == "1"
    states = sorted([(await site.agent(a)).state for a in AGENTS])
    assert states == sorted([AgentState.ON_CALL] + [AgentState.READY] * 3)
    call = await site.call(channel)
    assert call is not None and call.status is CallStatus.CONNECTED and call.vip and call.priority >= 60


async def test_billing_caller_pressing_2_reaches_a_billing_agent_not_the_longer_idle_generalist(
    site: Site,
) -> None:
    site.add_agents()
    ctl = await site.start_controller()
    await site.login(ctl, "a101", "a102")  # generalists, idle the longest
    await site.run(2)
    await site.login(ctl, "a103", "a104")  # billing agents
    channel = await site.ivr_call("+15551230001", "2")
    await site.until(lambda: site.connected(channel), limit=30, what="billing caller connected")
    (agent,) = site.bridged_with(channel)
    assert agent in ("PJSIP/103", "PJSIP/104")
    assert site.dials_to("PJSIP/101") == [] and site.dials_to("PJSIP/102") == []
    call = await site.call(channel)
    assert call is not None and (call.queue, call.skill) == ("billing", "billing")


async def test_region_is_relaxed_at_the_configured_second_and_not_before(site: Site) -> None:
    site.add_agents()
    ctl = await site.start_controller()
    await site.login(ctl, "a101")  # americas only
    channel = await site.ivr_call("+442071830002", "0")  # a London caller asking for an agent (support)
    call = await site.until(lambda: site.call(channel), limit=20, what="caller queued")
    assert call.region == "emea"
    await site.until(lambda: site.redirects_of(channel), limit=40, what="caller redirected")
    waited = site.redirects_of(channel)[0].at - emulated(call.enqueued_at)
    assert 20.0 <= waited < 21.0  # support's any-region step is at 20 s
    await site.until(lambda: site.connected(channel), limit=5)
    assert site.bridged_with(channel) == ["PJSIP/101"]
    assigned = [e for e in await site.stream("assigned") if e.fields["call"] == call.call_id]
    assert "any-region" in assigned[0].fields["why"]


async def test_higher_priority_caller_overtakes_callers_who_waited_longer(site: Site) -> None:
    site.add_agents()
    ctl = await site.start_controller()
    first = site.hold_call("+15550000001", priority=0)
    await site.run(1)
    second = site.hold_call("+15550000002", priority=0)
    await site.run(1)
    urgent = site.hold_call("+15550000003", priority=9)
    await site.until(lambda: site.call(urgent), limit=5, what="urgent caller queued")
    await site.login(ctl, "a101")
    await site.until(lambda: site.connected(urgent), limit=10, what="urgent caller first")
    assert not site.redirects_of(first) and not site.redirects_of(second)
    await site.login(ctl, "a102")
    await site.until(lambda: site.connected(first), limit=10, what="then the longest waiting")
    assert not site.redirects_of(second)


async def test_vip_caller_goes_before_an_earlier_ordinary_caller(site: Site) -> None:
    site.add_agents()
    ctl = await site.start_controller()
    ordinary = site.hold_call("+15550000001")
    await site.run(3)
    vip = await site.ivr_call("+15557770100", None)
    await site.until(lambda: site.call(vip), limit=10, what="VIP queued")
    await site.login(ctl, "a101")
    await site.until(lambda: site.connected(vip), limit=10, what="VIP connected first")
    assert not site.redirects_of(ordinary)
    assert await site.call_in(ordinary, CallStatus.WAITING)


async def test_personal_agent_absent_sends_the_vip_to_the_named_substitute_first(site: Site) -> None:
    now = BUSINESS_MORNING
    site.config = site_with(
        vips=[{"number": "+15557770101", "name": "Own Agent Co", "boost": 5, "agent": "a101"}],
        absences=[{"agent": "a101", "kind": "sick", "from": (now - timedelta(days=1)).isoformat(),
                   "until": (now + timedelta(days=1)).isoformat()}],
    )  # fmt: skip
    site.add_agents()
    ctl = await site.start_controller()
    await site.login(ctl, "a104")  # idle the longest, same proficiency as a102
    await site.run(2)
    await site.login(ctl, "a102")  # a101's first substitute
    channel = site.hold_call("+15557770101", queue="vip")
    await site.until(lambda: site.connected(channel), limit=15, what="VIP connected")
    assert site.bridged_with(channel) == ["PJSIP/102"]
    (assigned,) = [e for e in await site.stream("assigned")]
    assert "substitute #1 of a101" in assigned.fields["why"]
    assert site.dials_to("PJSIP/101") == [] and site.dials_to("PJSIP/104") == []
