"""The admin forms: what the user typed (kept to re-render on an error) and its conversion to API bodies.

Each form becomes the same pydantic body the JSON API takes (acd/api_models.py), so both are checked by
the same rules; a refusal becomes one plain sentence naming the field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from acd.api_models import AbsenceFields, AgentFields, QueueFields
from acd.model import AGENT_ID_RE, NAME_RE, Agent, Queue, RelaxAction, Strategy

MAX_SUBSTITUTE_ROWS = 32
MAX_STEP_ROWS = 20
SPARE_ROWS = 2  # empty rows offered after the filled ones (substitutes, relaxation steps)
SKILL_PREFIX = "skill-"
_SPLIT = re.compile(r"[\s,;]+")

AGENT_LABELS = {
    "id": "Agent id",
    "name": "Name",
    "endpoint": "Endpoint",
    "skills": "Skills",
    "regions": "Regions",
    "languages": "Languages",
    "timezone": "Time zone",
    "substitutes": "Substitutes",
}
QUEUE_LABELS = {
    "name": "Queue name",
    "skill": "Skill",
    "service_level_percent": "Service level %",
    "service_level_seconds": "Service level seconds",
    "wrap_up_seconds": "Wrap-up seconds",
    "ring_timeout_seconds": "Ring timeout seconds",
    "max_attempts": "Maximum attempts",
    "strategy": "Strategy",
    "min_proficiency": "Minimum proficiency",
    "announce_every_seconds": "Announce every (seconds)",
    "steps": "Relaxation step",
    "after_seconds": "after (seconds)",
    "action": "action",
    "value": "value",
}
ABSENCE_LABELS = {
    "agent_id": "Agent",
    "kind": "Kind",
    "starts_at": "From",
    "ends_at": "Until",
    "note": "Note",
}
# What to say instead of a regular expression.
HINTS = {
    "id": "letters, digits and '_.-', up to 64, starting with a letter or digit",
    "endpoint": "one device such as PJSIP/101",
    "languages": "codes such as en or pt-BR, separated by commas",
    "regions": "choose declared regions",
    "substitutes": "choose other agents",
    "agent_id": "choose an agent",
    "skill": "choose a declared skill",
}


class FormError(ValueError):
    """What the user typed cannot be a valid body; the message says which field and why."""


def text(form: FormData, name: str, limit: int = 200) -> str:
    """A form field as text, stripped and cut at ``limit`` characters ("" when absent or a file)."""
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def texts(form: FormData, name: str, limit: int = 200, most: int = 64) -> list[str]:
    """Every value of a repeated field (in the page's order), stripped, at most ``most`` of them."""
    return [v.strip()[:limit] for v in form.getlist(name)[:most] if isinstance(v, str)]


def number(raw: str, label: str, *, integer: bool = False) -> float:
    """A number field; FormError when empty, not a number, or not finite."""
    if not raw:
        raise FormError(f"{label}: enter a {'whole number' if integer else 'number'}.")
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise FormError(f"{label}: enter a {'whole number' if integer else 'number'}.") from None
    if not math.isfinite(value):
        raise FormError(f"{label}: enter a finite number.")
    return value


def friendly(exc: ValidationError, labels: dict[str, str]) -> str:
    """The first few problems of a body, each as "Field: what is wrong"."""
    seen: list[str] = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if p != "__root__"]
        field_name = str(loc[0]) if loc else ""
        hint = HINTS.get(field_name)
        if field_name == "steps" and len(loc) >= 3:
            where = f"Relaxation step {int(loc[1]) + 1}, {labels.get(str(loc[2]), str(loc[2]))}"
        else:
            where = labels.get(field_name, field_name or "Form")
        if hint and err["type"] in ("string_pattern_mismatch", "literal_error", "missing"):
            reason = hint
        else:
            reason = str(err.get("ctx", {}).get("error") or err["msg"])
            reason = reason[:1].lower() + reason[1:]
        sentence = f"{where}: {reason}."
        if sentence not in seen:
            seen.append(sentence)
    return " ".join(seen[:3]) or "The form is not valid."


