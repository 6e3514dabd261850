"""Typed data of the recordings domain: states, speakers, audit actions, recordings and transcripts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

ULID_RE: Final = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def is_recording_id(text: str) -> bool:
    """True when ``text`` has the shape of a recording id (a ULID); anything else is never looked up."""
    return bool(ULID_RE.match(text))


class RecordingState(StrEnum):
    """Where a recording is in its life."""

    RECORDING = "recording"  # MixMonitor is running
    READY = "ready"  # finished; waiting for its file check and transcription (a pending job)
    TRANSCRIBING = "transcribing"  # a worker holds the job
    TRANSCRIBED = "transcribed"  # transcript stored
    STORED = "stored"  # file checked and kept; transcription is off (engine "none")
    MISSING = "missing"  # the file never appeared, vanished, or lies outside the recordings directory
    DAMAGED = "damaged"  # the file is not a usable WAV (truncated, wrong format)
    FAILED = "failed"  # transcription failed max_attempts times
    DELETED = "deleted"  # removed by the retention policy

    @property
    def playable(self) -> bool:
        """A file is expected on disk."""
        return self in _PLAYABLE


_PLAYABLE: Final = frozenset(
    {
        RecordingState.READY,
        RecordingState.TRANSCRIBING,
        RecordingState.TRANSCRIBED,
        RecordingState.STORED,
        RecordingState.DAMAGED,
        RecordingState.FAILED,
    }
)


class Speaker(StrEnum):
    """Who spoke a transcript segment: a leg of its own, or both on one mixed file."""

    CALLER = "caller"
    AGENT = "agent"
    MIXED = "mixed"


class AuditAction(StrEnum):
    """What the audit log records."""

    LISTEN = "listen"
    DOWNLOAD = "download"
    LEGAL_HOLD_ON = "legal_hold_on"
    LEGAL_HOLD_OFF = "legal_hold_off"


@dataclass(frozen=True)
class Leg:
    """One file of a recording: the mixed call, or one side of it (MixMonitor ``r()``/``t()``)."""

    speaker: Speaker
    asterisk_path: str
    local_path: str | None  # None when the Asterisk path could not be mapped safely


@dataclass(frozen=True)
class RecordingStart:
    """MixMonitor started on a channel: everything the catalogue needs to open a recording."""

    source: str  # the Asterisk box (AMI host:port) whose channel this is
    uniqueid: str
    linkedid: str
    channel: str
    call_id: str | None
    agent_id: str | None
    queue: str | None
    caller_number: str
    caller_name: str
    asterisk_path: str
    started_at: datetime


@dataclass(frozen=True)
class TranscriptSegment:
    """A stretch of speech in a recording, with its time, speaker and the engine's confidence (0..1)."""

    start_s: float
    end_s: float
    speaker: Speaker
    text: str
    confidence: float


@dataclass(frozen=True)
class Recording:
    """A catalogued recording as the rest of Switchboard sees it (never the file's bytes)."""

    id: str
    call_id: str | None
    uniqueid: str
    linkedid: str
    channel: str
    source: str
    queue: str | None
    agent_id: str | None
    caller_number: str
    caller_name: str
    asterisk_path: str
    local_path: str | None
    legs: tuple[Leg, ...]
    state: RecordingState
    problem: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None
    size_bytes: int | None
    attempts: int
    engine: str | None
    transcribed_at: datetime | None
    legal_hold: bool
    delete_after: datetime | None
    deleted_at: datetime | None


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log."""

    id: str
    recording_id: str
    user_id: str
    role: str
    action: AuditAction
    at: datetime
    client_ip: str | None
