"""End to end: a chaos test run with --alluredir leaves a complete Allure result behind.

One run against the reference shape (gateway -> Toxiproxy -> inventory, real containers):
the result JSON of a test that applied a fault has the fault's step with its parameters,
a JSONL attachment per load, a PNG plot, log excerpts and the right labels; the results
directory has environment.properties. The run also records whether matplotlib was ever
imported, and a run without --alluredir must not import it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.topology import load_topology
from tests.runs import Run, compose_proxied

TESTS = """
import pytest

from faults import Latency


@pytest.mark.pitfall("no-deadline")
def test_slow_inventory(chaos):
    chaos.load("gateway", "GET /products/1", rate=20, seconds=0.5)
    with Latency("gateway->inventory", ms=1500):
        chaos.load("gateway", "GET /products/1", rate=20, seconds=1, timeout=3)


def test_quiet(chaos):
    pass
"""

# Appended to the run's conftest: did anything import matplotlib during the run?
MATPLOTLIB_PROBE = """

def pytest_sessionfinish(session):
    import sys

    note("matplotlib", "matplotlib" in sys.modules)
"""


def results(directory: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for file in directory.glob("*-result.json"):
        result = json.loads(file.read_text())
        found[result["name"]] = result
    return found


def labels(result: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for label in result["labels"]:
        out.setdefault(label["name"], []).append(label["value"])
    return out


def test_a_chaos_test_result_has_fault_step_histories_plot_logs_and_labels(harness: Run) -> None:
    harness.setup(TESTS, compose_proxied(harness.context))
    conftest = harness.path / "conftest.py"
    conftest.write_text(conftest.read_text() + MATPLOTLIB_PROBE)
    out = harness.path / "allure-results"

    run = harness.run("-p", "no:randomly", f"--alluredir={out}")

    run.assert_outcomes(passed=2)
    found = results(out)
    assert set(found) == {"test_slow_inventory", "test_quiet"}
    slow, quiet = found["test_slow_inventory"], found["test_quiet"]

    # The fault is a step of the test body, its parameters as Allure strings.
    (step,) = slow["steps"]
    assert step["name"] == "fault: latency 1500 ms on gateway->inventory (downstream)"
    params = {p["name"]: p.get("value") for p in step["parameters"]}
    assert params == {
        "link": "gateway->inventory",
        "stream": "downstream",
        "ms": "1500",
        "jitter_ms": "0",
    }

    # On the test's own result: one JSONL per load, the plot, what each service logged.
    attachments = {a["name"]: a for a in slow["attachments"]}
    histories = [a for name, a in attachments.items() if name.startswith("history ")]
    assert [a["name"] for a in histories] == [
        "history 1: gateway: GET /products/1",
        "history 2: gateway: GET /products/1",
    ]
    for attachment in histories:
        assert attachment["type"] == "text/plain"  # so that Allure shows it inline
        assert attachment["source"].endswith(".jsonl")
        ops = [json.loads(line) for line in (out / attachment["source"]).read_text().splitlines()]
        invokes = [op for op in ops if op["type"] == "invoke"]
        assert len(invokes) >= 10
        assert len(ops) == 2 * len(invokes), "every request and its completion"
    plot = attachments["latency over time"]
    assert plot["type"] == "image/png"
    png = (out / plot["source"]).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 10_000
    assert any(name.startswith("log gateway") for name in attachments)

    # A test that sent no request gets no plot and no history, and is labelled normal.
    quiet_names = [a["name"] for a in quiet.get("attachments", [])]
    assert not [name for name in quiet_names if name.startswith(("history", "latency"))]

    slow_labels, quiet_labels = labels(slow), labels(quiet)
    assert slow_labels["epic"] == ["chaos"]
    assert slow_labels["story"] == ["no-deadline"]
    assert slow_labels["feature"] == ["latency"]
    assert slow_labels["severity"] == ["critical"]
    assert quiet_labels["epic"] == ["chaos"]
    assert quiet_labels["severity"] == ["normal"]
    assert "story" not in quiet_labels
    assert "feature" not in quiet_labels

    properties = (out / "environment.properties").read_text()
    for key in ("chaos-harness", "python", "pytest", "docker-engine", "toxiproxy", "seed"):
        assert f"\n{key} = " in "\n" + properties, key
    # Images are named per project (the compose file's folder here) and service.
    project = load_topology(harness.path / "compose.yml").project
    assert f"image.gateway = chaos-harness/{project}-gateway:" in properties
    assert "image.link.gateway->inventory = chaos-harness/toxiproxy:" in properties
    assert "toxiproxy = v2.12.0+chaos-harness" in properties
    assert "backend = docker" in properties
    assert harness.recorded("matplotlib") == ["True"]

    # Without --alluredir nothing is rendered: matplotlib is never even imported.
    (harness.path / "record" / "matplotlib").unlink()
    quiet_run = harness.run("-p", "no:randomly")
    quiet_run.assert_outcomes(passed=2)
    assert harness.recorded("matplotlib") == ["False"]
    harness.assert_nothing_left()
