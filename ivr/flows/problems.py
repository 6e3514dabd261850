"""What a flow check reports: one problem per line, worded for the person who edits the file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FlowProblem:
    """One error in a flow file: where it is and a plain reason."""

    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        return format_problem(self)


def format_problem(problem: FlowProblem) -> str:
    """``flows/main.yaml:12: unknown node 'billing'`` (no line number when the whole file is at fault)."""
    if problem.line is None:
        return f"{problem.file}: {problem.reason}"
    return f"{problem.file}:{problem.line}: {problem.reason}"


class FlowFileError(Exception):
    """A flow file could not be loaded; ``problems`` says why, each with its line."""

    def __init__(self, problems: list[FlowProblem]) -> None:
        super().__init__("; ".join(format_problem(p) for p in problems[:5]))
        self.problems = problems
