"""Compact encodings: calls and agent states as stored in Redis, and the configuration as a plain dict.

Redis JSON uses short keys (memory per waiting call is a target) and "" for "none", because the Lua
scripts read and rewrite some fields with cjson, which has no good null.
The configuration dict is the same shape as the YAML import format (see acd/importer.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from acd.errors import AcdValidationError
from acd.model import (
    Absence,
    AcdConfig,
    Agent,
    AgentSkill,
    AgentState,
    AgentStatus,
    CallStatus,
    PreferenceKind,
    Queue,
    RelaxationStep,
    VipEntry,
    WaitingCall,
    from_ms,
    to_ms,
)


def _ms(when: datetime | None) -> int:
    return to_ms(when) if when is not None else 0


def _dt(ms: Any) -> datetime | None:
    return from_ms(ms) if ms else None


def call_to_json(call: WaitingCall) -> str:
    """A call as the compact JSON the store keeps."""
    return json.dumps(
        {
            "id": call.call_id,
            "q": call.queue,
            "sk": call.skill,
            "ch": call.channel,
            "u": call.uniqueid,
            "t": to_ms(call.enqueued_at),
            "n": call.caller_number,
            "nm": call.caller_name,
            "p": call.priority,
            "rg": call.region or "",
            "lg": call.language or "",
            "v": int(call.vip),
            "a": call.attempts,
            "pa": call.preferred_agent or "",
            "pk": call.preference.value if call.preference else "",
            "st": call.status.value,
            "ag": call.agent_id or "",
            "cb": int(call.callback),
            "cn": call.callback_number,
            "oq": call.original_queue,
            "why": call.reason,
            "at": _ms(call.assigned_at),
            "an": _ms(call.answered_at),
            "rs": int(call.redirect_sent),
            "o": call.owner,
            "al": call.agent_leg,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


# A routing decision re-reads the same head of each queue again and again (a call's record changes only when
# the call does): decoded records are immutable, so the decoder keeps the last few thousand by content.
DECODED_CALLS_KEPT = 4096
DECODED_STATES_KEPT = 2048


def call_from_json(raw: str | bytes) -> WaitingCall:
    """A call from the store's JSON (memoised by content: the result is immutable)."""
    return _decode_call(raw)


@lru_cache(maxsize=DECODED_CALLS_KEPT)
def _decode_call(raw: str | bytes) -> WaitingCall:
    d = orjson.loads(raw)
    return WaitingCall(
        call_id=d["id"],
        queue=d["q"],
        skill=d["sk"],
        channel=d.get("ch", ""),
        uniqueid=d.get("u", ""),
        enqueued_at=from_ms(d["t"]),
        caller_number=d.get("n", ""),
        caller_name=d.get("nm", ""),
        priority=int(d.get("p", 0)),
        region=d.get("rg") or None,
        language=d.get("lg") or None,
        vip=bool(d.get("v")),
        attempts=int(d.get("a", 0)),
        preferred_agent=d.get("pa") or None,
        preference=PreferenceKind(d["pk"]) if d.get("pk") else None,
        status=CallStatus(d.get("st", "waiting")),
        agent_id=d.get("ag") or None,
        callback=bool(d.get("cb")),
        callback_number=d.get("cn", ""),
        original_queue=d.get("oq", ""),
        reason=d.get("why", ""),
        assigned_at=_dt(d.get("at")),
        answered_at=_dt(d.get("an")),
        redirect_sent=bool(d.get("rs")),
        owner=d.get("o", ""),
        agent_leg=d.get("al", ""),
    )


