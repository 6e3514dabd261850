"""The survey service on a real SQLite database and a ManualClock: scheduling, policy, replies, reports."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from surveys.gateways.base import GatewayRejected
from surveys.gateways.log import LogGateway
from surveys.model import (
    DeliveryReport,
    DeliveryStatus,
    InboundSms,
    OutboundSms,
    ReplyKind,
    SendReceipt,
    SurveyState,
    UnmatchedReason,
)
from surveys.ports import CallEnded
from surveys.results import Dimension, ResultFilter, report_csv

MIN = 60
DAY = 86400


def ended(clock, call_id: str, number: str | None, agent: str | None = "agent-7", **kw) -> CallEnded:
    values = {"queue": "billing", "skill": "billing", "ivr_outcome": "queue", "language": "en"}
    values.update(kw)
    return CallEnded(
        call_id,
        number,
        agent,
        values["queue"],
        values["skill"],
        values["ivr_outcome"],
        values["language"],
        clock.now(),
    )


async def send_now(service, clock) -> None:
    await clock.advance(5 * MIN)
    await service.dispatch_due()


async def test_call_end_schedules_one_survey_that_is_sent_once_after_the_delay(make_service, day_clock, kit):
    gateway = LogGateway()
    service = await make_service(gateway=gateway)
    event = ended(day_clock, "call-1", kit.NY)
    first = await service.on_call_ended(event)
    again = await service.on_call_ended(event)  # the ACD may deliver the end twice
    assert first == again
    assert first.state is SurveyState.PENDING
    assert first.due_at == day_clock.now() + timedelta(minutes=5)
    assert (await service.dispatch_due()).claimed == 0  # not due yet
    await day_clock.advance(5 * MIN)
    assert (await service.dispatch_due()).sent == 1
    assert (await service.dispatch_due()).claimed == 0
    assert [sms.to for sms in gateway.sent] == [kit.NY]
    assert "How did we do" in gateway.sent[0].text
    view = await service.survey_for_call("call-1")
    assert view is not None and view.survey.state is SurveyState.SENT and view.survey.attempts == 1


async def test_survey_uses_the_callers_language_template(make_service, day_clock, kit):
    gateway = LogGateway()
    service = await make_service(gateway=gateway, company_name="Acme")
    await service.on_call_ended(ended(day_clock, "call-fr", kit.PARIS, language="fr-FR"))
    await send_now(service, day_clock)
    assert gateway.sent[0].text.startswith("Merci d'avoir appelé Acme")


@pytest.mark.parametrize(
    ("number", "agent", "reason"),
    [
        (None, "a1", "no-number"),
        ("", "a1", "no-number"),
        ("anonymous", "a1", "invalid-number"),
        ("+15551230000", "a1", "invalid-number"),
        ("+1 212 555 0123'); DROP TABLE surveys;--", "a1", "invalid-number"),
        ("+12125550123", None, "not-eligible"),
        ("+61412345678", "a1", "country-not-allowed"),
        ("+18005550199", "a1", "not-mobile"),
    ],
)
async def test_calls_that_get_no_survey_are_recorded_with_the_reason(
    make_service, day_clock, number, agent, reason
):
    gateway = LogGateway()
    service = await make_service(gateway=gateway)
    decision = await service.on_call_ended(ended(day_clock, "call-x", number, agent))
    assert (decision.state, decision.reason) == (SurveyState.SKIPPED, reason)
    await send_now(service, day_clock)
    assert not gateway.sent


async def test_hostile_call_ids_and_naive_times_are_refused_clearly(make_service, day_clock, kit):
    service = await make_service(gateway=LogGateway())
    for bad in ("", "x" * 65, "bad\nid"):
        with pytest.raises(ValueError, match="call_id"):
            await service.on_call_ended(ended(day_clock, bad, kit.NY))
    naive = CallEnded("c", kit.NY, "a", None, None, None, "en", day_clock.now().replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        await service.on_call_ended(naive)
    odd = CallEnded("c2", kit.NY, "a" * 500, "q\x00", None, None, "<script>", day_clock.now())
    decision = await service.on_call_ended(odd)
    view = await service.survey_for_call("c2")
    assert decision.state is SurveyState.PENDING
    assert view.survey.agent_id == "a" * 64 and view.survey.queue == "q" and view.survey.language == "en"


async def test_one_survey_per_number_per_window(make_service, day_clock, kit):
    service = await make_service(gateway=LogGateway(), min_days_between=30)
    assert (await service.on_call_ended(ended(day_clock, "c1", kit.NY))).state is SurveyState.PENDING
    second = await service.on_call_ended(ended(day_clock, "c2", "(212) 555-0123"))
    assert (second.state, second.reason) == (SurveyState.SKIPPED, "recently-surveyed")
    await day_clock.advance(31 * DAY)
    assert (await service.on_call_ended(ended(day_clock, "c3", kit.NY))).state is SurveyState.PENDING


async def test_a_survey_that_never_reached_the_phone_frees_the_number_for_the_next_call(
    make_service, day_clock, kit
):
    class Refusing(LogGateway):
        async def send(self, sms: OutboundSms) -> SendReceipt:
            raise GatewayRejected("invalid destination")

    service = await make_service(gateway=Refusing())
    await service.on_call_ended(ended(day_clock, "c1", kit.NY))
    await send_now(service, day_clock)
    view = await service.survey_for_call("c1")
    assert (view.survey.state, view.survey.reason) == (SurveyState.FAILED, "rejected")
    assert (await service.on_call_ended(ended(day_clock, "c2", kit.NY))).state is SurveyState.PENDING


async def test_stop_cancels_pending_surveys_and_is_honoured_until_start(make_service, day_clock, kit):
    gateway = LogGateway()
    service = await make_service(gateway=gateway, min_days_between=0)
    await service.on_call_ended(ended(day_clock, "c1", kit.NY))
    outcome = await service.handle_reply(InboundSms(sender=kit.NY, text="STOP", gateway="log"))
    assert outcome.kind is ReplyKind.OPT_OUT and not outcome.matched
    await send_now(service, day_clock)
    assert not gateway.sent
    assert (await service.survey_for_call("c1")).survey.state is SurveyState.CANCELLED
    later = await service.on_call_ended(ended(day_clock, "c2", kit.NY))
    assert (later.state, later.reason) == (SurveyState.SKIPPED, "opted-out")
    await day_clock.advance(400 * DAY)  # opt-outs do not expire
    assert (await service.on_call_ended(ended(day_clock, "c3", kit.NY))).reason == "opted-out"
    assert (
        await service.handle_reply(InboundSms(sender=kit.NY, text="start", gateway="log"))
    ).kind is ReplyKind.OPT_IN
    assert (await service.on_call_ended(ended(day_clock, "c4", kit.NY))).state is SurveyState.PENDING


async def test_stop_after_claim_but_before_send_still_prevents_the_sms(make_service, day_clock, kit):
    gateway = LogGateway()
    service = await make_service(gateway=gateway)
    await service.on_call_ended(ended(day_clock, "c1", kit.NY))
    await day_clock.advance(5 * MIN)
    await service.store.set_opt_out(kit.NY, True, "stop", day_clock.now())
    # set_opt_out cancelled the pending row; even a row already claimed is checked again at send time.
    stats = await service.dispatch_due()
    assert stats.sent == 0 and not gateway.sent


async def test_prefix_hourly_cap_stops_sms_pumping_bursts(make_service, day_clock):
    gateway = LogGateway()
    service = await make_service(gateway=gateway, prefix_hourly_cap=2, prefix_digits=7)
    for i, number in enumerate(["+12125550123", "+12125550124", "+12125550125", "+12015550123"]):
        await service.on_call_ended(ended(day_clock, f"c{i}", number))
    await send_now(service, day_clock)
    assert (await service.dispatch_due()).claimed == 0
    reasons = sorted([(await service.survey_for_call(f"c{i}")).survey.reason or "sent" for i in range(4)])
    assert reasons == ["prefix-cap", "sent", "sent", "sent"]
    assert len(gateway.sent) == 3  # two from +1212555, one from +1201555
    await day_clock.advance(3600)
    await service.on_call_ended(ended(day_clock, "c9", "+12125550126"))
    await send_now(service, day_clock)
    assert len(gateway.sent) == 4  # a new clock hour, a new allowance


async def test_replies_attach_to_the_call_and_the_latest_rating_counts(make_service, day_clock, kit):
    service = await make_service(gateway=LogGateway())
    await service.on_call_ended(ended(day_clock, "call-1", kit.NY))
    await send_now(service, day_clock)
    first = await service.handle_reply(
        InboundSms(sender="12125550123", text="5 great service", gateway="log")
    )
    assert (first.matched, first.call_id, first.rating) == (True, "call-1", 5)
    await service.handle_reply(InboundSms(sender=kit.NY, text="actually the wait was long", gateway="log"))
    await service.handle_reply(InboundSms(sender=kit.NY, text="4/5", gateway="log"))
    view = await service.survey_for_call("call-1")
    assert view.survey.rating == 4
    assert view.survey.state is SurveyState.DELIVERED  # a reply proves the SMS arrived
    assert [(r.kind, r.rating, r.comment) for r in view.replies] == [
        ("rating", 5, "great service"),
        ("comment", None, "actually the wait was long"),
        ("rating", 4, None),
    ]


async def test_replies_that_answer_no_survey_are_kept_as_unmatched(make_service, day_clock, kit):
    service = await make_service(gateway=LogGateway(), reply_window_hours=48)
    await service.on_call_ended(ended(day_clock, "call-1", kit.NY))
    early = await service.handle_reply(InboundSms(sender=kit.NY, text="5", gateway="log"))
    assert early.unmatched_reason is UnmatchedReason.UNKNOWN_NUMBER  # survey not sent yet
    await send_now(service, day_clock)
    stranger = await service.handle_reply(InboundSms(sender=kit.PARIS, text="5", gateway="log"))
    assert (stranger.matched, stranger.unmatched_reason) == (False, UnmatchedReason.UNKNOWN_NUMBER)
    junk = await service.handle_reply(InboundSms(sender="ACME-PROMO", text="WIN $$$", gateway="log"))
    assert junk.unmatched_reason is UnmatchedReason.INVALID_NUMBER
    await day_clock.advance(49 * 3600)
    late = await service.handle_reply(InboundSms(sender=kit.NY, text="3", gateway="log"))
    assert (late.matched, late.unmatched_reason) == (False, UnmatchedReason.TOO_LATE)
    view = await service.survey_for_call("call-1")
    assert view.survey.rating is None and view.replies == []
    kept = await service.unmatched()
    assert sorted(r.reason for r in kept) == [
        "invalid-number",
        "too-late",
        "unknown-number",
        "unknown-number",
    ]
    assert {r.text for r in kept} == {"5", "WIN $$$", "3"}


async def test_hostile_reply_texts_are_stored_intact(make_service, day_clock, kit):
    service = await make_service(gateway=LogGateway(), min_days_between=0)
    texts = [
        "\U0001f600\U0001f600\U0001f44d",
        "x" * 1000,
        "5 très bien \u0645\u0645\u062a\u0627\u0632 最高 \U0001f468\u200d\U0001f469\u200d\U0001f467",
        "   \n\t ",
        "'; DROP TABLE survey_replies; --",
        "\x00\x01 5",
    ]
    for i in range(len(texts)):
        await service.on_call_ended(ended(day_clock, f"c{i}", kit.NY))
    await send_now(service, day_clock)
    for text in texts:
        await service.handle_reply(InboundSms(sender=kit.NY, text=text, gateway="log"))
    replies = []
    for i in range(len(texts)):
        replies += (await service.survey_for_call(f"c{i}")).replies
    # All on the latest survey, as sent; only NUL (which PostgreSQL cannot store) becomes U+FFFD.
    assert [r.text for r in replies] == [t.replace("\x00", "\ufffd") for t in texts]
    kinds = [r.kind for r in replies]
    assert kinds == ["comment", "comment", "rating", "empty", "comment", "rating"]


async def test_redelivered_replies_are_stored_once(make_service, day_clock, kit):
    service = await make_service(gateway=LogGateway())
    await service.on_call_ended(ended(day_clock, "c1", kit.NY))
    await send_now(service, day_clock)
    sms = InboundSms(sender=kit.NY, text="4", gateway="kannel", message_id="kannel-uuid-1")
    assert not (await service.handle_reply(sms)).duplicate
    assert (await service.handle_reply(sms)).duplicate
    assert len((await service.survey_for_call("c1")).replies) == 1
    stranger = InboundSms(sender=kit.PARIS, text="hi", gateway="kannel", message_id="kannel-uuid-2")
    await service.handle_reply(stranger)
    assert (await service.handle_reply(stranger)).duplicate
    assert len(await service.unmatched()) == 1


async def test_delivery_reports_move_surveys_forward_never_back(make_service, day_clock, kit):
    service = await make_service(gateway=LogGateway())
    await service.on_call_ended(ended(day_clock, "c1", kit.NY))
    await send_now(service, day_clock)
    survey_id = (await service.survey_for_call("c1")).survey.id
    delivered = DeliveryReport(gateway="log", status=DeliveryStatus.DELIVERED, survey_id=survey_id)
    accepted = DeliveryReport(gateway="log", status=DeliveryStatus.ACCEPTED, survey_id=survey_id)
    assert await service.handle_delivery_report(delivered)
    assert not await service.handle_delivery_report(accepted)  # late ack after delivery changes nothing
    failed = DeliveryReport(gateway="log", status=DeliveryStatus.UNDELIVERABLE, survey_id=survey_id)
    assert not await service.handle_delivery_report(failed)
    assert (await service.survey_for_call("c1")).survey.state is SurveyState.DELIVERED
    unknown = DeliveryReport(gateway="smpp", status=DeliveryStatus.DELIVERED, message_id="nope")
    assert not await service.handle_delivery_report(unknown)


async def test_undeliverable_report_fails_the_survey_and_frees_the_number(make_service, day_clock, kit):
    service = await make_service(gateway=LogGateway())
    await service.on_call_ended(ended(day_clock, "c1", kit.NY))
    await send_now(service, day_clock)
    survey_id = (await service.survey_for_call("c1")).survey.id
    report = DeliveryReport(
        gateway="log", status=DeliveryStatus.UNDELIVERABLE, survey_id=survey_id, detail="x"
    )
    assert await service.handle_delivery_report(report)
    assert (await service.survey_for_call("c1")).survey.reason == "undeliverable"
    assert (await service.on_call_ended(ended(day_clock, "c2", kit.NY))).state is SurveyState.PENDING


class HangingGateway(LogGateway):
    """Takes the SMS and then never answers: the controller 'dies' mid-send."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def send(self, sms: OutboundSms) -> SendReceipt:
        self.calls += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_restart_mid_send_never_sends_the_survey_again(make_service, day_clock, kit):
    hanging = HangingGateway()
    first = await make_service(gateway=hanging, uncertain_window=300)
    await first.on_call_ended(ended(day_clock, "c1", kit.NY))
    await day_clock.advance(5 * MIN)
    task = asyncio.create_task(first.dispatch_due())
    for _ in range(200):
        if hanging.calls:
            break
        await asyncio.sleep(0.005)
    task.cancel()  # the controller process dies while the gateway holds the SMS
    await asyncio.gather(task, return_exceptions=True)
    assert (await first.survey_for_call("c1")).survey.state is SurveyState.SENDING

    after_restart = LogGateway()
    second = await make_service(gateway=after_restart, uncertain_window=300)
    await second.dispatch_due()
    assert (await second.survey_for_call("c1")).survey.state is SurveyState.SENDING  # lease still held
    await day_clock.advance(second.config.lease.total_seconds() + 1)
    assert (await second.dispatch_due()).recovered == 1
    assert (await second.survey_for_call("c1")).survey.state is SurveyState.UNCERTAIN
    await day_clock.advance(301)
    await second.dispatch_due()
    view = await second.survey_for_call("c1")
    assert (view.survey.state, view.survey.reason) == (SurveyState.FAILED, "outcome-unknown")
    assert not after_restart.sent and hanging.calls == 1
    # The phone got it after all and answers: the reply is attached and proves delivery.
    outcome = await second.handle_reply(InboundSms(sender=kit.NY, text="5", gateway="log"))
    assert outcome.matched and (await second.survey_for_call("c1")).survey.state is SurveyState.DELIVERED


