"""The survey service: schedules a survey when a call ends, sends it, and files what comes back."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from surveys.config import SurveyConfig
from surveys.gateways.base import InboundHandlers, SmsGateway
from surveys.model import (
    DeliveryReport,
    DeliveryStatus,
    DispatchStats,
    FailReason,
    InboundSms,
    ReplyKind,
    ReplyOutcome,
    SkipReason,
    SurveyDecision,
    SurveyState,
    UnmatchedReason,
)
from surveys.phone import InvalidNumber, NoNumber, mask, parse_number
from surveys.policy import Plan, plan_survey
from surveys.ports import CallEnded
from surveys.replies import MAX_REPLY_CHARS, parse_reply
from surveys.results import CsatReport, Dimension, ResultFilter, build_report
from surveys.sender import SurveySender
from surveys.store import ReplyRecord, SurveyRecord, SurveyStore
from surveys.tables import ReplyRow, UnmatchedReplyRow
from surveys.templates import TemplateBook
from switchboard.clock import Clock
from switchboard.ids import new_id

log = logging.getLogger(__name__)

_LABEL_MAX = 64
_LANGUAGE = re.compile(r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$")
# States in which a reply can still be answering the survey.
_REPLYABLE = (SurveyState.SENT, SurveyState.DELIVERED, SurveyState.UNCERTAIN)


@dataclass(frozen=True)
class SurveyView:
    """A call's survey with its replies (for the call detail and the agent desk)."""

    survey: SurveyRecord
    replies: list[ReplyRecord]