def status_to_json(s: AgentStatus) -> str:
    return json.dumps(
        {
            "s": s.state.value,
            "r": s.reason,
            "c": s.call_id,
            "t": _ms(s.since),
            "i": _ms(s.idle_since),
            "n": s.calls_taken,
            "g": int(s.registered),
            "d": int(s.direct_call),
            "u": _ms(s.until),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def status_from_json(agent_id: str, raw: str | bytes | None) -> AgentStatus:
    """An agent's state from the store's JSON (memoised by content: the result is immutable)."""
    if raw is None:
        return AgentStatus(agent_id)
    return _decode_status(agent_id, raw)


@lru_cache(maxsize=DECODED_STATES_KEPT)
def _decode_status(agent_id: str, raw: str | bytes) -> AgentStatus:
    d = orjson.loads(raw)
    return AgentStatus(
        agent_id=agent_id,
        state=AgentState(d.get("s", "offline")),
        reason=d.get("r", ""),
        call_id=d.get("c", ""),
        since=_dt(d.get("t")),
        idle_since=_dt(d.get("i")),
        calls_taken=int(d.get("n", 0)),
        registered=bool(d.get("g", 1)),
        direct_call=bool(d.get("d", 0)),
        until=_dt(d.get("u")),
    )


# ---- configuration <-> plain dict (YAML import format) ----


def _where(path: str, exc: Exception) -> AcdValidationError:
    return AcdValidationError(f"{path}: {exc}")


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise AcdValidationError(f"{key} must be a list, got {type(value).__name__}")
    return value


def _str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AcdValidationError(f"{what} must be a list of names")
    return value


def _datetime(value: Any, what: str) -> datetime:
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise AcdValidationError(f"{what} {value!r} is not an ISO date-time") from None
    else:
        raise AcdValidationError(f"{what} must be an ISO date-time, got {value!r}")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def agent_from_dict(d: Mapping[str, Any]) -> Agent:
    if not isinstance(d, Mapping):
        raise AcdValidationError("an agent must be a mapping")
    skills_in = d.get("skills") or {}
    if isinstance(skills_in, str):  # "billing:5;support:3" (CSV form)
        pairs = [p.split(":", 1) for p in skills_in.replace(",", ";").split(";") if p.strip()]
        skills_in = {k.strip(): v.strip() for k, v in (p if len(p) == 2 else (p[0], "") for p in pairs)}
    if not isinstance(skills_in, Mapping):
        raise AcdValidationError("skills must map skill name -> proficiency 1-5")
    skills = []
    for name, prof in skills_in.items():
        if isinstance(prof, str):
            if not prof.strip().isdigit():
                raise AcdValidationError(f"proficiency of {name!r} must be 1-5, got {prof!r}")
            prof = int(prof)
        skills.append(AgentSkill(str(name), prof))
    return Agent(
        id=str(d.get("id", "")),
        name=str(d.get("name", "")),
        endpoint=str(d.get("endpoint", "")),
        skills=tuple(skills),
        regions=frozenset(_str_list(d.get("regions"), "regions")),
        languages=frozenset(_str_list(d.get("languages"), "languages")),
        timezone=str(d.get("timezone") or "UTC"),
        substitutes=tuple(_str_list(d.get("substitutes"), "substitutes")),
    )


def agent_to_dict(a: Agent) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "endpoint": a.endpoint,
        "skills": {s.skill: s.proficiency for s in a.skills},
        "regions": sorted(a.regions),
        "languages": sorted(a.languages),
        "timezone": a.timezone,
        "substitutes": list(a.substitutes),
    }


_QUEUE_FIELDS = (
    "service_level_percent",
    "service_level_seconds",
    "wrap_up_seconds",
    "ring_timeout_seconds",
    "max_attempts",
    "strategy",
    "min_proficiency",
    "announce_every_seconds",
)


def queue_from_dict(d: Mapping[str, Any]) -> Queue:
    if not isinstance(d, Mapping):
        raise AcdValidationError("a queue must be a mapping")
    unknown = set(d) - {"name", "skill", "steps", "service_level", *_QUEUE_FIELDS}
    if unknown:
        raise AcdValidationError(f"unknown queue field(s) {sorted(unknown)}")
    kwargs: dict[str, Any] = {k: d[k] for k in _QUEUE_FIELDS if k in d}
    sl = d.get("service_level")
    if sl is not None:  # "80/20" or {percent: 80, seconds: 20}
        if isinstance(sl, str) and "/" in sl:
            pct, secs = sl.split("/", 1)
            sl = {"percent": pct, "seconds": secs}
        if not isinstance(sl, Mapping):
            raise AcdValidationError("service_level must be '80/20' or {percent, seconds}")
        try:
            kwargs["service_level_percent"] = float(sl["percent"])
            kwargs["service_level_seconds"] = float(sl["seconds"])
        except (KeyError, ValueError, TypeError):
            raise AcdValidationError("service_level must be '80/20' or {percent, seconds}") from None
    steps = []
    for i, s in enumerate(d.get("steps") or []):
        if not isinstance(s, Mapping):
            raise AcdValidationError(f"steps[{i}] must be a mapping")
        after = s.get("after", s.get("after_seconds"))
        steps.append(RelaxationStep(after, s.get("action"), str(s.get("value", "") or "")))
    return Queue(name=str(d.get("name", "")), skill=str(d.get("skill", "")), steps=tuple(steps), **kwargs)


def queue_to_dict(q: Queue) -> dict[str, Any]:
    out: dict[str, Any] = {"name": q.name, "skill": q.skill}
    for k in _QUEUE_FIELDS:
        v = getattr(q, k)
        out[k] = v.value if hasattr(v, "value") else v
    out["steps"] = [
        {"after": s.after_seconds, "action": s.action.value, **({"value": s.value} if s.value else {})}
        for s in q.steps
    ]
    return out


def absence_from_dict(d: Mapping[str, Any], default_id: str) -> Absence:
    if not isinstance(d, Mapping):
        raise AcdValidationError("an absence must be a mapping")
    return Absence(
        id=str(d.get("id") or default_id),
        agent_id=str(d.get("agent", d.get("agent_id", ""))),
        kind=d.get("kind"),  # type: ignore[arg-type]
        starts_at=_datetime(d.get("from", d.get("starts_at")), "absence start"),
        ends_at=_datetime(d.get("until", d.get("ends_at")), "absence end"),
        note=str(d.get("note", "") or ""),
    )


def absence_to_dict(a: Absence) -> dict[str, Any]:
    return {
        "id": a.id,
        "agent": a.agent_id,
        "kind": a.kind.value,
        "from": a.starts_at.isoformat(),
        "until": a.ends_at.isoformat(),
        "note": a.note,
    }


def vip_from_dict(d: Mapping[str, Any]) -> VipEntry:
    if not isinstance(d, Mapping):
        raise AcdValidationError("a VIP entry must be a mapping")
    boost = d.get("boost", d.get("priority_boost", 10))
    if isinstance(boost, str) and boost.strip().isdigit():
        boost = int(boost)
    agent = d.get("agent", d.get("agent_id")) or None
    return VipEntry(
        number=str(d.get("number", "")),
        name=str(d.get("name", "") or ""),
        priority_boost=boost,
        agent_id=agent,
    )


def vip_to_dict(v: VipEntry) -> dict[str, Any]:
    return {"number": v.number, "name": v.name, "boost": v.priority_boost, "agent": v.agent_id}


def config_from_dict(data: Mapping[str, Any], *, version: int = 0) -> AcdConfig:
    """Validate and build a configuration; errors name the entry (``agents[3]: ...``)."""
    if not isinstance(data, Mapping):
        raise AcdValidationError("the configuration must be a mapping")
    unknown = set(data) - {"skills", "regions", "agents", "queues", "absences", "vips"}
    if unknown:
        raise AcdValidationError(f"unknown top-level section(s) {sorted(unknown)}")
    agents: dict[str, Agent] = {}
    for i, raw in enumerate(_list(data, "agents")):
        try:
            agent = agent_from_dict(raw)
        except AcdValidationError as exc:
            raise _where(f"agents[{i}]", exc) from None
        if agent.id in agents:
            raise AcdValidationError(f"agents[{i}]: agent id {agent.id!r} appears twice")
        agents[agent.id] = agent
    queues: dict[str, Queue] = {}
    for i, raw in enumerate(_list(data, "queues")):
        try:
            queue = queue_from_dict(raw)
        except AcdValidationError as exc:
            raise _where(f"queues[{i}]", exc) from None
        if queue.name in queues:
            raise AcdValidationError(f"queues[{i}]: queue {queue.name!r} appears twice")
        queues[queue.name] = queue
    absences = []
    for i, raw in enumerate(_list(data, "absences")):
        try:
            absences.append(absence_from_dict(raw, f"absence-{i + 1}"))
        except AcdValidationError as exc:
            raise _where(f"absences[{i}]", exc) from None
    vips: dict[str, VipEntry] = {}
    for i, raw in enumerate(_list(data, "vips")):
        try:
            vip = vip_from_dict(raw)
        except AcdValidationError as exc:
            raise _where(f"vips[{i}]", exc) from None
        vips[vip.number] = vip
    skills = frozenset(_str_list(data.get("skills"), "skills"))
    regions = frozenset(_str_list(data.get("regions"), "regions"))
    return AcdConfig(
        agents=agents,
        queues=queues,
        skills=skills,
        regions=regions,
        absences=tuple(absences),
        vips=vips,
        version=version,
    )


def config_to_dict(config: AcdConfig) -> dict[str, Any]:
    return {
        "skills": sorted(config.skills),
        "regions": sorted(config.regions),
        "agents": [agent_to_dict(a) for a in config.agents.values()],
        "queues": [queue_to_dict(q) for q in config.queues.values()],
        "absences": [absence_to_dict(a) for a in config.absences],
        "vips": [vip_to_dict(v) for v in config.vips.values()],
    }
