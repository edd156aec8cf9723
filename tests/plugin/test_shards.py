"""Shards end to end: an engine that does not answer ends its shard with one paragraph, and
the merge of that shard's results with a good one reports both."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from harness.allure_files import RECORD_NAME
from harness.merge import merge_results
from tests.runs import Run, compose_one

TESTS = """
def test_first(chaos):
    pass


def test_second(chaos):
    pass
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: nothing listens there


def _globals(directory: Path) -> list[dict[str, object]]:
    return [json.loads(path.read_text()) for path in directory.glob("*-globals.json")]


def test_an_engine_that_does_not_answer_ends_the_shard_with_one_paragraph(
    harness: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    harness.setup(TESTS, compose_one(harness.context))
    address = f"tcp://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("DOCKER_HOST", address)
    done = harness.run(
        "--chaos-shard=1/2", "--chaos-seed=5", "--alluredir=results", "-p", "allure_pytest"
    )
    output = done.stdout.str() + done.stderr.str()

    assert done.ret == pytest.ExitCode.TESTS_FAILED
    paragraph = (
        f"chaos-harness (shard 1/2): the Docker engine DOCKER_HOST names ({address}) did not answer"
    )
    assert output.count(paragraph) == 1, output
    assert "is dockerd listening there" in output
    assert "test_second" not in output.split(paragraph, 1)[1].split("short test summary")[0]
    (written,) = _globals(harness.path / "results")
    assert paragraph in written["errors"][0]["message"]  # type: ignore[index]

    # The other shard's results are reported; this one's error too.
    good = tmp_path / "good"
    good.mkdir()
    record = {"shard": "0/2", "seed": 5, "summary": {"verdicts": {"survives": {"pass": 2}}}}
    source = "0-attachment.json"
    (good / source).write_text(json.dumps(record))
    (good / "a-globals.json").write_text(
        json.dumps({"attachments": [{"name": RECORD_NAME, "source": source}], "errors": []})
    )
    _, errors = merge_results([good, harness.path / "results"], tmp_path / "merged", shards=2)
    assert len(errors) == 1
    assert errors[0].startswith(paragraph)


def test_an_engine_on_another_machine_is_refused_saying_where_to_run(
    harness: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.setup(TESTS, compose_one(harness.context))
    monkeypatch.setenv("DOCKER_HOST", "tcp://192.0.2.7:2375")  # TEST-NET-1: never this machine
    done = harness.run("--chaos-shard=0/3")
    output = done.stdout.str()
    assert done.ret == pytest.ExitCode.TESTS_FAILED
    assert output.count("names an engine on 192.0.2.7, another machine") == 1
    assert "start pytest there" in output