def build(model: type[BaseModel], data: dict[str, Any], labels: dict[str, str]) -> Any:
    """``model`` from ``data``, or FormError with a readable reason."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FormError(friendly(exc, labels)) from None


@cache
def time_zones() -> tuple[str, ...]:
    """IANA zone names by region, plus UTC, sorted (the time-zone field's suggestions)."""
    regional = (z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    return ("UTC", *sorted(regional))


def zone_named(name: str) -> ZoneInfo | None:
    """The zone of a name a page sent back, or None (never trusts the text beyond a zone lookup)."""
    if not name or len(name) > 64 or not all(c.isalnum() or c in "/_+-" for c in name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# ---- agents ----


@dataclass
class AgentForm:
    """The agent form as typed: proficiency per skill ("" = none), substitutes in order."""

    id: str = ""
    name: str = ""
    endpoint: str = ""
    skills: dict[str, str] = field(default_factory=dict)
    regions: list[str] = field(default_factory=list)
    languages: str = ""
    timezone: str = "UTC"
    substitutes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, agent: Agent) -> AgentForm:
        return cls(
            id=agent.id,
            name=agent.name,
            endpoint=agent.endpoint,
            skills={s.skill: str(s.proficiency) for s in agent.skills},
            regions=sorted(agent.regions),
            languages=", ".join(sorted(agent.languages)),
            timezone=agent.timezone,
            substitutes=list(agent.substitutes),
        )

    @classmethod
    def read(cls, form: FormData) -> AgentForm:
        skills: dict[str, str] = {}
        for key, value in form.multi_items():
            if key.startswith(SKILL_PREFIX) and isinstance(value, str) and len(skills) < 256:
                skills[key[len(SKILL_PREFIX) :][:64]] = value.strip()[:2]
        return cls(
            id=text(form, "id", 64),
            name=text(form, "name", 200),
            endpoint=text(form, "endpoint", 100),
            skills=skills,
            regions=[r for r in texts(form, "region", 64, 256) if r],
            languages=text(form, "languages", 400),
            timezone=text(form, "timezone", 64) or "UTC",
            substitutes=[s for s in texts(form, "substitute", 64, MAX_SUBSTITUTE_ROWS) if s],
        )

    def substitute_rows(self) -> list[str]:
        """The substitutes in order plus a few empty rows to add more."""
        rows = [*self.substitutes, *[""] * SPARE_ROWS]
        return rows[: max(MAX_SUBSTITUTE_ROWS, len(self.substitutes))]

    def fields(self) -> AgentFields:
        """The API body; FormError when a field is not valid."""
        skills: dict[str, int] = {}
        for skill, level in self.skills.items():
            if not level:
                continue
            if not NAME_RE.fullmatch(skill):
                raise FormError("Skills: choose declared skills.")
            if not level.isdigit() or not 1 <= int(level) <= 5:
                raise FormError(f"Skills: the proficiency in {skill} must be 1 to 5.")
            skills[skill] = int(level)
        languages = list(dict.fromkeys(x for x in _SPLIT.split(self.languages) if x))
        data = {
            "name": self.name,
            "endpoint": self.endpoint,
            "skills": skills,
            "regions": list(dict.fromkeys(self.regions)),
            "languages": languages,
            "timezone": self.timezone,
            "substitutes": self.substitutes,
        }
        fields: AgentFields = build(AgentFields, data, AGENT_LABELS)
        return fields

    def checked_key(self) -> str:
        """The new agent's id, checked like the API checks it."""
        if not AGENT_ID_RE.fullmatch(self.id):
            raise FormError(f"Agent id: {HINTS['id']}.")
        return self.id

    def for_key(self, agent_id: str) -> AgentForm:
        """This form for the agent at ``agent_id`` (the URL's id wins over a posted one)."""
        return replace(self, id=agent_id)


# ---- queues ----


@dataclass
class StepForm:
    after: str = ""
    action: str = ""
    value: str = ""

    @property
    def blank(self) -> bool:
        return not (self.after or self.action or self.value)


@dataclass
class QueueForm:
    """The queue form as typed (numbers as text), relaxation steps in rows."""

    name: str = ""
    skill: str = ""
    service_level_percent: str = "80"
    service_level_seconds: str = "20"
    wrap_up_seconds: str = "30"
    ring_timeout_seconds: str = "20"
    max_attempts: str = "3"
    strategy: str = Strategy.PROFICIENCY_FIRST.value
    min_proficiency: str = "1"
    announce_every_seconds: str = "30"
    steps: list[StepForm] = field(default_factory=list)

    @classmethod
    def of(cls, queue: Queue) -> QueueForm:
        return cls(
            name=queue.name,
            skill=queue.skill,
            service_level_percent=plain_number(queue.service_level_percent),
            service_level_seconds=plain_number(queue.service_level_seconds),
            wrap_up_seconds=plain_number(queue.wrap_up_seconds),
            ring_timeout_seconds=str(queue.ring_timeout_seconds),
            max_attempts=str(queue.max_attempts),
            strategy=queue.strategy.value,
            min_proficiency=str(queue.min_proficiency),
            announce_every_seconds=str(queue.announce_every_seconds),
            steps=[StepForm(plain_number(s.after_seconds), s.action.value, s.value) for s in queue.steps],
        )

    @classmethod
    def read(cls, form: FormData) -> QueueForm:
        afters = texts(form, "step_after", 20, MAX_STEP_ROWS)
        actions = texts(form, "step_action", 40, MAX_STEP_ROWS)
        values = texts(form, "step_value", 64, MAX_STEP_ROWS)
        rows = max(len(afters), len(actions), len(values))

        def at(items: list[str], i: int) -> str:
            return items[i] if i < len(items) else ""

        return cls(
            name=text(form, "name", 64),
            skill=text(form, "skill", 64),
            service_level_percent=text(form, "service_level_percent", 20),
            service_level_seconds=text(form, "service_level_seconds", 20),
            wrap_up_seconds=text(form, "wrap_up_seconds", 20),
            ring_timeout_seconds=text(form, "ring_timeout_seconds", 20),
            max_attempts=text(form, "max_attempts", 20),
            strategy=text(form, "strategy", 40),
            min_proficiency=text(form, "min_proficiency", 2),
            announce_every_seconds=text(form, "announce_every_seconds", 20),
            steps=[StepForm(at(afters, i), at(actions, i), at(values, i)) for i in range(rows)],
        )

    def step_rows(self) -> list[StepForm]:
        """The steps as typed plus a few empty rows to add more."""
        filled = [s for s in self.steps if not s.blank]
        return [*filled, *[StepForm() for _ in range(SPARE_ROWS)]][: max(MAX_STEP_ROWS, len(filled))]

    def checked_key(self) -> str:
        """The new queue's name, checked like the API checks it."""
        if not NAME_RE.fullmatch(self.name):
            raise FormError(
                "Queue name: lower-case letters, digits and '_.-', up to 64, starting with a letter or digit."
            )
        return self.name

    def for_key(self, name: str) -> QueueForm:
        """This form for the queue ``name`` (the URL's name wins over a posted one)."""
        return replace(self, name=name)

    def fields(self) -> QueueFields:
        """The API body; FormError when a field is not valid."""
        steps: list[dict[str, Any]] = []
        for i, step in enumerate(s for s in self.steps if not s.blank):
            label = f"Relaxation step {i + 1}"
            if not step.action:
                raise FormError(f"{label}: choose an action.")
            steps.append(
                {
                    "after_seconds": number(step.after, f"{label}, after (seconds)"),
                    "action": step.action,
                    "value": step.value,
                }
            )
        data = {
            "skill": self.skill,
            "service_level_percent": number(self.service_level_percent, "Service level %"),
            "service_level_seconds": number(self.service_level_seconds, "Service level seconds"),
            "wrap_up_seconds": number(self.wrap_up_seconds, "Wrap-up seconds"),
            "ring_timeout_seconds": number(self.ring_timeout_seconds, "Ring timeout seconds", integer=True),
            "max_attempts": number(self.max_attempts, "Maximum attempts", integer=True),
            "strategy": self.strategy,
            "min_proficiency": number(self.min_proficiency, "Minimum proficiency", integer=True),
            "announce_every_seconds": number(
                self.announce_every_seconds, "Announce every (seconds)", integer=True
            ),
            "steps": steps,
        }
        fields: QueueFields = build(QueueFields, data, QUEUE_LABELS)
        return fields


def plain_number(value: float) -> str:
    """30.0 -> "30", 5.5 -> "5.5" (what a person would type)."""
    return str(int(value)) if float(value).is_integer() else str(value)


STEP_ACTIONS = tuple(a.value for a in RelaxAction)
STRATEGIES = tuple(s.value for s in Strategy)


# ---- absences ----


@dataclass
class AbsenceForm:
    """The absence form as typed: ``starts``/``ends`` are the viewer's local date and time."""

    agent_id: str = ""
    kind: str = "leave"
    starts: str = ""
    ends: str = ""
    note: str = ""

    @classmethod
    def read(cls, form: FormData) -> AbsenceForm:
        return cls(
            agent_id=text(form, "agent_id", 64),
            kind=text(form, "kind", 20),
            starts=text(form, "starts", 40),
            ends=text(form, "ends", 40),
            note=text(form, "note", 500),
        )

    def fields(self, zone: ZoneInfo) -> AbsenceFields:
        """The API body with the times read in ``zone``; FormError when a field is not valid."""
        starts = local_time(self.starts, zone, "From")
        ends = local_time(self.ends, zone, "Until")
        if ends <= starts:
            raise FormError("Until must be later than From.")
        data = {
            "agent_id": self.agent_id,
            "kind": self.kind,
            "starts_at": starts.isoformat(),
            "ends_at": ends.isoformat(),
            "note": self.note,
        }
        fields: AbsenceFields = build(AbsenceFields, data, ABSENCE_LABELS)
        return fields


def local_time(raw: str, zone: ZoneInfo, label: str) -> datetime:
    """A ``datetime-local`` value (``2026-01-05T08:00``) in ``zone``, as UTC; FormError when not a time."""
    if not raw:
        raise FormError(f"{label}: enter a date and time.")
    try:
        naive = datetime.fromisoformat(raw)
    except ValueError:
        raise FormError(f"{label}: enter a date and time such as 2026-01-05 08:00.") from None
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    local = naive.replace(tzinfo=zone)
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise FormError(f"{label}: {raw.replace('T', ' ')} does not exist in {zone.key} (the clocks change).")
    return local.astimezone(UTC)
