"""Chart geometry for the reports page: plain numbers the template turns into inline SVG.

No JavaScript and no chart library: a bar chart per measure for queues and agents, a line chart for days.
Each chart has a title and a text description (read by screen readers through ``aria-labelledby``), and
every bar or point carries its value as an SVG ``<title>``. Labels are data (queue names, agent ids): the
template escapes them like any other text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from acd.reports import GroupBy, ReportRow

WIDTH, HEIGHT = 480, 240
LEFT, RIGHT, TOP, BOTTOM = 60, 12, 14, 40
MAX_X_LABELS = 12
TICKS = 4  # gridlines above the baseline
LABEL_CHARS = 12
CHAR_WIDTH = 8.0  # of a 13 px label, roughly


class Unit(StrEnum):
    COUNT = "count"
    RATIO = "ratio"
    SECONDS = "seconds"


@dataclass(frozen=True)
class Measure:
    """One column of the report that gets a chart."""

    field: str
    title: str
    unit: Unit


MEASURES: tuple[Measure, ...] = (
    Measure("offered", "Offered calls", Unit.COUNT),
    Measure("answered", "Answered calls", Unit.COUNT),
    Measure("abandoned", "Abandoned calls", Unit.COUNT),
    Measure("service_level", "Service level", Unit.RATIO),
    Measure("average_speed_of_answer_seconds", "Average speed of answer", Unit.SECONDS),
    Measure("average_handle_time_seconds", "Average handle time", Unit.SECONDS),
    Measure("deflection_rate", "Self-service deflection", Unit.RATIO),
    Measure("csat", "Customer satisfaction (CSAT)", Unit.RATIO),
)


def format_value(value: float | None, unit: Unit) -> str:
    """A value as the page shows it: ``12``, ``83%``, ``45 s``, ``3 min 5 s``; ``–`` when there is none."""
    if value is None:
        return "–"
    if unit is Unit.RATIO:
        return f"{value * 100:.0f}%"
    if unit is Unit.SECONDS:
        s = round(value)
        return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"
    return f"{value:g}"


def axis_value(value: float, unit: Unit) -> str:
    """A gridline's label: short enough for the margin (seconds stay seconds: ``150 s``)."""
    if unit is Unit.SECONDS:
        return f"{value:g} s"
    return format_value(value, unit)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    value: str


@dataclass(frozen=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True)
class XLabel:
    x: float
    text: str


@dataclass(frozen=True)
class Chart:
    """Everything the SVG template draws for one measure."""

    id: str
    title: str
    description: str
    kind: str  # bar | line
    width: int
    height: int
    left: int
    top: int
    right: float  # x of the plot's right edge
    bottom: float  # y of the plot's baseline
    ticks: list[Tick]
    x_labels: list[XLabel]
    bars: list[Bar]
    points: list[Point]
    lines: list[str]  # SVG polyline ``points`` values, one per run of days with a value
    target: Tick | None  # the service-level goal line


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n that is at least ``value`` (1 for nothing)."""
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * exponent >= value:
            return step * exponent
    return 10 * exponent


def _short(label: str, group: GroupBy, chars: int) -> str:
    if group is GroupBy.DAY and len(label) == 10:
        return label[5:]  # 2026-01-05 -> 01-05: the period shows the year
    return label if len(label) <= chars else label[: chars - 1] + "…"


def _describe(
    measure: Measure, rows: Sequence[ReportRow], values: Sequence[float | None], group: GroupBy
) -> str:
    known = [(v, r.key) for v, r in zip(values, rows, strict=True) if v is not None]
    if not known:
        return f"{measure.title} per {group.value}: no data in this period."
    high_value, high_key = max(known, key=lambda item: item[0])
    low_value, low_key = min(known, key=lambda item: item[0])
    return (
        f"{measure.title} per {group.value} for {len(rows)} {group.value}s: highest "
        f"{format_value(high_value, measure.unit)} ({high_key}), lowest "
        f"{format_value(low_value, measure.unit)} ({low_key})."
    )


def build_chart(measure: Measure, rows: Sequence[ReportRow], group: GroupBy) -> Chart | None:
    """The chart of one measure over the rows, or None when no row has a value for it."""
    values: list[float | None] = [getattr(r, measure.field) for r in rows]
    known = [v for v in values if v is not None]
    if not known:
        return None
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    plot_w, plot_h = right - LEFT, bottom - TOP
    step = 0.25 if measure.unit is Unit.RATIO else nice_ceiling(max(known) / TICKS)
    if measure.unit is Unit.COUNT:
        step = max(1.0, math.ceil(step))  # whole calls on the axis
    top_value = step * TICKS

    def y_of(value: float) -> float:
        return round(bottom - plot_h * min(value, top_value) / top_value, 2)

    ticks = [Tick(y_of(step * i), axis_value(step * i, measure.unit)) for i in range(TICKS + 1)]
    slot = plot_w / len(rows)
    every = max(1, math.ceil(len(rows) / MAX_X_LABELS))
    chars = max(3, min(LABEL_CHARS, int(slot * every / CHAR_WIDTH)))  # labels must not run into each other
    x_labels = [
        XLabel(round(LEFT + slot * (i + 0.5), 2), _short(r.key, group, chars))
        for i, r in enumerate(rows)
        if i % every == 0
    ]
    bars: list[Bar] = []
    points: list[Point] = []
    lines: list[str] = []
    kind = "line" if group is GroupBy.DAY else "bar"
    run: list[str] = []
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        center = LEFT + slot * (i + 0.5)
        if value is None:
            if len(run) > 1:
                lines.append(" ".join(run))
            run = []
            continue
        text = format_value(value, measure.unit)
        y = y_of(value)
        if kind == "bar":
            width = max(1.0, slot * 0.7)
            bars.append(
                Bar(round(center - width / 2, 2), y, round(width, 2), round(bottom - y, 2), row.key, text)
            )
        else:
            points.append(Point(round(center, 2), y, row.key, text))
            run.append(f"{center:.2f},{y:.2f}")
    if len(run) > 1:
        lines.append(" ".join(run))
    goals = {r.service_level_target for r in rows if r.service_level_target is not None}
    target = None
    if measure.field == "service_level" and len(goals) == 1:
        goal = goals.pop()
        target = Tick(y_of(goal), f"target {format_value(goal, Unit.RATIO)}")
    return Chart(
        id=measure.field.replace("_", "-"),
        title=f"{measure.title} per {group.value}",
        description=_describe(measure, rows, values, group),
        kind=kind,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        top=TOP,
        right=right,
        bottom=bottom,
        ticks=ticks,
        x_labels=x_labels,
        bars=bars,
        points=points,
        lines=lines,
        target=target,
    )


def build_charts(rows: Sequence[ReportRow], group: GroupBy) -> tuple[list[Chart], list[str]]:
    """A chart per measure that has data, and the titles of the measures without any."""
    charts: list[Chart] = []
    missing: list[str] = []
    for measure in MEASURES:
        chart = build_chart(measure, rows, group)
        if chart is None:
            missing.append(measure.title)
        else:
            charts.append(chart)
    return charts, missing