class SurveyService:
    """Post-call SMS surveys: policy, outbox, gateway, replies and results behind one object."""

    def __init__(
        self,
        *,
        store: SurveyStore,
        gateway: SmsGateway,
        templates: TemplateBook,
        config: SurveyConfig,
        clock: Clock,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.templates = templates
        self.config = config
        self.clock = clock
        self.owner = owner or f"sender-{new_id()}"
        self.sender = SurveySender(store, gateway, config, clock, self.owner)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started = False

    # -- lifecycle --------------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the gateway (bind SMPP, create the HTTP client) without starting the sender loop."""
        if not self._started:
            await self.gateway.start(
                InboundHandlers(on_reply=self.handle_reply, on_report=self.handle_delivery_report)
            )
            self._started = True

    async def run(self) -> None:
        """Open the gateway and send until cancelled (for a composition root's TaskGroup)."""
        await self.open()
        try:
            await self.sender.run(self._wakeup)
        finally:
            await self.gateway.close()
            self._started = False

    async def start(self) -> None:
        """Run in a task owned by this service; ``close()`` stops it."""
        if self._task is None:
            await self.open()
            self._task = asyncio.create_task(self._supervise(), name="survey-sender")

    async def _supervise(self) -> None:
        while True:
            try:
                await self.sender.run(self._wakeup)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("survey sender crashed; restarting in 1s")
                await self.clock.sleep(1.0)

    async def close(self) -> None:
        """Stop the sender task and close the gateway."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.gateway.close()
        self._started = False

    @property
    def gateway_state(self) -> str:
        """ "ok", or "degraded" while the gateway is resting after failures (for /health)."""
        return "degraded" if self.sender.paused_until is not None else "ok"

    async def dispatch_due(self) -> DispatchStats:
        """One sender pass now (tests, benchmarks and tools; the loop does this by itself)."""
        return await self.sender.dispatch_due()

    # -- a call ended -----------------------------------------------------------------------------

    async def on_call_ended(self, event: CallEnded) -> SurveyDecision:
        """Decide and record this call's survey; a repeated event returns the first decision."""
        call_id = _checked_call_id(event.call_id)
        if event.ended_at.tzinfo is None:
            raise ValueError(f"CallEnded.ended_at must be timezone-aware (call_id={call_id})")
        existing = await self.store.get_by_call(call_id)
        if existing is not None:
            return _decision(existing)
        now = self.clock.now()
        language = event.language if _LANGUAGE.match(event.language or "") else self.config.default_language
        template = self.templates.get(language)
        values: dict[str, object] = {
            "id": new_id(),
            "call_id": call_id,
            "language": template.language,
            "agent_id": _label(event.agent_id),
            "queue": _label(event.queue),
            "skill": _label(event.skill),
            "ivr_outcome": _label(event.ivr_outcome),
            "call_ended_at": event.ended_at.astimezone(UTC),
            "created_at": now,
            "attempts": 0,
        }
        plan, number, region = await self._plan(event)
        values["number"] = number
        values["region"] = region
        reserve_cutoff = None
        if plan.skip is None:
            values.update(
                state=SurveyState.PENDING.value,
                due_at=plan.due_at,
                expires_at=plan.expires_at,
                body=template.render(self.config.company_name),
            )
            if self.config.min_between is not None:
                reserve_cutoff = now - self.config.min_between
        else:
            values.update(state=SurveyState.SKIPPED.value, reason=plan.skip.value, finished_at=now)
        record, created = await self.store.create(values, reserve_cutoff=reserve_cutoff)
        if created:
            log.info(
                "survey decided call_id=%s survey_id=%s to=%s state=%s reason=%s due_at=%s",
                call_id,
                record.id,
                mask(record.number),
                record.state.value,
                record.reason,
                record.due_at.isoformat() if record.due_at else "-",
            )
            if (
                record.state is SurveyState.PENDING
                and record.due_at
                and record.due_at <= now + timedelta(seconds=1)
            ):
                self._wakeup.set()
        return _decision(record)

    async def _plan(self, event: CallEnded) -> tuple[Plan, str | None, str | None]:
        try:
            phone = parse_number(event.caller_number, self.config.default_region)
        except InvalidNumber as exc:
            reason = SkipReason.NO_NUMBER if isinstance(exc, NoNumber) else SkipReason.INVALID_NUMBER
            log.info("survey skipped call_id=%s reason=%s detail=%s", event.call_id, reason.value, exc)
            return Plan(reason), None, None
        plan = plan_survey(event, phone, self.config.policy)
        if plan.skip is None and await self.store.is_opted_out(phone.e164):
            plan = Plan(SkipReason.OPTED_OUT)
        return plan, phone.e164, phone.region

    # -- inbound ----------------------------------------------------------------------------------

    async def handle_reply(self, sms: InboundSms) -> ReplyOutcome:
        """File an inbound SMS against the survey it answers, else as unmatched; STOP/START apply anyway."""
        now = self.clock.now()
        raw_text = sms.text[:MAX_REPLY_CHARS]
        text = _storable(raw_text)
        if len(sms.text) > MAX_REPLY_CHARS:
            log.warning("survey reply truncated chars=%d kept=%d", len(sms.text), MAX_REPLY_CHARS)
        sender = _storable(sms.sender.strip()[:64])
        message_id = (sms.message_id or "")[:80] or None
        if message_id:
            seen = await self.store.reply_seen(sms.gateway, message_id)
            if seen:
                log.info(
                    "survey reply redelivered gateway=%s message_id=%s; ignored", sms.gateway, message_id
                )
                return ReplyOutcome(reply_id=seen, kind=ReplyKind.COMMENT, matched=False, duplicate=True)
        try:
            number: str | None = parse_number(sender, self.config.default_region).e164
        except InvalidNumber as exc:
            log.warning("survey reply from an unusable number sender=%r: %s", sender[:20], exc)
            number = None
        target = None
        if number is not None:
            since = now - self.config.reply_window
            target = await self.store.reply_target(
                number, since, _REPLYABLE, FailReason.OUTCOME_UNKNOWN.value
            )
        template = self.templates.get(target.language if target else None)
        parsed = parse_reply(raw_text, template, self.templates)
        if number is not None and parsed.kind is ReplyKind.OPT_OUT:
            cancelled = await self.store.set_opt_out(number, True, parsed.keyword or "stop", now)
            log.info(
                "survey opt-out number=%s keyword=%s cancelled_pending=%d",
                mask(number),
                parsed.keyword,
                cancelled,
            )
        elif number is not None and parsed.kind is ReplyKind.OPT_IN:
            await self.store.set_opt_out(number, False, parsed.keyword or "start", now)
            log.info("survey opt-in number=%s keyword=%s", mask(number), parsed.keyword)
        reply_id = new_id()
        if target is not None and number is not None:
            stored = await self.store.add_reply(
                ReplyRow(
                    id=reply_id,
                    survey_id=target.id,
                    received_at=now,
                    sender=sender,
                    number=number,
                    text=text,
                    kind=parsed.kind.value,
                    rating=parsed.rating,
                    comment=parsed.comment,
                    gateway=sms.gateway,
                    gateway_message_id=message_id,
                ),
                rating_at=now,
                promote_from=[SurveyState.SENT, SurveyState.UNCERTAIN, SurveyState.FAILED],
            )
            log.info(
                "survey reply call_id=%s survey_id=%s kind=%s rating=%s chars=%d%s",
                target.call_id,
                target.id,
                parsed.kind.value,
                parsed.rating,
                len(text),
                "" if stored else " (duplicate)",
            )
            return ReplyOutcome(
                reply_id=reply_id,
                kind=parsed.kind,
                matched=True,
                survey_id=target.id,
                call_id=target.call_id,
                rating=parsed.rating,
                duplicate=not stored,
            )
        if number is None:
            reason = UnmatchedReason.INVALID_NUMBER
        elif await self.store.ever_attempted(number):
            reason = UnmatchedReason.TOO_LATE
        else:
            reason = UnmatchedReason.UNKNOWN_NUMBER
        stored = await self.store.add_unmatched(
            UnmatchedReplyRow(
                id=reply_id,
                received_at=now,
                sender=sender,
                number=number,
                text=text,
                kind=parsed.kind.value,
                reason=reason.value,
                rating=parsed.rating,
                gateway=sms.gateway,
                gateway_message_id=message_id,
            )
        )
        log.info(
            "survey reply unmatched number=%s reason=%s kind=%s%s",
            mask(number),
            reason.value,
            parsed.kind.value,
            "" if stored else " (duplicate)",
        )
        return ReplyOutcome(
            reply_id=reply_id,
            kind=parsed.kind,
            matched=False,
            rating=parsed.rating,
            unmatched_reason=reason,
            duplicate=not stored,
        )

    async def handle_delivery_report(self, report: DeliveryReport) -> bool:
        """Apply a delivery report; True if it changed the survey. Reports never move a survey backwards.

        One conditional update: accepted moves sending/uncertain on to sent, delivered moves any live
        survey to delivered, a failure report fails a survey that has no proof of delivery yet; a
        survey that failed only for want of evidence ("outcome-unknown") is revived by good news.
        """
        now = self.clock.now()
        unknown = FailReason.OUTCOME_UNKNOWN.value
        lease = {"lease_owner": None, "lease_until": None}
        if report.status is DeliveryStatus.ACCEPTED:
            target, sources, revive = SurveyState.SENT, [SurveyState.SENDING, SurveyState.UNCERTAIN], unknown
            values: dict[str, object] = {"sent_at": now, "reason": None, "finished_at": None, **lease}
        elif report.status is DeliveryStatus.DELIVERED:
            target, sources, revive = SurveyState.DELIVERED, list(_LIVE), unknown
            values = {
                "delivered_at": now,
                "reason": None,
                "finished_at": None,
                **lease,
            }
        else:
            reason = (
                FailReason.UNDELIVERABLE
                if report.status is DeliveryStatus.UNDELIVERABLE
                else FailReason.REJECTED
            )
            target, sources, revive = SurveyState.FAILED, list(_LIVE), None
            values = {
                "reason": reason.value,
                "last_error": report.detail[:200] or None,
                "finished_at": now,
                **lease,
            }
        applied = await self.store.apply_report(
            survey_id=report.survey_id,
            gateway=report.gateway,
            message_id=report.message_id,
            to_state=target,
            from_states=sources,
            also_failed_reason=revive,
            values=values,
            sent_at_if_missing=now,
        )
        if applied is None:
            log.debug(
                "survey delivery report changed nothing gateway=%s survey_id=%s message_id=%s status=%s",
                report.gateway,
                report.survey_id,
                report.message_id,
                report.status.value,
            )
            return False
        survey_id, call_id, number = applied
        if target is SurveyState.FAILED:
            await self.store.release_contact(number, survey_id)
        log.info(
            "survey delivery report call_id=%s survey_id=%s status=%s state=%s detail=%s",
            call_id,
            survey_id,
            report.status.value,
            target.value,
            report.detail[:60],
        )
        return True

    # -- reading ----------------------------------------------------------------------------------

    async def survey_for_call(self, call_id: str) -> SurveyView | None:
        """A call's survey and replies, or None."""
        record = await self.store.get_by_call(call_id)
        if record is None:
            return None
        return SurveyView(survey=record, replies=await self.store.replies_for(record.id))

    async def results(
        self, by: Dimension, since: datetime, until: datetime, filters: ResultFilter | None = None
    ) -> CsatReport:
        """CSAT grouped by agent, queue, skill, IVR outcome or day for calls that ended in [since, until)."""
        records = await self.store.result_rows(since, until)
        return build_report(records, by, since, until, self.config.report_timezone, filters or ResultFilter())

    async def outbox(self, states: list[SurveyState], limit: int = 100) -> list[SurveyRecord]:
        """The newest surveys in the given states (all states when empty)."""
        return await self.store.surveys(states, limit)

    async def unmatched(self, limit: int = 100) -> list[ReplyRecord]:
        """The newest replies that answer no survey."""
        return await self.store.unmatched(limit)


# States in which a survey may still be moved by a delivery report (forward only).
_LIVE = (SurveyState.SENDING, SurveyState.UNCERTAIN, SurveyState.SENT)


def _decision(record: SurveyRecord) -> SurveyDecision:
    return SurveyDecision(
        survey_id=record.id,
        call_id=record.call_id,
        state=record.state,
        reason=record.reason,
        due_at=record.due_at,
    )


def _checked_call_id(call_id: str) -> str:
    if (
        not isinstance(call_id, str)
        or not call_id.strip()
        or len(call_id) > _LABEL_MAX
        or not call_id.isprintable()
    ):
        raise ValueError(
            f"CallEnded.call_id must be 1-{_LABEL_MAX} printable characters, got {call_id!r:.80}"
        )
    return call_id


def _storable(text: str) -> str:
    """Text every database can hold: NUL (PostgreSQL refuses it) and lone surrogates become U+FFFD."""
    return "".join("\ufffd" if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch for ch in text)


def _label(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = "".join(ch for ch in value if ch.isprintable()).strip()[:_LABEL_MAX]
    return cleaned or None
