"""FlowRegistry: the flows a site runs, reloaded file by file without a restart.

A reload re-reads only files whose size or mtime changed. A file that fails to load or check never replaces
the good version already running (its problems are reported instead); a deleted file is dropped. Each call
takes a ``snapshot()`` when it starts and keeps those versions, sub-flows included, until it ends.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from ivr.flows.check import flow_files
from ivr.flows.loader import (
    MAX_FLOW_BYTES,
    ParsedFlow,
    flow_name_for,
    parse_flow_bytes,
    parse_flow_file,
)
from ivr.flows.model import Flow
from ivr.flows.problems import FlowProblem, format_problem
from ivr.flows.types import NAME_PATTERN
from ivr.flows.validate import RecordingExists, check_flow, check_subflow_cycles, recording_lookup
from switchboard.clock import Clock, SystemClock

log = logging.getLogger(__name__)

FlowSet = Mapping[str, Flow]
_Signature = tuple[int, int]


@dataclass(frozen=True)
class ReloadReport:
    """What one reload did."""

    loaded: tuple[str, ...] = ()  # new or changed flows now running
    kept: tuple[str, ...] = ()  # changed files with problems: the previous good version keeps running
    rejected: tuple[str, ...] = ()  # new files with problems: not running
    removed: tuple[str, ...] = ()  # files deleted: no longer offered to new calls
    problems: tuple[FlowProblem, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> bool:
        return bool(self.loaded or self.removed)


class FlowFileStatus(StrEnum):
    """Whether a flow file runs as written."""

    LOADED = "loaded"  # new calls get this file's content
    FAILED = "failed"  # the file has problems: a previous good version (if any) keeps running


@dataclass(frozen=True)
class FlowFileState:
    """One flow file as of the last reload: its status, the version new calls get, and its problems."""

    name: str
    path: Path
    status: FlowFileStatus
    running_version: str | None  # None: no version of this flow runs
    loaded_at: datetime | None  # when the running version was loaded
    problems: tuple[FlowProblem, ...] = ()


class UnknownFlowFile(LookupError):
    """No flow file of that name in the flows directory."""


class FlowRegistry:
    """Flows of one directory; thread-safe; ``reload()`` may run in a worker thread."""

    def __init__(
        self,
        directory: Path,
        *,
        recordings_dirs: tuple[Path, ...] = (),
        max_bytes: int = MAX_FLOW_BYTES,
        clock: Clock | None = None,
    ) -> None:
        self.directory = Path(directory)
        self._recordings: RecordingExists | None = recording_lookup(recordings_dirs)
        self._max_bytes = max_bytes
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._flows: FlowSet = MappingProxyType({})
        self._parsed: dict[str, ParsedFlow] = {}
        self._seen: dict[Path, _Signature] = {}
        self._problems: dict[Path, tuple[FlowProblem, ...]] = {}
        self._loaded_at: dict[str, datetime] = {}
        self.reloaded_at: datetime | None = None  # the last reload, even one that changed nothing

    def snapshot(self) -> FlowSet:
        """The flows running now, as an immutable mapping a call keeps for its whole life."""
        return self._flows

    def get(self, name: str) -> Flow | None:
        return self._flows.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._flows))

    @property
    def problems(self) -> list[FlowProblem]:
        """Problems of files currently not running as written (bad new files, bad edits)."""
        with self._lock:
            return [p for probs in self._problems.values() for p in probs]

    @property
    def max_bytes(self) -> int:
        """The largest flow file accepted."""
        return self._max_bytes

    def files(self) -> list[FlowFileState]:
        """Every flow file seen by the last reload, by name, with its status and problems."""
        with self._lock:
            out: list[FlowFileState] = []
            for path in sorted(self._seen, key=lambda p: (flow_name_for(p), p.name)):
                name = flow_name_for(path)
                parsed = self._parsed.get(name)
                running = parsed is not None and parsed.flow.path == path
                problems = self._problems.get(path, ())
                ok = running and not problems
                out.append(
                    FlowFileState(
                        name=name,
                        path=path,
                        status=FlowFileStatus.LOADED if ok else FlowFileStatus.FAILED,
                        running_version=parsed.flow.version if running and parsed else None,
                        loaded_at=self._loaded_at.get(name) if running else None,
                        problems=problems,
                    )
                )
            return out

    def file_named(self, name: str) -> Path:
        """The flow file of ``name`` in the directory now (never a path taken from the caller)."""
        for path in flow_files(self.directory):
            if flow_name_for(path) == name:
                return path
        raise UnknownFlowFile(name)

    def check(self, name: str, data: bytes | None = None) -> list[FlowProblem]:
        """Check ``data`` as flow ``name`` (or, without data, that flow's file now) without loading it.

        Nothing runs: the text is parsed and checked against the flows on disk (sub-flows, cycles).
        Raises UnknownFlowFile when ``data`` is None and there is no such file, ValueError for a name
        that cannot be a flow's (it would never become a path either way).
        """
        if not re.fullmatch(NAME_PATTERN, name):
            raise ValueError(f"{name!r} is not a flow name (letters, digits, '-' and '_', up to 64)")
        if data is None:
            parsed, problems = parse_flow_file(self.file_named(name), max_bytes=self._max_bytes)
        else:
            parsed, problems = parse_flow_bytes(
                data, self.directory / f"{name}.yaml", max_bytes=self._max_bytes
            )
        if parsed is None:
            return problems
        known = {flow_name_for(p) for p in flow_files(self.directory)} | {name}
        problems = check_flow(parsed, recording_exists=self._recordings, known_flows=known)
        with self._lock:
            others = {k: v for k, v in self._parsed.items() if k != name}
        own = str(parsed.flow.path)
        cycles = [p for p in check_subflow_cycles({**others, name: parsed}) if p.file == own]
        return [*problems, *cycles]

    def changed_on_disk(self) -> bool:
        """True when any flow file was added, removed or touched since the last reload (cheap: stat only)."""
        current = self._signatures()
        return current != self._seen

    def _signatures(self) -> dict[Path, _Signature]:
        out: dict[Path, _Signature] = {}
        for path in flow_files(self.directory):
            try:
                st = path.stat()
            except OSError:
                continue
            out[path] = (st.st_mtime_ns, st.st_size)
        return out

    def reload(self) -> ReloadReport:
        """Re-read changed files; swap in the good ones at once; keep running versions of bad ones."""
        with self._lock:
            return self._reload_locked()

    def _reload_locked(self) -> ReloadReport:
        current = self._signatures()
        changed = [p for p, sig in current.items() if self._seen.get(p) != sig]
        gone = [p for p in self._seen if p not in current]
        names_on_disk = {flow_name_for(p) for p in current}

        candidate = dict(self._parsed)
        loaded: list[str] = []
        kept: list[str] = []
        rejected: list[str] = []
        removed: list[str] = []
        for path in gone:
            name = flow_name_for(path)
            self._problems.pop(path, None)
            if name in candidate and name not in names_on_disk:
                del candidate[name]
                removed.append(name)
        by_name: dict[str, Path] = {}
        for path in sorted(current):
            by_name.setdefault(flow_name_for(path), path)
        for path in changed:
            name = flow_name_for(path)
            if by_name[name] != path:
                self._problems[path] = (
                    FlowProblem(str(path), None, f"flow name '{name}' is also used by {by_name[name]}"),
                )
                continue
            parsed, problems = parse_flow_file(path, max_bytes=self._max_bytes)
            if parsed is not None:
                problems = check_flow(parsed, recording_exists=self._recordings, known_flows=names_on_disk)
            if parsed is None or problems:
                self._problems[path] = tuple(problems)
                (kept if name in candidate else rejected).append(name)
                continue
            self._problems.pop(path, None)
            old = candidate.get(name)
            if old is None or old.flow.version != parsed.flow.version:
                loaded.append(name)
            candidate[name] = parsed

        for problem in check_subflow_cycles(candidate):
            name = flow_name_for(Path(problem.file))
            if name in loaded:
                path = Path(problem.file)
                self._problems[path] = (*self._problems.get(path, ()), problem)
                loaded.remove(name)
                if name in self._parsed:
                    candidate[name] = self._parsed[name]
                    kept.append(name)
                else:
                    del candidate[name]
                    rejected.append(name)

        now = self._clock.now()
        for name in loaded:
            self._loaded_at[name] = now
        for name in removed:
            self._loaded_at.pop(name, None)
        self._parsed = candidate
        self._seen = current
        self.reloaded_at = now
        self._flows = MappingProxyType({name: parsed.flow for name, parsed in candidate.items()})
        problems = tuple(p for path in changed for p in self._problems.get(path, ()))
        report = ReloadReport(tuple(loaded), tuple(kept), tuple(rejected), tuple(removed), problems)
        self._log(report)
        return report

    def _log(self, report: ReloadReport) -> None:
        for name in report.loaded:
            flow = self._flows[name]
            log.info("flow loaded flow=%s version=%s path=%s", name, flow.version, flow.path)
        for name in report.removed:
            log.info("flow removed flow=%s", name)
        for name in report.kept:
            log.warning("flow file has problems, previous version keeps running flow=%s", name)
        for name in report.rejected:
            log.warning("flow file has problems and was not loaded flow=%s", name)
        for problem in report.problems:
            log.warning("flow problem %s", format_problem(problem))

    async def watch(self, clock: Clock, interval: float = 2.0) -> None:
        """Poll the directory forever; reload (in a worker thread) when a file changes. ``interval`` 0 (the
        ``ivr.flows_poll_seconds`` setting's "never") parks without polling: returning would only make a
        supervisor restart it, and a zero-second poll would spin a worker thread flat out."""
        if interval <= 0:
            log.info("flow files are not watched (poll interval 0) directory=%s", self.directory)
            await asyncio.Event().wait()
        while True:
            await clock.sleep(interval)
            try:
                if await asyncio.to_thread(self.changed_on_disk):
                    await asyncio.to_thread(self.reload)
            except Exception:
                log.exception("flow reload failed directory=%s", self.directory)
