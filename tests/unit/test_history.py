"""Unit tests for harness.history: recording, pairing, helpers, JSONL and validation."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.history import History, HistoryError, Op


def _sample() -> History:
    history = History()
    a = history.invoke(0, "GET /products/1")
    b = history.invoke(1, "POST /orders", {"qty": 2})
    history.complete(a, "ok", {"status": 200})
    history.complete(b, "info", None, "timeout")
    c = history.invoke(0, "GET /products/2")
    history.complete(c, "fail", {"status": 404})
    history.invoke(2, "GET /products/3")  # left open
    return history


def test_invoke_and_complete_record_ops_in_order() -> None:
    history = _sample()
    ops = list(history)
    assert [op.index for op in ops] == list(range(7))
    assert [op.type for op in ops] == ["invoke", "invoke", "ok", "info", "invoke", "fail", "invoke"]
    assert ops[2].process == 0
    assert ops[2].f == "GET /products/1"
    assert ops[3].error == "timeout"
    assert ops[1].value == {"qty": 2}
    times = [op.time for op in ops]
    assert times == sorted(times)
    assert times[0] >= 0.0
    history.validate()


def test_complete_rejects_bad_arguments() -> None:
    history = History()
    invoke_op = history.invoke(0, "GET /")
    with pytest.raises(ConfigError, match="ok/fail/info"):
        history.complete(invoke_op, "invoke")
    done = history.complete(invoke_op, "ok")
    with pytest.raises(ConfigError, match="only complete an invoke"):
        history.complete(done, "ok")


def test_pairs_match_completions_and_leave_open_invokes() -> None:
    history = _sample()
    pairs = list(history.pairs())
    assert [(i.index, c.index if c else None) for i, c in pairs] == [
        (0, 2),
        (1, 3),
        (4, 5),
        (6, None),
    ]
    assert [op.index for op in history.open()] == [6]


def test_completed_by_type_and_latencies() -> None:
    history = _sample()
    assert len(history.completed()) == 3
    assert [c.type for _, c in history.completed("ok", "fail")] == ["ok", "fail"]
    counts = {kind: len(ops) for kind, ops in history.by_type().items()}
    assert counts == {"invoke": 4, "ok": 1, "info": 1, "fail": 1}
    latencies = history.latencies()
    assert len(latencies) == 3
    assert all(latency >= 0 for latency in latencies)
    assert len(history.latencies("info")) == 1


def _op(index: int, type: str, process: int, time: float, f: str = "GET /") -> Op:
    return Op(index, type, process, f, None, time)


def test_between_keeps_whole_pairs_by_invoke_time() -> None:
    history = History(
        [
            _op(0, "invoke", 0, 0.5),
            _op(1, "invoke", 1, 1.5),
            _op(2, "ok", 0, 1.6),  # completes inside the window, invoked before it
            _op(3, "ok", 1, 2.5),  # completes after the window, invoked inside it
            _op(4, "invoke", 2, 3.0),
            _op(5, "fail", 2, 3.1),
        ]
    )
    window = history.between(1.0, 3.0)
    assert [op.index for op in window] == [1, 3]
    window.validate()
    assert [op.index for op in history.between(0.0, 10.0)] == list(range(6))
    with pytest.raises(ConfigError, match="before it starts"):
        history.between(2.0, 1.0)


def test_jsonl_round_trip(tmp_path: Path) -> None:
    history = _sample()
    path = tmp_path / "history.jsonl"
    history.to_jsonl(path)
    assert len(path.read_text().splitlines()) == len(history)
    loaded = History.from_jsonl(path)
    assert list(loaded) == list(history)
    loaded.validate()
    # A loaded history keeps recording on from where its clock stopped.
    later = loaded.invoke(9, "GET /")
    assert later.index == len(history)
    assert later.time >= history[-1].time


def test_from_jsonl_reports_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = '{"index":0,"type":"invoke","process":0,"f":"GET /","value":null,"time":0.0}'
    path.write_text(good + "\n\n" + '{"index":"x","type":"ok"}\n')
    with pytest.raises(HistoryError, match=r"bad\.jsonl:3"):
        History.from_jsonl(path)
    path.write_text("not json\n")
    with pytest.raises(HistoryError, match=r"bad\.jsonl:1"):
        History.from_jsonl(path)
    path.write_text(good.replace('"process":0', '"process":true') + "\n")
    with pytest.raises(HistoryError, match="process"):
        History.from_jsonl(path)


def test_to_jsonl_refuses_values_that_are_not_json(tmp_path: Path) -> None:
    history = History()
    history.invoke(0, "GET /", {1, 2})
    with pytest.raises(TypeError):
        history.to_jsonl(tmp_path / "h.jsonl")


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([_op(0, "invoke", 0, 0), _op(1, "invoke", 0, 1)], "still open"),
        ([_op(0, "ok", 0, 0)], "no open invoke"),
        ([_op(0, "invoke", 0, 0), _op(1, "ok", 0, 1), _op(2, "ok", 0, 2)], "no open invoke"),
        ([_op(0, "invoke", 0, 0), _op(1, "done", 0, 1)], "type 'done'"),
        ([_op(0, "invoke", 0, 0, "GET /a"), _op(1, "ok", 0, 1, "GET /b")], "invoked 'GET /a'"),
    ],
)
def test_validate_rejects_malformed_histories(ops: list[Op], message: str) -> None:
    with pytest.raises(HistoryError, match=message):
        History(ops).validate()


def test_concurrent_appends_keep_indices_dense_and_pairs_whole() -> None:
    history = History()

    def client(process: int) -> None:
        for n in range(200):
            op = history.invoke(process, "GET /", n)
            history.complete(op, "ok", n)

    threads = [threading.Thread(target=client, args=(p,)) for p in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [op.index for op in history] == list(range(8 * 200 * 2))
    history.validate()
    assert len(history.completed("ok")) == 8 * 200
