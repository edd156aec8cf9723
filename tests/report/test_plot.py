"""The latency plot, drawn from hand-made timelines: points, errors, fault bands, PNG."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import warnings

import pytest

from harness.history import FAIL, INFO, OK, History, Op
from harness.plot import latency_points, render_latency_plot
from harness.timeline import FaultWindow, Timeline

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def http_history(*requests: tuple[float, float, int | None]) -> History:
    """A history of GETs, one per (invoke time s, latency ms, status or None) triple."""
    ops: list[Op] = []
    for process, (at, latency_ms, status) in enumerate(requests):
        kind = OK if status is not None and status < 400 else (INFO if status is None else FAIL)
        value = {"status": status, "latency_ms": latency_ms, "body": None}
        ops.append(Op(0, "invoke", process, "GET /x", {"method": "GET"}, at))
        ops.append(Op(0, kind, process, "GET /x", value, at + latency_ms / 1000))
    ops.sort(key=lambda op: op.time)
    return History(
        Op(i, o.type, o.process, o.f, o.value, o.time, o.error) for i, o in enumerate(ops)
    )


def timeline_of(history: History, *, lead_s: float = 1.0, faults: int = 1) -> Timeline:
    """A timeline that started ``lead_s`` before the history, with fault windows in it."""
    t0 = history.started - lead_s
    windows = [
        FaultWindow(f"latency {1000 * (n + 1)} ms on a->b", "latency", t0 + 1.5 + n, t0 + 2.5 + n)
        for n in range(faults)
    ]
    timeline = Timeline(started=t0, faults=windows)
    timeline.record("gateway: GET /x", history)
    return timeline


def png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_SIGNATURE)
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_points_are_on_the_timeline_clock_with_errors_marked() -> None:
    history = http_history(
        (0.0, 5.0, 200), (0.5, 7.0, 404), (1.0, 1001.0, 504), (1.5, 2.0, 503), (2.0, 5000.0, None)
    )
    points = latency_points(timeline_of(history, lead_s=1.0))

    assert [round(p.at_s, 6) for p in points] == [1.0, 1.5, 2.0, 2.5, 3.0]
    assert [p.latency_ms for p in points] == [5.0, 7.0, 1001.0, 2.0, 5000.0]
    # 4xx is an answer; 5xx and no answer at all are errors.
    assert [p.error for p in points] == [False, False, True, True, True]
    assert {p.history for p in points} == {"gateway: GET /x"}


def test_open_invokes_and_non_http_failures_are_errors() -> None:
    history = History()
    done = history.invoke(0, "write", 1)
    history.complete(done, OK, 1)
    failed = history.invoke(1, "write", 2)
    history.complete(failed, FAIL, None, error="refused")
    history.invoke(2, "write", 3)  # never answered
    timeline = Timeline(started=history.started)
    timeline.record("writer", history)

    points = latency_points(timeline)

    assert [p.error for p in points] == [False, True, True]
    assert all(p.latency_ms >= 0 for p in points)


def test_a_timeline_without_requests_draws_nothing() -> None:
    assert render_latency_plot(Timeline()) is None
    empty = Timeline()
    empty.record("gateway: GET /x", History())
    assert render_latency_plot(empty) is None


def test_plot_is_a_png_with_the_points_errors_and_shaded_fault_windows() -> None:
    mpimg = pytest.importorskip("matplotlib.image")
    history = http_history(
        *[(i * 0.05, 5.0, 200) for i in range(20)],
        *[(1.0 + i * 0.05, 1000.0, 504) for i in range(20)],
        *[(2.0 + i * 0.05, 8.0, 200) for i in range(20)],
    )
    png = render_latency_plot(timeline_of(history, faults=2), title="suites/x.py::test_y")

    assert png is not None
    width, height = png_size(png)
    assert (width, height) == (1100, 480)
    assert len(png) > 10_000  # text, axes, points: far more than a blank canvas

    pixels = mpimg.imread(io.BytesIO(png), format="png")[..., :3]

    def share(rgb: tuple[int, int, int], tolerance: float = 0.06) -> float:
        target = [c / 255 for c in rgb]
        close = (abs(pixels - target) <= tolerance).all(axis=-1)
        return float(close.mean())

    assert share((214, 39, 40)) > 0.0005, "no red error crosses"
    assert share((31, 119, 180)) > 0.0005, "no blue answered points"
    # Each fault band: its colour at alpha 0.18 over white, over a good part of the plot.
    assert share((255, 232, 212), tolerance=0.03) > 0.02, "first fault window not shaded"
    assert share((245, 245, 221), tolerance=0.03) > 0.02, "second fault window not shaded"


def test_a_long_run_sums_its_loads_and_faults_up_in_the_legend() -> None:
    # A nightly run: hundreds of loads and fault windows. One legend entry each would
    # squeeze the axes to nothing (matplotlib warns that its layout collapsed).
    pytest.importorskip("matplotlib")
    history = http_history(*[(i * 0.05, 5.0, 200) for i in range(20)])
    timeline = timeline_of(history, faults=60)
    for n in range(60):
        timeline.record(f"gateway: GET /x/{n}", http_history((0.1 * n, 5.0, 200)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = render_latency_plot(timeline)
    assert png is not None
    assert png_size(png) == (1100, 480)


def test_a_fault_still_on_is_shaded_to_the_end() -> None:
    history = http_history((0.0, 5.0, 200), (0.5, 5.0, 200))
    timeline = Timeline(
        started=history.started, faults=[FaultWindow("kill b", "kill", history.started)]
    )
    timeline.record("gateway: GET /x", history)
    png = render_latency_plot(timeline)
    assert png is not None
    png_size(png)


def test_importing_the_plot_module_does_not_import_matplotlib() -> None:
    code = (
        "import sys, harness.plot, harness.report, harness.plugin\n"
        "from harness.timeline import Timeline\n"
        "assert harness.plot.render_latency_plot(Timeline()) is None\n"
        "print('matplotlib' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
