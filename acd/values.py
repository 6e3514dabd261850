"""Small value checks shared by the ACD's service, signal reactions and recovery."""

from __future__ import annotations

import re

from acd.model import AcdConfig

SAFE_VALUE = re.compile(r"[^A-Za-z0-9_.+@/-]")


def safe(value: str) -> str:
    """A value that can go into a channel variable or dial string without adding options."""
    return SAFE_VALUE.sub("", value)[:80]


def known_skill(config: AcdConfig, skill: str) -> bool:
    """Whether ``skill`` is configured (or, without a skill list, used by some agent or queue)."""
    if not skill:
        return False
    if config.skills:
        return skill in config.skills
    return bool(config.agents_with_skill(skill)) or any(q.skill == skill for q in config.queues.values())
