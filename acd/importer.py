"""Import the routing configuration from YAML (everything) or CSV (agents, absences, VIPs).

YAML shape (see acd/codec.py ``config_from_dict``)::

    skills: [billing, support]
    regions: [eu, us]
    agents:
      - {id: a101, name: Ann, endpoint: PJSIP/101, skills: {billing: 5}, regions: [eu], languages: [en],
         timezone: Europe/Berlin, substitutes: [a102]}
    queues:
      - {name: billing, skill: billing, service_level: 80/20, wrap_up_seconds: 30, ring_timeout_seconds: 20,
         max_attempts: 3, strategy: proficiency-first, min_proficiency: 3,
         steps: [{after: 30, action: any-region}, {after: 60, action: min-proficiency, value: 2}]}
    absences: [{agent: a101, kind: sick, from: 2026-01-05T00:00:00Z, until: 2026-01-07T00:00:00Z}]
    vips: [{number: "+15551230002", name: Big Co, boost: 10, agent: a101}]

CSV files have a header row; agents: ``id,name,endpoint,skills,regions,languages,timezone,substitutes``
(skills as ``billing:5;support:3``, lists separated by ``;``); absences: ``agent,kind,from,until,note``;
vips: ``number,name,boost,agent``. Every error names the file, the row and the field.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from acd.codec import absence_from_dict, agent_from_dict, config_from_dict, vip_from_dict
from acd.errors import AcdValidationError
from acd.model import AcdConfig

MAX_IMPORT_BYTES = 10 * 1024 * 1024


def _read(path: Path) -> str:
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise AcdValidationError(f"{path}: larger than {MAX_IMPORT_BYTES} bytes")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise AcdValidationError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def load_yaml_text(text: str, source: str = "<yaml>") -> AcdConfig:
    """Parse and validate a YAML configuration."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AcdValidationError(f"{source}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise AcdValidationError(f"{source}: the top level must be a mapping")
    try:
        return config_from_dict(data)
    except AcdValidationError as exc:
        raise AcdValidationError(f"{source}: {exc}") from None


def load_yaml(path: Path | str) -> AcdConfig:
    path = Path(path)
    return load_yaml_text(_read(path), str(path))


def _rows(text: str, source: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise AcdValidationError(f"{source}: missing column(s) {missing}")
    return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


def merge_agents_csv(config: AcdConfig, text: str, source: str = "<agents.csv>") -> AcdConfig:
    """Add or replace the agents listed in a CSV; the result is validated as a whole."""
    agents = dict(config.agents)
    for n, row in enumerate(_rows(text, source, ("id", "endpoint")), start=2):
        try:
            agent = agent_from_dict(row)
        except AcdValidationError as exc:
            raise AcdValidationError(f"{source} row {n}: {exc}") from None
        agents[agent.id] = agent
    return _rebuild(config, source, agents=agents)


def merge_absences_csv(config: AcdConfig, text: str, source: str = "<absences.csv>") -> AcdConfig:
    absences = list(config.absences)
    for n, row in enumerate(_rows(text, source, ("agent", "kind", "from", "until")), start=2):
        try:
            absences.append(absence_from_dict(row, f"csv-{len(absences) + 1}"))
        except AcdValidationError as exc:
            raise AcdValidationError(f"{source} row {n}: {exc}") from None
    return _rebuild(config, source, absences=tuple(absences))


def merge_vips_csv(config: AcdConfig, text: str, source: str = "<vips.csv>") -> AcdConfig:
    vips = dict(config.vips)
    for n, row in enumerate(_rows(text, source, ("number",)), start=2):
        try:
            vip = vip_from_dict({k: v for k, v in row.items() if v != ""})
        except AcdValidationError as exc:
            raise AcdValidationError(f"{source} row {n}: {exc}") from None
        vips[vip.number] = vip
    return _rebuild(config, source, vips=vips)


def _rebuild(config: AcdConfig, source: str, **changes: Any) -> AcdConfig:
    try:
        return replace(config, **changes)
    except AcdValidationError as exc:
        raise AcdValidationError(f"{source}: {exc}") from None


def import_csv(config: AcdConfig, path: Path | str, kind: str) -> AcdConfig:
    """Merge one CSV file (``kind``: agents, absences or vips) into ``config``."""
    path = Path(path)
    merge = {"agents": merge_agents_csv, "absences": merge_absences_csv, "vips": merge_vips_csv}.get(kind)
    if merge is None:
        raise AcdValidationError(f"unknown CSV kind {kind!r} (agents, absences, vips)")
    return merge(config, _read(path), str(path))
