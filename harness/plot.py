"""A latency-over-time plot of one test: every request a point, fault windows shaded.

x is seconds since the test's :class:`~harness.timeline.Timeline` started, y the request's
latency in milliseconds. Answers with a status of 500 or more and requests that got no
answer at all are drawn as red crosses; every fault window is a shaded, labelled band.

matplotlib is imported only when a plot is drawn, and drawn through its Agg canvas (no
``pyplot``, no display, no global backend switch), so importing this module costs nothing
and plotting works on a headless machine and from any thread.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.history import OK, History
from harness.timeline import FaultWindow, Timeline

__all__ = ["Point", "latency_points", "render_latency_plot"]

# Colours of the answered requests, one per history, and of the fault bands.
_HISTORY_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#7f7f7f")
_FAULT_COLOURS = ("#ff7f0e", "#bcbd22", "#e377c2", "#17becf", "#9467bd")
_ERROR_COLOUR = "#d62728"
# More legend entries than this (a nightly run has hundreds of loads and fault windows)
# would leave the axes no room: they are then summed up in one entry each.
_MAX_LEGEND = 8


@dataclass(frozen=True)
class Point:
    """One request as the plot shows it."""

    at_s: float  # when it was sent, in seconds since the timeline started
    latency_ms: float  # until its answer, or until the client gave up
    error: bool  # status >= 500, or no answer at all
    history: str  # the label of the history it belongs to


def _status(value: Any) -> tuple[bool, int | None]:
    """Whether the value says anything about HTTP status, and the status if there was one."""
    if isinstance(value, dict) and "status" in value:
        status = value["status"]
        return True, status if isinstance(status, int) and not isinstance(status, bool) else None
    return False, None


def _points(label: str, history: History, offset_s: float) -> list[Point]:
    ops = history.ops()
    last = ops[-1].time if ops else 0.0
    points: list[Point] = []
    for invoke, done in history.pairs():
        at = offset_s + invoke.time
        if done is None:  # never completed: the client is still waiting, or crashed
            points.append(Point(at, max(0.0, last - invoke.time) * 1000, True, label))
            continue
        latency = (done.time - invoke.time) * 1000
        if isinstance(done.value, dict):
            measured = done.value.get("latency_ms")
            if isinstance(measured, int | float) and not isinstance(measured, bool):
                latency = float(measured)
        is_http, status = _status(done.value)
        # A history of something other than HTTP: only an ok counts as an answer.
        error = (status is None or status >= 500) if is_http else done.type != OK
        points.append(Point(at, latency, error, label))
    return points


def latency_points(timeline: Timeline) -> list[Point]:
    """Every request of every history recorded in ``timeline``, on the timeline's clock."""
    points: list[Point] = []
    for recorded in timeline.histories:
        offset = recorded.history.started - timeline.started
        points += _points(recorded.label, recorded.history, offset)
    return points


def _window_end(window: FaultWindow, timeline: Timeline, last_s: float) -> float:
    if window.end is not None:
        return window.end - timeline.started
    # Still on when the plot was drawn: shade it to the end of the picture.
    return max(last_s, time.monotonic() - timeline.started)


def render_latency_plot(
    timeline: Timeline, *, title: str = "", size: tuple[float, float] = (11.0, 4.8)
) -> bytes | None:
    """A PNG of the timeline's requests and fault windows, or None if it holds no request."""
    points = latency_points(timeline)
    if not points:
        return None
    # Imported here: only a run that writes a report pays for matplotlib.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()

    last_s = max(p.at_s + p.latency_ms / 1000 for p in points)
    _shade_faults(axes, timeline, last_s)

    labels = list(dict.fromkeys(p.history for p in points))
    summed = len(labels) > _MAX_LEGEND
    for index, label in enumerate(labels):
        answered = [p for p in points if p.history == label and not p.error]
        if answered:
            if summed:
                every = sum(1 for p in points if not p.error)
                shown = f"{len(labels)} loads ({every} answered)" if index == 0 else "_"
            else:
                shown = f"{label} ({len(answered)} answered)"
            axes.scatter(
                [p.at_s for p in answered],
                [p.latency_ms for p in answered],
                s=14,
                marker="o",
                color=_HISTORY_COLOURS[index % len(_HISTORY_COLOURS)],
                label=shown,
                zorder=3,
            )
    errors = [p for p in points if p.error]
    if errors:
        axes.scatter(
            [p.at_s for p in errors],
            [p.latency_ms for p in errors],
            s=40,
            marker="x",
            linewidths=1.5,
            color=_ERROR_COLOUR,
            label=f"error: status >= 500 or no answer ({len(errors)})",
            zorder=4,
        )

    axes.set_xlabel("seconds since the test started")
    axes.set_ylabel("latency (ms)")
    axes.set_xlim(left=0.0)
    axes.set_ylim(bottom=0.0, top=max(p.latency_ms for p in points) * 1.25 or 1.0)
    axes.grid(True, alpha=0.3)
    if title:
        axes.set_title(title, fontsize=10)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _shade_faults(axes: Any, timeline: Timeline, last_s: float) -> None:
    windows: Sequence[FaultWindow] = timeline.faults
    for index, window in enumerate(windows):
        start = window.start - timeline.started
        end = _window_end(window, timeline, last_s)
        colour = _FAULT_COLOURS[index % len(_FAULT_COLOURS)]
        if len(windows) <= _MAX_LEGEND:
            label = f"fault: {window.description}"
        else:
            label = f"{len(windows)} fault windows" if index == 0 else "_"
        axes.axvspan(start, end, color=colour, alpha=0.18, label=label)
        # Labels of overlapping windows are stacked so that each stays readable.
        axes.text(
            start,
            0.97 - 0.08 * (index % 5),
            f" {window.description}",
            transform=axes.get_xaxis_transform(),
            fontsize=8,
            va="top",
            ha="left",
            color="#444444",
            clip_on=True,
        )
