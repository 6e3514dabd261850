"""`switchboard flows check`: load and check flow files or directories, report every problem with its line."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ivr.flows.loader import FLOW_SUFFIXES, MAX_FLOW_BYTES, ParsedFlow, flow_name_for, parse_flow_file
from ivr.flows.problems import FlowProblem
from ivr.flows.validate import check_flow, check_subflow_cycles, recording_lookup


def flow_files(directory: Path) -> list[Path]:
    """Flow files directly inside ``directory``, sorted (hidden and editor backup files skipped)."""
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return []
    return [p for p in entries if p.suffix in FLOW_SUFFIXES and not p.name.startswith(".") and p.is_file()]


def check_paths(
    paths: Iterable[Path | str],
    *,
    recordings_dirs: Iterable[Path | str] = (),
    max_bytes: int = MAX_FLOW_BYTES,
) -> list[FlowProblem]:
    """Check files and directories of flows; an empty list means every flow may run.

    Sub-flow references resolve against the files given and their sibling flow files. Recorded prompt files
    are looked up in ``recordings_dirs``; with none given, only prompts that are neither defined under
    ``prompts:`` nor recordings can be reported.
    """
    problems: list[FlowProblem] = []
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = flow_files(path)
            if not found:
                problems.append(FlowProblem(str(path), None, "no flow files (*.yaml) in this directory"))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(FlowProblem(str(path), None, "no such file or directory"))

    known: set[str] = set()
    for path in files:
        known.update(flow_name_for(p) for p in flow_files(path.parent))
    parsed: dict[str, ParsedFlow] = {}
    first_path: dict[str, Path] = {}
    recordings = recording_lookup(Path(d) for d in recordings_dirs)
    for path in dict.fromkeys(files):
        name = flow_name_for(path)
        if name in first_path:
            problems.append(
                FlowProblem(str(path), None, f"flow name '{name}' is also used by {first_path[name]}")
            )
            continue
        first_path[name] = path
        result, file_problems = parse_flow_file(path, max_bytes=max_bytes)
        problems.extend(file_problems)
        if result is None:
            continue
        graph_problems = check_flow(result, recording_exists=recordings, known_flows=known)
        problems.extend(graph_problems)
        parsed[name] = result
    problems.extend(check_subflow_cycles(parsed))
    return problems
