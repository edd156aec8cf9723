"""Shards end to end: an engine that does not answer ends its shard with one paragraph, and
the merge of that shard's results with a good one reports both."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.allure_files import RECORD_NAME
from harness.merge import merge_results
from tests.runs import Run, compose_one, compose_proxied

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
    done = harness.run("--chaos-shard=1/2", "--chaos-seed=5", "--alluredir=results")
    output = done.stdout.str() + done.stderr.str()

    assert done.ret == pytest.ExitCode.TESTS_FAILED
    paragraph = (
        f"chaos-harness (shard 1/2): the Docker engine at {address} (DOCKER_HOST, or "
        "--chaos-engines for this worker) did not answer"
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
    done = harness.run("--chaos-shard=0/3", "--chaos-seed=1")
    output = done.stdout.str()
    assert done.ret == pytest.ExitCode.TESTS_FAILED
    assert output.count("names an engine on 192.0.2.7, another machine") == 1
    assert "as ssh://USER@192.0.2.7" in output


WORKLOAD = """\
  workload:
    - {service: gateway, request: "GET /products/1", rate: 10, budget_ms: 3000}
"""


def _record(directory: Path) -> dict[str, object]:
    for body in _globals(directory):
        for attachment in body["attachments"]:  # type: ignore[attr-defined]
            if attachment["name"] == RECORD_NAME:
                return json.loads((directory / attachment["source"]).read_text())  # type: ignore[no-any-return]
    raise AssertionError(f"no run record in {directory}")


def test_two_shards_explore_disjoint_parts_of_one_plan_and_merge(
    harness: Run, tmp_path: Path
) -> None:
    """Two shards of one seed, one after the other, each with its own topology: their
    coverage cases are disjoint and together the plan, a round either ran has the number
    and seed the plan gives it, each names its shard, and the merge reports both."""
    system = harness.path / "compose.yml"
    system.write_text(
        compose_proxied(harness.context).replace("x-chaos:\n", "x-chaos:\n" + WORKLOAD, 1)
    )
    harness.pytester.makeconftest("")
    records = []
    for k in range(2):
        done = harness.run(
            f"--chaos-compose={system}",
            "--chaos-explore",
            "--chaos-backend=docker",
            "--chaos-seed=1000",
            f"--chaos-shard={k}/2",
            "--chaos-explore-budget=40",
            f"--alluredir=shard-{k}",
            "-p",
            "no:cacheprovider",
        )
        done.stdout.fnmatch_lines(
            [
                f"*seed 1000; shard {k}/2*",
                f"this shard alone again: --chaos-seed=1000 --chaos-shard={k}/2",
            ]
        )
        records.append(_record(harness.path / f"shard-{k}"))
        properties = (harness.path / f"shard-{k}" / "environment.properties").read_text()
        assert f"shard = {k}/2" in properties

    explored = [r["summary"]["explorations"][0] for r in records]  # type: ignore[index]
    cases = [{(c["kind"], c["target"]) for c in e["coverage"]["cases"]} for e in explored]
    assert not cases[0] & cases[1]
    planned = explored[0]["coverage"]["planned"]
    assert planned == explored[1]["coverage"]["planned"]
    assert len(cases[0] | cases[1]) == planned
    for k, e in enumerate(explored):
        ran = [c for c in e["coverage"]["cases"] if c["outcome"] in ("held", "broke")]
        assert ran, f"shard {k}/2 covered nothing"
        # Rounds follow only a coverage that broke nothing (this gateway may break the
        # honest error contract); those that ran are this shard's, with the plan's seeds.
        assert all(r["number"] % 2 == k for r in e["rounds"])
        assert all(r["seed"] == 1000 + r["number"] for r in e["rounds"])

    lines, errors = merge_results(
        [harness.path / "shard-0", harness.path / "shard-1"], tmp_path / "merged", shards=2
    )
    assert errors == []
    assert lines[0] == "shards: 2 of 2 reported (0/2, 1/2)"
    results = [json.loads(p.read_text()) for p in (tmp_path / "merged").glob("*-result.json")]
    shards = sorted(
        p["value"] for r in results for p in r.get("parameters", []) if p["name"] == "shard"
    )
    assert shards == ["0/2", "1/2"]  # one result per shard, each with its own history
    assert sorted(r["name"] for r in results) == ["explore [shard 0/2]", "explore [shard 1/2]"]
    for result in results:  # a finding names the invariant it broke first: the category's group
        invariants = [label["value"] for label in result["labels"] if label["name"] == "invariant"]
        found = explored[int(result["name"][-4])]["found"]
        assert invariants == ([found["checks"][0]] if found else [])


@contextlib.contextmanager
def _tcp_engine(unix_socket: str) -> Iterator[str]:
    """This machine's engine on a tcp:// address of its loopback: a forwarder to its socket,
    as a second dockerd listening on tcp would be."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX)
            engine.connect(unix_socket)
            for a, b in ((client, engine), (engine, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def test_a_shard_runs_on_the_engine_docker_host_names(
    harness: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DOCKER_HOST=tcp://... (an engine on this machine's loopback): the shard's system runs
    there, and its run record names the engine."""
    sock = "/var/run/docker.sock"
    if not Path(sock).exists():
        pytest.skip(f"no engine socket at {sock} to put on a tcp address")
    harness.setup(TESTS, compose_one(harness.context))
    with _tcp_engine(sock) as address:
        monkeypatch.setenv("DOCKER_HOST", address)
        done = harness.run("--chaos-shard=0/2", "--chaos-seed=1", "--alluredir=results")
    done.assert_outcomes(passed=2)
    record = _record(harness.path / "results")
    assert record["docker_host"] == address
    assert record["shard"] == "0/2"
    harness.assert_nothing_left()


def test_each_xdist_worker_may_use_an_engine_of_its_own(harness: Run) -> None:
    """--chaos-engines: each worker's run record names its own engine (one through tcp,
    one through the socket). (``--tx popen//env:DOCKER_HOST=...`` cannot say it: xdist
    splits a spec at every ``//``, an address's included.)"""
    sock = "/var/run/docker.sock"
    if not Path(sock).exists():
        pytest.skip(f"no engine socket at {sock} to put on a tcp address")
    harness.setup(TESTS, compose_one(harness.context))
    with _tcp_engine(sock) as address:
        done = harness.run(
            "-n",
            "2",
            "--dist=each",
            f"--chaos-engines=gw0={address},gw1=unix://{sock}",
            "--alluredir=results",
        )
    done.assert_outcomes(passed=4)  # --dist=each: both tests on both workers
    engines = set()
    for body in _globals(harness.path / "results"):
        for attachment in body["attachments"]:  # type: ignore[attr-defined]
            if attachment["name"] == RECORD_NAME:
                record = json.loads((harness.path / "results" / attachment["source"]).read_text())
                engines.add(record["docker_host"])
    assert engines == {address, f"unix://{sock}"}
    harness.assert_nothing_left()
