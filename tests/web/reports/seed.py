"""Records of two past days (UTC) written straight into the controller's SQL: calls, self-service, surveys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from acd.tables import QueueCallRow
from ivr.store import ScriptRunRow
from surveys.tables import SurveyRow
from switchboard.ids import new_id

SCRIPT_AGENT = "<script>window.pwned=1</script>"
FORMULA_AGENT = '=HYPERLINK("http://evil.example")'


@dataclass(frozen=True)
class Seeded:
    first: date  # two days ago (UTC)
    last: date  # yesterday (UTC)

    def query(self, **extra: str) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "tz": "UTC", **extra}


def _call(n: str, queue: str, at: datetime, *, answer: float | None = None, talk: float = 60.0,
          abandon: float | None = None, agent: str | None = None) -> QueueCallRow:  # fmt: skip
    answered = at + timedelta(seconds=answer) if answer is not None else None
    abandoned = at + timedelta(seconds=abandon) if abandon is not None else None
    ended = answered + timedelta(seconds=talk) if answered else abandoned
    return QueueCallRow(
        call_id=n, queue=queue, skill=queue, enqueued_at=at, answered_at=answered, abandoned_at=abandoned,
        ended_at=ended, outcome="completed" if answered else "abandoned", agent_id=agent,
        wait_seconds=(answer if answer is not None else abandon),
    )  # fmt: skip


def _survey(call_id: str, ended: datetime, queue: str, agent: str | None, rating: int | None) -> SurveyRow:
    return SurveyRow(
        id=new_id(), call_id=call_id, state="delivered", language="en", call_ended_at=ended, created_at=ended,
        queue=queue, agent_id=agent, rating=rating, attempts=1,
    )  # fmt: skip


async def seed_records(sessions: Any) -> Seeded:
    """Day 1: billing in and out of target, a sales abandon; day 2: three answered calls (hostile agent ids).

    With billing's wrap-up of 10 s and 60 s talks: day 1 has SL 1/3, ASA 22.5 s, AHT 70 s, deflection 2/3,
    CSAT 1/2; day 2 has SL 100 %, deflection 0/1, CSAT 1/1.
    """
    last = datetime.now(UTC).date() - timedelta(days=1)
    first = last - timedelta(days=1)
    d1 = datetime.combine(first, time(10, 0), tzinfo=UTC)
    d2 = datetime.combine(last, time(10, 0), tzinfo=UTC)
    tag = new_id()[-8:]
    rows: list[Any] = [
        _call(f"r1-{tag}", "billing", d1, answer=5, agent="a1"),
        _call(f"r2-{tag}", "billing", d1 + timedelta(minutes=5), answer=40, agent="a2"),
        _call(f"r3-{tag}", "sales", d1 + timedelta(minutes=9), abandon=30),
        _call(f"r4-{tag}", "sales", d2, answer=10, agent="a3"),
        _call(f"r5-{tag}", "billing", d2 + timedelta(minutes=1), answer=8, agent=SCRIPT_AGENT),
        _call(f"r6-{tag}", "billing", d2 + timedelta(minutes=2), answer=3, agent=FORMULA_AGENT),
        _survey(f"r1-{tag}", d1 + timedelta(minutes=2), "billing", "a1", 5),
        _survey(f"r2-{tag}", d1 + timedelta(minutes=7), "billing", "a2", 2),
        _survey(f"r4-{tag}", d2 + timedelta(minutes=2), "sales", "a3", 4),
        _survey(f"r5-{tag}", d2 + timedelta(minutes=3), "billing", SCRIPT_AGENT, None),
    ]
    for n, (at, resolved) in enumerate([(d1, True), (d1, True), (d1, False), (d2, False)]):
        done = at + timedelta(minutes=1) if resolved else None
        rows.append(ScriptRunRow(script="restart", call_id=f"s{n}-{tag}", caller_number=None, started_at=at,
                                 resolved_at=done))  # fmt: skip
    async with sessions() as session, session.begin():
        session.add_all(rows)
    return Seeded(first, last)
