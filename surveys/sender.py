"""The outbox sender: claims due surveys, sends each at most once, retries only certain failures.

State machine (one conditional update per arrow, see README):
  pending -> sending (claimed, lease) -> sent | pending (certain failure, backoff) | failed | uncertain
  sending with an expired lease (the process died) -> uncertain
  uncertain -> sent/delivered on evidence (DLR, late answer, reply), else failed (outcome-unknown)
An uncertain survey is never sent again: a lost survey is a shrug, a duplicate is a complaint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from surveys.config import SurveyConfig
from surveys.gateways.base import GatewayRejected, GatewayUnavailable, GatewayUncertain, SmsGateway
from surveys.model import DispatchStats, FailReason, OutboundSms, SendReceipt, SkipReason, SurveyState
from surveys.phone import mask
from surveys.policy import hour_bucket, prefix_of, retry_delay
from surveys.store import SurveyRecord, SurveyStore
from switchboard.call_path import gate
from switchboard.clock import Clock

log = logging.getLogger(__name__)

_MIN_IDLE = 0.01  # never spin: even when something is due "now", yield this long between passes


# Accepted sends are recorded in groups of this size (one transaction each) instead of one by one.
_MARK_EVERY = 25


@dataclass
class _Tally:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    uncertain: int = 0
    skipped: int = 0
    accepted: list[tuple[SurveyRecord, SendReceipt]] = field(default_factory=list)
    marking: asyncio.Lock = field(default_factory=asyncio.Lock)


class SurveySender:
    """Sends due surveys through one gateway; several senders (processes) can share the outbox."""

    def __init__(
        self, store: SurveyStore, gateway: SmsGateway, config: SurveyConfig, clock: Clock, owner: str
    ) -> None:
        self._store = store
        self._gateway = gateway
        self._config = config
        self._clock = clock
        self._owner = owner
        self._paused_until: datetime | None = None
        self._pause_step = 0

    @property
    def paused_until(self) -> datetime | None:
        """When the gateway will next be tried after a failure (None: sending normally)."""
        return self._paused_until

    async def dispatch_due(self) -> DispatchStats:
        """One pass: recover abandoned work, then send what is due (unless the gateway is resting)."""
        now = self._clock.now()
        recovered = await self._recover(now)
        if self._paused_until is not None:
            if now < self._paused_until:
                return DispatchStats(recovered=recovered)
            if not await self._gateway.healthy():
                self._pause(now, "gateway still unhealthy", escalate=True)
                return DispatchStats(recovered=recovered)
            log.info("survey gateway=%s healthy again; resuming", self._gateway.name)
            self._paused_until, self._pause_step = None, 0
        claimed = await self._store.claim_due(
            now, self._config.batch_size, self._owner, now + self._config.lease
        )
        if not claimed:
            return DispatchStats(recovered=recovered)
        try:
            verdicts = await self._verdicts(claimed, now)
        except Exception:
            # Nothing reached the gateway yet: hand the surveys back rather than let them turn uncertain.
            for record in claimed:
                with contextlib.suppress(Exception):
                    await self._store.transition(
                        record.id,
                        [SurveyState.SENDING],
                        SurveyState.PENDING,
                        attempts=record.attempts - 1,
                        lease_owner=None,
                        lease_until=None,
                    )
            raise
        tally = _Tally()
        limit = asyncio.Semaphore(self._config.concurrency)
        async with asyncio.TaskGroup() as group:
            for record in claimed:
                group.create_task(self._send_guarded(record, verdicts[record.id], limit, tally))
        await self._mark_accepted(tally)
        return DispatchStats(
            claimed=len(claimed),
            sent=tally.sent,
            retried=tally.retried,
            failed=tally.failed,
            uncertain=tally.uncertain,
            skipped=tally.skipped,
            recovered=recovered,
        )

    async def _verdicts(self, claimed: list[SurveyRecord], now: datetime) -> dict[str, str]:
        """Per claimed survey: "send", "opted-out" (STOP came after scheduling) or "capped" (pumping cap)."""
        opted_out = await self._store.opted_out_among(r.number for r in claimed if r.number)
        prefixes = {r.id: prefix_of(r.number or "", self._config.prefix_digits) for r in claimed}
        wanted = Counter(prefixes[r.id] for r in claimed if r.number not in opted_out)
        granted = (
            await self._store.take_prefix_slots(
                dict(wanted), hour_bucket(now), self._config.prefix_hourly_cap
            )
            if wanted
            else {}
        )
        verdicts: dict[str, str] = {}
        for record in claimed:
            prefix = prefixes[record.id]
            if record.number in opted_out:
                verdicts[record.id] = "opted-out"
            elif granted.get(prefix, 0) > 0:
                granted[prefix] -= 1
                verdicts[record.id] = "send"
            else:
                verdicts[record.id] = "capped"
        return verdicts

    async def _mark_accepted(self, tally: _Tally) -> None:
        async with tally.marking:
            accepted, tally.accepted = tally.accepted, []
            if not accepted:
                return
            await self._store.mark_sent(
                [(record.id, receipt.gateway, receipt.message_id) for record, receipt in accepted],
                self._clock.now(),
            )
        tally.sent += len(accepted)
        for record, receipt in accepted:
            log.info(
                "survey sent call_id=%s survey_id=%s to=%s gateway=%s attempt=%d",
                record.call_id,
                record.id,
                mask(record.number),
                receipt.gateway,
                record.attempts,
            )

    async def _send_guarded(
        self, record: SurveyRecord, verdict: str, limit: asyncio.Semaphore, tally: _Tally
    ) -> None:
        async with limit:
            try:
                await self._send_one(record, verdict, tally)
            except Exception:
                # The row stays "sending"; its lease runs out and it becomes uncertain: never resent.
                log.exception("survey send step failed call_id=%s survey_id=%s", record.call_id, record.id)

    async def _send_one(self, record: SurveyRecord, verdict: str, tally: _Tally) -> None:
        now = self._clock.now()
        store = self._store
        if self._paused_until is not None:
            # The gateway failed meanwhile: hand the survey back without using up an attempt.
            await store.transition(
                record.id,
                [SurveyState.SENDING],
                SurveyState.PENDING,
                attempts=record.attempts - 1,
                lease_owner=None,
                lease_until=None,
            )
            return
        if verdict == "opted-out":
            if await store.transition(
                record.id,
                [SurveyState.SENDING],
                SurveyState.CANCELLED,
                reason=SkipReason.OPTED_OUT.value,
                finished_at=now,
            ):
                tally.skipped += 1
            return
        assert record.number is not None and record.body is not None
        if verdict == "capped":
            log.warning(
                "survey skipped: prefix hourly cap reached call_id=%s survey_id=%s prefix=%s cap=%d",
                record.call_id,
                record.id,
                prefix_of(record.number, self._config.prefix_digits),
                self._config.prefix_hourly_cap,
            )
            if await store.transition(
                record.id,
                [SurveyState.SENDING],
                SurveyState.SKIPPED,
                reason=SkipReason.PREFIX_CAP.value,
                finished_at=now,
            ):
                await store.release_contact(record.number, record.id)
                tally.skipped += 1
            return
        sms = OutboundSms(
            survey_id=record.id,
            attempt=record.attempts,
            to=record.number,
            sender=self._config.sender_id,
            text=record.body,
            call_id=record.call_id,
        )
        try:
            async with asyncio.timeout(self._config.send_timeout + 1.0):
                receipt = await self._gateway.send(sms)
        except GatewayUnavailable as exc:
            self._pause(self._clock.now(), str(exc))
            await self._retry_or_fail(record, str(exc), tally)
        except GatewayRejected as exc:
            log.warning(
                "survey rejected by gateway call_id=%s survey_id=%s to=%s error=%s",
                record.call_id,
                record.id,
                mask(record.number),
                exc,
            )
            if await store.transition(
                record.id,
                [SurveyState.SENDING],
                SurveyState.FAILED,
                reason=FailReason.REJECTED.value,
                last_error=str(exc)[:200],
                finished_at=self._clock.now(),
            ):
                await store.release_contact(record.number, record.id)
                tally.failed += 1
        except (GatewayUncertain, TimeoutError) as exc:
            error = str(exc) or "gateway call timed out"
            self._pause(self._clock.now(), error)
            log.warning(
                "survey send outcome unknown (will not resend) call_id=%s survey_id=%s error=%s",
                record.call_id,
                record.id,
                error,
            )
            if await store.transition(
                record.id,
                [SurveyState.SENDING],
                SurveyState.UNCERTAIN,
                last_error=error[:200],
                gateway=self._gateway.name,
            ):
                tally.uncertain += 1
        else:
            tally.accepted.append((record, receipt))
            if len(tally.accepted) >= _MARK_EVERY:
                await self._mark_accepted(tally)

    async def _retry_or_fail(self, record: SurveyRecord, error: str, tally: _Tally) -> None:
        now = self._clock.now()
        expired = record.expires_at is not None and now >= record.expires_at
        if record.attempts >= self._config.max_attempts or expired:
            reason = FailReason.EXPIRED if expired else FailReason.RETRIES_EXHAUSTED
            log.error(
                "survey failed call_id=%s survey_id=%s attempts=%d reason=%s error=%s",
                record.call_id,
                record.id,
                record.attempts,
                reason.value,
                error,
            )
            if await self._store.transition(
                record.id,
                [SurveyState.SENDING],
                SurveyState.FAILED,
                reason=reason.value,
                last_error=error[:200],
                finished_at=now,
            ):
                await self._store.release_contact(record.number, record.id)
                tally.failed += 1
            return
        delay = retry_delay(record.attempts, self._config.retry_initial, self._config.retry_max)
        log.warning(
            "survey send failed, retrying call_id=%s survey_id=%s attempt=%d in_s=%.0f error=%s",
            record.call_id,
            record.id,
            record.attempts,
            delay,
            error,
        )
        if await self._store.transition(
            record.id,
            [SurveyState.SENDING],
            SurveyState.PENDING,
            due_at=now + timedelta(seconds=delay),
            last_error=error[:200],
            lease_owner=None,
            lease_until=None,
        ):
            tally.retried += 1

    def _pause(self, now: datetime, why: str, *, escalate: bool = False) -> None:
        """Rest the gateway; concurrent failures share one rest, only failed probes lengthen it."""
        if self._paused_until is not None and not escalate:
            return
        delay = retry_delay(self._pause_step + 1, self._config.retry_initial, self._config.retry_max)
        self._pause_step += 1
        self._paused_until = now + timedelta(seconds=delay)
        log.warning("survey gateway=%s resting for %.0fs: %s", self._gateway.name, delay, why)

    async def _recover(self, now: datetime) -> int:
        """Abandoned leases become uncertain; old uncertain ones fail; stale pending ones expire."""
        store = self._store
        count = 0
        for record in await store.stale_leases(now):
            if await store.transition(
                record.id,
                [SurveyState.SENDING],
                SurveyState.UNCERTAIN,
                last_error="sender stopped mid-send (lease expired)",
            ):
                log.warning(
                    "survey lease expired; outcome unknown, not resending call_id=%s survey_id=%s",
                    record.call_id,
                    record.id,
                )
                count += 1
        for record in await store.uncertain_before(now - self._config.uncertain_window):
            if await store.transition(
                record.id,
                [SurveyState.UNCERTAIN],
                SurveyState.FAILED,
                reason=FailReason.OUTCOME_UNKNOWN.value,
                finished_at=now,
            ):
                log.warning(
                    "survey failed: no proof it was sent call_id=%s survey_id=%s", record.call_id, record.id
                )
                count += 1
        for record in await store.expired_pending(now):
            if await store.transition(
                record.id,
                [SurveyState.PENDING],
                SurveyState.FAILED,
                reason=FailReason.EXPIRED.value,
                finished_at=now,
            ):
                await store.release_contact(record.number, record.id)
                log.warning(
                    "survey expired unsent call_id=%s survey_id=%s last_error=%s",
                    record.call_id,
                    record.id,
                    record.last_error,
                )
                count += 1
        return count

    async def run(self, wakeup: asyncio.Event) -> None:
        """Send forever: after each pass sleep until the next survey is due, a wake-up, or the poll."""
        while True:
            claimed_all = False
            try:
                await gate.quiet()  # the call path first (switchboard/call_path.py)
                stats = await self.dispatch_due()
                claimed_all = stats.claimed >= self._config.batch_size
            except Exception:
                log.exception("survey sender pass failed; retrying after the poll interval")
            if claimed_all:
                await asyncio.sleep(0)
                continue
            await self._idle(await self._idle_delay(), wakeup)

    async def _idle_delay(self) -> float:
        delay = self._config.poll_interval
        now = self._clock.now()
        if self._paused_until is not None:
            return max(_MIN_IDLE, min(delay, (self._paused_until - now).total_seconds()))
        with contextlib.suppress(Exception):
            due = await self._store.next_due_at()
            if due is not None:
                delay = min(delay, (due - now).total_seconds())
        return max(_MIN_IDLE, delay)

    async def _idle(self, delay: float, wakeup: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(delay))
        waiter = asyncio.ensure_future(wakeup.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waiter):
                task.cancel()
            await asyncio.gather(sleeper, waiter, return_exceptions=True)
            wakeup.clear()
