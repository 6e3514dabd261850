"""Survey persistence (SQLAlchemy, SQLite or PostgreSQL): every state change is one conditional update.

Conditional updates ("set SENT where id = X and state = SENDING") make the outbox safe with several
controllers on one database and with delivery reports racing the sender: whoever changes a row
first wins, and the loser sees ``False`` instead of overwriting.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, delete, func, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from surveys.model import SurveyState
from surveys.tables import ContactRow, OptOutRow, PrefixCountRow, ReplyRow, SurveyRow, UnmatchedReplyRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SurveyRecord:
    """A survey row as plain data."""

    id: str
    call_id: str
    state: SurveyState
    reason: str | None
    number: str | None
    region: str | None
    language: str
    body: str | None
    agent_id: str | None
    queue: str | None
    skill: str | None
    ivr_outcome: str | None
    call_ended_at: datetime
    created_at: datetime
    due_at: datetime | None
    expires_at: datetime | None
    attempts: int
    attempted_at: datetime | None
    last_error: str | None
    gateway: str | None
    gateway_message_id: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    finished_at: datetime | None
    rating: int | None
    rated_at: datetime | None


@dataclass(frozen=True)
class ReplyRecord:
    """A stored inbound SMS (matched: ``survey_id`` set; unmatched: ``reason`` set)."""

    id: str
    received_at: datetime
    sender: str
    number: str | None
    text: str
    kind: str
    rating: int | None
    comment: str | None = None
    survey_id: str | None = None
    reason: str | None = None
    gateway: str = ""


_RECORD_FIELDS = [f.name for f in dataclasses.fields(SurveyRecord)]


def _record(row: SurveyRow) -> SurveyRecord:
    values = {name: getattr(row, name) for name in _RECORD_FIELDS}
    values["state"] = SurveyState(row.state)
    values["attempts"] = row.attempts or 0
    return SurveyRecord(**values)


class SurveyStore:
    """All SQL the survey domain runs."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # -- scheduling -------------------------------------------------------------------------------

    async def get_by_call(self, call_id: str) -> SurveyRecord | None:
        """The survey of a call, if one was decided."""
        async with self._sessions() as session:
            row = await session.scalar(select(SurveyRow).where(SurveyRow.call_id == call_id))
            return _record(row) if row else None

    async def get(self, survey_id: str) -> SurveyRecord | None:
        """A survey by id."""
        async with self._sessions() as session:
            row = await session.get(SurveyRow, survey_id)
            return _record(row) if row else None

    async def create(
        self, values: dict[str, Any], *, reserve_cutoff: datetime | None
    ) -> tuple[SurveyRecord, bool]:
        """Insert a survey; ``(record, created)``. A second insert for the same call returns the first.

        With ``reserve_cutoff`` a pending survey also takes its number's slot, unless another survey
        took it after the cutoff: then it is stored as skipped (recently surveyed), in one transaction.
        """
        try:
            async with self._sessions() as session, session.begin():
                row = SurveyRow(**values)
                session.add(row)
                await session.flush()
                if (
                    reserve_cutoff is not None
                    and row.state == SurveyState.PENDING
                    and row.number
                    and not await self._reserve(session, row.number, row.id, row.created_at, reserve_cutoff)
                ):
                    row.state = SurveyState.SKIPPED
                    row.reason = "recently-surveyed"
                    row.due_at = None
                    row.finished_at = row.created_at
                record = _record(row)
            return record, True
        except IntegrityError:
            existing = await self.get_by_call(values["call_id"])
            if existing is None:
                raise
            return existing, False

    async def _reserve(
        self, session: AsyncSession, number: str, survey_id: str, now: datetime, cutoff: datetime
    ) -> bool:
        insert = _insert_for(session)(ContactRow).values(number=number, survey_id=survey_id, reserved_at=now)
        result = await session.execute(insert.on_conflict_do_nothing(index_elements=["number"]))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return True
        taken = await session.execute(
            update(ContactRow)
            .where(ContactRow.number == number, ContactRow.reserved_at < cutoff)
            .values(survey_id=survey_id, reserved_at=now)
        )
        return taken.rowcount == 1  # type: ignore[attr-defined]

    async def release_contact(self, number: str | None, survey_id: str) -> None:
        """Give a number's slot back (its survey never reached the phone)."""
        if not number:
            return
        async with self._sessions() as session, session.begin():
            await session.execute(
                delete(ContactRow).where(ContactRow.number == number, ContactRow.survey_id == survey_id)
            )

    # -- opt-outs ---------------------------------------------------------------------------------

    async def is_opted_out(self, number: str) -> bool:
        """True while the number's last word was STOP."""
        async with self._sessions() as session:
            return bool(await session.scalar(select(OptOutRow.opted_out).where(OptOutRow.number == number)))

    async def opted_out_among(self, numbers: Iterable[str]) -> set[str]:
        """Which of these numbers are opted out."""
        wanted = list(set(numbers))
        if not wanted:
            return set()
        async with self._sessions() as session:
            rows = await session.scalars(
                select(OptOutRow.number).where(OptOutRow.number.in_(wanted), OptOutRow.opted_out.is_(True))
            )
            return set(rows)

    async def set_opt_out(self, number: str, opted_out: bool, keyword: str, now: datetime) -> int:
        """Record STOP or START; on STOP also cancel the number's unsent surveys (how many returned)."""
        async with self._sessions() as session, session.begin():
            insert = _insert_for(session)(OptOutRow).values(
                number=number, opted_out=opted_out, keyword=keyword[:32], changed_at=now
            )
            await session.execute(
                insert.on_conflict_do_update(
                    index_elements=["number"],
                    set_={"opted_out": opted_out, "keyword": keyword[:32], "changed_at": now},
                )
            )
            if not opted_out:
                return 0
            result = await session.execute(
                update(SurveyRow)
                .where(SurveyRow.number == number, SurveyRow.state == SurveyState.PENDING)
                .values(state=SurveyState.CANCELLED, reason="opted-out", finished_at=now)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    # -- sending ----------------------------------------------------------------------------------

    async def claim_due(
        self, now: datetime, limit: int, owner: str, lease_until: datetime
    ) -> list[SurveyRecord]:
        """Atomically move up to ``limit`` due pending surveys to sending, leased to ``owner``."""
        # PostgreSQL: rows another controller is claiming are skipped rather than waited for, so a
        # second controller takes the next batch instead of re-reading the first one's. The ids are
        # read first because a LIMIT ... SKIP LOCKED subquery inside the UPDATE may be re-run by the
        # planner and hand out more than ``limit`` rows. SQLite has one writer and renders no lock.
        due = (
            select(SurveyRow.id)
            .where(SurveyRow.state == SurveyState.PENDING, SurveyRow.due_at <= now)
            .order_by(SurveyRow.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self._sessions() as session, session.begin():
            ids = list((await session.scalars(due)).all())
            if not ids:
                return []
            stmt = (
                update(SurveyRow)
                .where(SurveyRow.id.in_(ids), SurveyRow.state == SurveyState.PENDING)
                .values(
                    state=SurveyState.SENDING,
                    lease_owner=owner,
                    lease_until=lease_until,
                    attempts=SurveyRow.attempts + 1,
                    attempted_at=now,
                )
                .returning(SurveyRow)
                .execution_options(synchronize_session=False)
            )
            rows = (await session.scalars(stmt)).all()
            return sorted((_record(r) for r in rows), key=lambda r: (r.due_at or now, r.id))

    async def transition(
        self,
        survey_id: str,
        from_states: Sequence[SurveyState],
        to_state: SurveyState,
        *,
        only_reason: str | None = None,
        **values: Any,
    ) -> bool:
        """Change a survey's state only if it is in one of ``from_states`` (and, if given, has
        ``only_reason``); True if this call changed it."""
        where = [SurveyRow.id == survey_id, SurveyRow.state.in_([s.value for s in from_states])]
        if only_reason is not None:
            where.append(SurveyRow.reason == only_reason)
        return await self._update(where, {"state": to_state, **values})

    async def transition_with_message_id(
        self,
        survey_id: str,
        from_states: Sequence[SurveyState],
        to_state: SurveyState,
        *,
        gateway: str,
        message_id: str | None,
        only_reason: str | None = None,
        **values: Any,
    ) -> bool:
        """Like ``transition``, also recording the gateway's message id (dropped if another survey has it)."""
        try:
            return await self.transition(
                survey_id,
                from_states,
                to_state,
                only_reason=only_reason,
                gateway=gateway,
                gateway_message_id=message_id,
                **values,
            )
        except IntegrityError:
            log.warning(
                "gateway reused a message id gateway=%s message_id=%s survey_id=%s; not recorded",
                gateway,
                message_id,
                survey_id,
            )
            return await self.transition(
                survey_id, from_states, to_state, only_reason=only_reason, gateway=gateway, **values
            )

    async def _update(self, where: list[ColumnElement[bool]], values: dict[str, Any]) -> bool:
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(SurveyRow).where(*where).values(**values).execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def apply_report(
        self,
        *,
        survey_id: str | None,
        gateway: str,
        message_id: str | None,
        to_state: SurveyState,
        from_states: Sequence[SurveyState],
        also_failed_reason: str | None,
        values: dict[str, Any],
        sent_at_if_missing: datetime | None = None,
    ) -> tuple[str, str, str | None] | None:
        """One conditional update for a delivery report: (survey_id, call_id, number) if it applied.

        The survey is found by our id or by the gateway's message id; the gateway's id is recorded
        when the survey has none yet.
        """
        allowed = SurveyRow.state.in_([s.value for s in from_states])
        if also_failed_reason is not None:
            allowed = allowed | (
                (SurveyRow.state == SurveyState.FAILED) & (SurveyRow.reason == also_failed_reason)
            )
        if survey_id:
            target = SurveyRow.id == survey_id
        elif message_id:
            target = (SurveyRow.gateway == gateway) & (SurveyRow.gateway_message_id == message_id)
        else:
            return None
        full = {"state": to_state, **values}
        if sent_at_if_missing is not None and "sent_at" not in full:
            full["sent_at"] = func.coalesce(SurveyRow.sent_at, sent_at_if_missing)
        if message_id and survey_id:
            full["gateway_message_id"] = func.coalesce(SurveyRow.gateway_message_id, message_id)
        stmt = (
            update(SurveyRow)
            .where(target, allowed)
            .values(**full)
            .returning(SurveyRow.id, SurveyRow.call_id, SurveyRow.number)
            .execution_options(synchronize_session=False)
        )
        try:
            async with self._sessions() as session, session.begin():
                row = (await session.execute(stmt)).first()
        except IntegrityError:
            full.pop("gateway_message_id", None)
            async with self._sessions() as session, session.begin():
                row = (await session.execute(stmt.values(**full))).first()
        return (row[0], row[1], row[2]) if row else None

    async def note_message_id(self, survey_id: str, gateway: str, message_id: str) -> bool:
        """Record the gateway's id for a survey that has none yet (it came with a delivery report)."""
        try:
            return await self._update(
                [SurveyRow.id == survey_id, SurveyRow.gateway_message_id.is_(None)],
                {"gateway": gateway, "gateway_message_id": message_id},
            )
        except IntegrityError:
            log.warning(
                "gateway reused a message id gateway=%s message_id=%s survey_id=%s; not recorded",
                gateway,
                message_id,
                survey_id,
            )
            return False

    async def take_prefix_slots(self, wanted: dict[str, int], hour: datetime, cap: int) -> dict[str, int]:
        """Count sends per prefix for this hour without passing ``cap``; how many each prefix may send.

        One transaction for a whole batch: each prefix takes all it wants in one conditional update,
        and only a prefix at its cap is handed out one slot at a time.
        """
        granted: dict[str, int] = {}
        # A fixed order, so two controllers capping the same prefixes lock their rows in the same order.
        wanted = dict(sorted(wanted.items()))
        async with self._sessions() as session, session.begin():
            insert = _insert_for(session)(PrefixCountRow)
            await session.execute(
                insert.on_conflict_do_nothing(index_elements=["prefix", "hour"]),
                [{"prefix": prefix, "hour": hour, "count": 0} for prefix in wanted],
            )
            for prefix, count in wanted.items():
                where = (PrefixCountRow.prefix == prefix, PrefixCountRow.hour == hour)
                result = await session.execute(
                    update(PrefixCountRow)
                    .where(*where, PrefixCountRow.count + count <= cap)
                    .values(count=PrefixCountRow.count + count)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    granted[prefix] = count
                    continue
                granted[prefix] = 0
                for _ in range(count):
                    one = await session.execute(
                        update(PrefixCountRow)
                        .where(*where, PrefixCountRow.count < cap)
                        .values(count=PrefixCountRow.count + 1)
                    )
                    if one.rowcount != 1:  # type: ignore[attr-defined]
                        break
                    granted[prefix] += 1
        return granted

    async def mark_sent(self, accepted: list[tuple[str, str, str | None]], now: datetime) -> int:
        """Move many surveys from sending to sent in one transaction: (survey_id, gateway, message_id).

        A survey a delivery report already moved on is left alone. How many rows changed is returned.
        """
        if not accepted:
            return 0
        rows = [
            {"sid": sid, "gw": gateway, "mid": message_id, "now": now}
            for sid, gateway, message_id in accepted
        ]
        stmt = (
            update(SurveyRow)
            .where(SurveyRow.id == bindparam("sid"), SurveyRow.state == SurveyState.SENDING)
            .values(
                state=SurveyState.SENT,
                gateway=bindparam("gw"),
                gateway_message_id=bindparam("mid"),
                sent_at=bindparam("now"),
                lease_owner=None,
                lease_until=None,
                last_error=None,
            )
        )
        try:
            async with self._sessions() as session, session.begin():
                connection = await session.connection()
                result = await connection.execute(stmt, rows)
                return int(result.rowcount)
        except IntegrityError:
            changed = 0
            for sid, gateway, message_id in accepted:  # one reused message id spoils the batch: go one by one
                changed += await self.transition_with_message_id(
                    sid,
                    [SurveyState.SENDING],
                    SurveyState.SENT,
                    gateway=gateway,
                    message_id=message_id,
                    sent_at=now,
                    lease_owner=None,
                    lease_until=None,
                    last_error=None,
                )
            return changed

    async def stale_leases(self, now: datetime) -> list[SurveyRecord]:
        """Surveys left in sending by a process that stopped (lease expired)."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(SurveyRow).where(SurveyRow.state == SurveyState.SENDING, SurveyRow.lease_until < now)
            )
            return [_record(r) for r in rows]

    async def uncertain_before(self, cutoff: datetime) -> list[SurveyRecord]:
        """Uncertain surveys whose last attempt started before ``cutoff`` (no evidence came)."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(SurveyRow).where(
                    SurveyRow.state == SurveyState.UNCERTAIN, SurveyRow.attempted_at < cutoff
                )
            )
            return [_record(r) for r in rows]

    async def expired_pending(self, now: datetime) -> list[SurveyRecord]:
        """Pending surveys past their expiry."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(SurveyRow).where(SurveyRow.state == SurveyState.PENDING, SurveyRow.expires_at < now)
            )
            return [_record(r) for r in rows]

    async def next_due_at(self) -> datetime | None:
        """When the earliest pending survey falls due."""
        async with self._sessions() as session:
            return await session.scalar(
                select(func.min(SurveyRow.due_at)).where(SurveyRow.state == SurveyState.PENDING)
            )

    async def find_by_message_id(self, gateway: str, message_id: str) -> SurveyRecord | None:
        """The survey a gateway message id belongs to."""
        async with self._sessions() as session:
            row = await session.scalar(
                select(SurveyRow).where(
                    SurveyRow.gateway == gateway, SurveyRow.gateway_message_id == message_id
                )
            )
            return _record(row) if row else None

    # -- replies ----------------------------------------------------------------------------------

    async def reply_seen(self, gateway: str, message_id: str) -> str | None:
        """The id of an already stored reply with this gateway message id (a redelivery)."""
        matched = select(ReplyRow.id).where(
            ReplyRow.gateway == gateway, ReplyRow.gateway_message_id == message_id
        )
        unmatched = select(UnmatchedReplyRow.id).where(
            UnmatchedReplyRow.gateway == gateway, UnmatchedReplyRow.gateway_message_id == message_id
        )
        async with self._sessions() as session:
            found = await session.scalar(union_all(matched, unmatched).limit(1))
            return str(found) if found else None

    async def reply_target(
        self, number: str, since: datetime, states: Sequence[SurveyState], extra_failed_reason: str
    ) -> SurveyRecord | None:
        """The most recently attempted survey to ``number`` since ``since`` that a reply can answer."""
        async with self._sessions() as session:
            row = await session.scalar(
                select(SurveyRow)
                .where(
                    SurveyRow.number == number,
                    SurveyRow.attempted_at >= since,
                    SurveyRow.state.in_([s.value for s in states])
                    | ((SurveyRow.state == SurveyState.FAILED) & (SurveyRow.reason == extra_failed_reason)),
                )
                .order_by(SurveyRow.attempted_at.desc(), SurveyRow.id.desc())
                .limit(1)
            )
            return _record(row) if row else None

    async def ever_attempted(self, number: str) -> bool:
        """Whether any survey was ever handed to a gateway for this number."""
        async with self._sessions() as session:
            found = await session.scalar(
                select(SurveyRow.id)
                .where(SurveyRow.number == number, SurveyRow.attempted_at.is_not(None))
                .limit(1)
            )
            return found is not None

    async def add_reply(
        self, reply: ReplyRow, *, rating_at: datetime | None, promote_from: Sequence[SurveyState]
    ) -> bool:
        """Store a matched reply; a rating becomes the survey's rating; a reply proves delivery.

        Returns False when the gateway message id was stored already (a redelivery).
        """
        promotable = SurveyRow.state.in_([s.value for s in promote_from])
        values: dict[str, Any] = {
            "state": case((promotable, SurveyState.DELIVERED.value), else_=SurveyRow.state),
            "delivered_at": case((promotable, reply.received_at), else_=SurveyRow.delivered_at),
            "reason": case((promotable, None), else_=SurveyRow.reason),
        }
        if reply.rating is not None:
            values.update(rating=reply.rating, rated_at=rating_at)
        try:
            async with self._sessions() as session, session.begin():
                session.add(reply)
                await session.flush()
                await session.execute(
                    update(SurveyRow)
                    .where(SurveyRow.id == reply.survey_id)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
            return True
        except IntegrityError:
            return False

    async def add_unmatched(self, reply: UnmatchedReplyRow) -> bool:
        """Store an unmatched reply; False when it was stored already (a redelivery)."""
        try:
            async with self._sessions() as session, session.begin():
                session.add(reply)
            return True
        except IntegrityError:
            return False

    # -- reading ----------------------------------------------------------------------------------

    async def replies_for(self, survey_id: str) -> list[ReplyRecord]:
        """A survey's replies, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ReplyRow)
                .where(ReplyRow.survey_id == survey_id)
                .order_by(ReplyRow.received_at, ReplyRow.id)
            )
            return [
                ReplyRecord(
                    id=r.id,
                    received_at=r.received_at,
                    sender=r.sender,
                    number=r.number,
                    text=r.text,
                    kind=r.kind,
                    rating=r.rating,
                    comment=r.comment,
                    survey_id=r.survey_id,
                    gateway=r.gateway,
                )
                for r in rows
            ]

    async def unmatched(self, limit: int, since: datetime | None = None) -> list[ReplyRecord]:
        """The newest unmatched replies."""
        stmt = select(UnmatchedReplyRow).order_by(UnmatchedReplyRow.received_at.desc()).limit(limit)
        if since is not None:
            stmt = stmt.where(UnmatchedReplyRow.received_at >= since)
        async with self._sessions() as session:
            rows = await session.scalars(stmt)
            return [
                ReplyRecord(
                    id=r.id,
                    received_at=r.received_at,
                    sender=r.sender,
                    number=r.number,
                    text=r.text,
                    kind=r.kind,
                    rating=r.rating,
                    reason=r.reason,
                    gateway=r.gateway,
                )
                for r in rows
            ]

    async def surveys(self, states: Sequence[SurveyState], limit: int) -> list[SurveyRecord]:
        """The newest surveys in some states (the outbox view)."""
        stmt = select(SurveyRow).order_by(SurveyRow.created_at.desc(), SurveyRow.id.desc()).limit(limit)
        if states:
            stmt = stmt.where(SurveyRow.state.in_([s.value for s in states]))
        async with self._sessions() as session:
            return [_record(r) for r in await session.scalars(stmt)]

    async def result_rows(self, since: datetime, until: datetime) -> list[SurveyRecord]:
        """Surveys of calls that ended in ``[since, until)`` and were sent or answered."""
        reached = [SurveyState.SENT, SurveyState.DELIVERED, SurveyState.UNCERTAIN]
        async with self._sessions() as session:
            rows = await session.scalars(
                select(SurveyRow).where(
                    SurveyRow.call_ended_at >= since,
                    SurveyRow.call_ended_at < until,
                    SurveyRow.state.in_([s.value for s in reached]) | SurveyRow.rating.is_not(None),
                )
            )
            return [_record(r) for r in rows]


def _insert_for(session: AsyncSession) -> Any:
    """The dialect's INSERT (both SQLite and PostgreSQL have ON CONFLICT)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"surveys need SQLite or PostgreSQL, not {name}")