async def test_csat_results_per_agent_queue_and_day_with_csv(make_service, day_clock):
    service = await make_service(gateway=LogGateway(), min_days_between=0, report_timezone="America/New_York")
    plan = [  # (number, agent, queue, rating)
        ("+12125550123", "ann", "billing", 5),
        ("+12125550124", "ann", "billing", 4),
        ("+12125550125", "ann", "support", 2),
        ("+12125550126", "=cmd|' /C calc'!A0", "support", 5),
        ("+12125550199", "bob", "support", None),
    ]
    for i, (number, agent, queue, _) in enumerate(plan):
        await service.on_call_ended(ended(day_clock, f"c{i}", number, agent, queue=queue))
    await send_now(service, day_clock)
    for number, _, _, rating in plan:
        if rating is not None:
            await service.handle_reply(InboundSms(sender=number, text=str(rating), gateway="log"))
    since, until = day_clock.now() - timedelta(days=1), day_clock.now() + timedelta(days=1)
    by_agent = await service.results(Dimension.AGENT, since, until)
    rows = {r.key: (r.sent, r.responses, r.csat, r.average) for r in by_agent.rows}
    assert rows["ann"] == (3, 3, 66.7, 3.67)
    assert rows["bob"] == (1, 0, None, None)
    assert (by_agent.total.sent, by_agent.total.responses, by_agent.total.csat) == (5, 4, 75.0)
    by_queue = await service.results(Dimension.QUEUE, since, until, ResultFilter(agent_id="ann"))
    assert [(r.key, r.responses) for r in by_queue.rows] == [("billing", 2), ("support", 1)]
    by_day = await service.results(Dimension.DAY, since, until)
    assert [r.key for r in by_day.rows] == ["2026-01-05"]
    csv_text = report_csv(by_agent)
    assert (
        csv_text.splitlines()[0]
        == "agent,sent,responses,satisfied,csat_percent,average_rating,response_rate_percent"
    )
    assert "'=cmd" in csv_text  # a formula in a name is defused for spreadsheets
    assert csv_text.splitlines()[-1].startswith("total,5,4,3,75,")


class SlowLogGateway(LogGateway):
    """A gateway that takes a moment per message, as a real one does: the other controller gets its turn."""

    async def send(self, sms: OutboundSms) -> SendReceipt:
        await asyncio.sleep(0.005)
        return await super().send(sms)


async def test_two_controllers_sharing_the_outbox_send_each_survey_once(make_service, day_clock):
    first, second = SlowLogGateway(), SlowLogGateway()
    one = await make_service(gateway=first, min_days_between=0, batch_size=7, prefix_hourly_cap=1000)
    two = await make_service(gateway=second, min_days_between=0, batch_size=7, prefix_hourly_cap=1000)
    for i in range(40):
        await one.on_call_ended(ended(day_clock, f"c{i}", f"+1212555{i:04d}"))
    await day_clock.advance(5 * MIN)
    passes = []
    for _ in range(8):
        passes += await asyncio.gather(one.dispatch_due(), two.dispatch_due())
    sent = [sms.survey_id for sms in [*first.sent, *second.sent]]
    assert len(sent) == 40 and len(set(sent)) == 40
    assert first.sent and second.sent  # both really took part
    assert max(stats.claimed for stats in passes) <= 7  # the batch size holds under contention
