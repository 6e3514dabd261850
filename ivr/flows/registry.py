"""FlowRegistry: the flows a site runs, reloaded file by file without a restart.

A reload re-reads only files whose size or mtime changed. A file that fails to load or check never replaces
the good version already running (its problems are reported instead); a deleted file is dropped. Each call
takes a ``snapshot()`` when it starts and keeps those versions, sub-flows included, until it ends.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ivr.flows.check import flow_files
from ivr.flows.loader import MAX_FLOW_BYTES, ParsedFlow, flow_name_for, parse_flow_file
from ivr.flows.model import Flow
from ivr.flows.problems import FlowProblem, format_problem
from ivr.flows.validate import RecordingExists, check_flow, check_subflow_cycles, recording_lookup
from switchboard.clock import Clock

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


class FlowRegistry:
    """Flows of one directory; thread-safe; ``reload()`` may run in a worker thread."""

    def __init__(
        self,
        directory: Path,
        *,
        recordings_dirs: tuple[Path, ...] = (),
        max_bytes: int = MAX_FLOW_BYTES,
    ) -> None:
        self.directory = Path(directory)
        self._recordings: RecordingExists | None = recording_lookup(recordings_dirs)
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._flows: FlowSet = MappingProxyType({})
        self._parsed: dict[str, ParsedFlow] = {}
        self._seen: dict[Path, _Signature] = {}
        self._problems: dict[Path, tuple[FlowProblem, ...]] = {}

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

        self._parsed = candidate
        self._seen = current
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
