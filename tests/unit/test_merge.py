"""harness.merge: the results of several shards become one results directory, with the
whole run's summary, coverage and errors as Allure 3 globals."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from harness.allure_files import (
    COVERAGE_NAME,
    RECORD_NAME,
    SUMMARY_NAME,
    format_properties,
    write_globals,
)
from harness.merge import ALLURE_CATEGORIES, allurerc, merge_results
from harness.summary import RunSummary, render_coverage


def _exploration(shard: str, outcome: str, examples: int) -> dict[str, Any]:
    return {
        "test": "suites/test_nightly.py::test_nightly_exploration_keeps_every_invariant",
        "seed": 7,
        "shard": shard,
        "examples": examples,
        "seconds": 60.0,
        "per_minute": float(examples),
        "found": {"checks": ["survives"], "message": "x", "fault_steps": 1}
        if outcome == "broke"
        else None,
        "coverage": {
            "shard": shard,
            "planned": 2,
            "cases": [
                {"kind": "kill", "target": "payment", "outcome": outcome}
                if shard == "0/2"
                else {"kind": "latency", "target": "gateway->payment", "outcome": outcome}
            ],
            "inapplicable": [],
        },
    }


def _shard(root: Path, k: int, *, fails: bool) -> Path:
    directory = root / f"shard-{k}"
    directory.mkdir()
    (directory / f"{k}abc-result.json").write_text(json.dumps({"name": f"test {k}"}))
    (directory / "environment.properties").write_text(
        format_properties({"seed": "7", "shard": f"{k}/2", "python": "3.11"})
    )
    summary = RunSummary(
        verdicts={"survives": Counter({"pass": 3, "fail": 1 if fails else 0})},
        first_failure={"survives": "payment died"} if fails else {},
        faults=Counter({"kill": 2}),
        environments=1,
        explorations=[_exploration(f"{k}/2", "broke" if fails else "held", 10 * (k + 1))],
    )
    record = {
        "shard": f"{k}/2",
        "seed": 7,
        "system": "seeded bugs on: none",
        "summary": summary.to_json(),
    }
    write_globals(
        directory,
        [
            (SUMMARY_NAME, "shard text\n", "text/plain", "txt"),
            (COVERAGE_NAME, "shard coverage\n", "text/plain", "txt"),
            (RECORD_NAME, json.dumps(record), "application/json", "json"),
        ],
        [],
    )
    return directory


def _globals(directory: Path) -> tuple[dict[str, str], list[str]]:
    (path,) = directory.glob("*-globals.json")
    body = json.loads(path.read_text())
    texts = {a["name"]: (directory / a["source"]).read_text() for a in body["attachments"]}
    return texts, [e["message"] for e in body["errors"]]


def test_two_shards_merge_into_one_summary_and_one_coverage(tmp_path: Path) -> None:
    dirs = [_shard(tmp_path, 0, fails=True), _shard(tmp_path, 1, fails=False)]
    lines, errors = merge_results(dirs, tmp_path / "merged", shards=2)
    merged = tmp_path / "merged"

    assert errors == []
    assert sorted(p.name for p in merged.glob("*-result.json")) == [
        "0abc-result.json",
        "1abc-result.json",
    ]
    assert len(list(merged.glob("*-globals.json"))) == 1  # the shards' own are left out
    texts, global_errors = _globals(merged)
    assert global_errors == []
    summary = texts[SUMMARY_NAME]
    assert "shards: 2 of 2 reported (0/2, 1/2)" in summary
    assert "survives" in summary
    assert "(6 pass, 1 fail)" in summary
    assert "first failure: payment died" in summary
    assert "faults fired: 4 (kill x4)" in summary
    coverage = texts[COVERAGE_NAME]
    assert "examples in all: 30 (2 shards at once: 30.0 per minute)" in coverage
    assert "(shard 0/2): 10 examples" in coverage
    assert "(shard 1/2): 20 examples" in coverage
    assert "fault kinds x targets covered: 2/2" in coverage
    assert "BROKE" in coverage  # kill on payment broke on shard 0
    record = json.loads(texts[RECORD_NAME])
    assert record["shards"] == ["0/2", "1/2"]
    assert record["missing"] == []
    properties = (merged / "environment.properties").read_text()
    assert "seed = 7" in properties
    assert "shard = 2 of 2 merged (0/2, 1/2)" in properties
    assert lines[0].startswith("shards: 2 of 2")


def test_a_missing_shard_is_a_global_error_and_the_others_are_reported(tmp_path: Path) -> None:
    dirs = [_shard(tmp_path, 0, fails=False), tmp_path / "shard-1"]  # shard 1 sent nothing
    _lines, errors = merge_results(dirs, tmp_path / "merged", shards=2)
    texts, global_errors = _globals(tmp_path / "merged")
    assert any("no such results directory" in e for e in global_errors)
    assert any(e.startswith("shard 1/2: no run record") for e in global_errors)
    assert "missing: 1/2" in texts[SUMMARY_NAME]
    assert "(3 pass)" in texts[SUMMARY_NAME]
    assert (tmp_path / "merged" / "0abc-result.json").is_file()
    assert errors == global_errors


def test_a_shards_engine_error_reaches_the_merged_report(tmp_path: Path) -> None:
    good = _shard(tmp_path, 0, fails=False)
    bad = tmp_path / "shard-1"
    bad.mkdir()
    record = {"shard": "1/2", "seed": 7, "summary": {}, "errors": ["engine gone"]}
    write_globals(
        bad, [(RECORD_NAME, json.dumps(record), "application/json", "json")], ["engine gone"]
    )
    lines, errors = merge_results([good, bad], tmp_path / "merged", shards=2)
    assert errors == ["engine gone"]
    assert "  shard 1/2: seed 7, engine this machine's engine; ENDED EARLY" in "\n".join(lines)


def test_the_allure_config_groups_failures_by_invariant_and_keeps_history(tmp_path: Path) -> None:
    config = allurerc(tmp_path / "h.jsonl")
    assert config["historyPath"] == str(tmp_path / "h.jsonl")
    (rule,) = config["categories"]["rules"]
    assert rule is ALLURE_CATEGORIES[0]
    assert rule["groupBy"] == [{"label": "invariant"}]
    assert rule["matchers"]["labels"] == {"invariant": ".+"}


def test_coverage_without_explorations_says_so() -> None:
    assert render_coverage([]) == ["no exploration ran"]


def test_one_unsharded_run_is_reported_as_one_run(tmp_path: Path) -> None:
    directory = tmp_path / "results"
    directory.mkdir()
    record = {"shard": "0/1", "seed": 3, "summary": {"verdicts": {"survives": {"pass": 1}}}}
    write_globals(directory, [(RECORD_NAME, json.dumps(record), "application/json", "json")], [])
    lines, errors = merge_results([directory], tmp_path / "merged")
    assert errors == []
    assert lines[0] == "one run, not sharded (one process)"
    assert lines[1].startswith("seed 3")
