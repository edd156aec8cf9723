"""Unit tests of the checkers on small hand-made histories and signal series."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks import (
    GOBREAKER_STATES,
    Outcome,
    Verdict,
    answers_within,
    available_at_least,
    breaker_trips_and_recovers,
    counter_between,
    effects_carry_their_cause,
    no_lost_or_duplicated_writes,
    replies_well_formed,
    status_counts,
    stays_under,
)
from harness.errors import ConfigError
from harness.history import FAIL, INFO, INVOKE, OK, History, Op, request_label


def make_history(*outcomes: tuple[str, dict[str, Any]], f: str = "GET /x") -> History:
    history = History()
    for process, (kind, value) in enumerate(outcomes):
        invoke = history.invoke(process, f, value.pop("request", None))
        history.complete(invoke, kind, value)
    return history


def reply(status: int | None, ms: float, **extra: Any) -> dict[str, Any]:
    return {"status": status, "latency_ms": ms, **extra}


def sent(
    *requests: tuple[int, float, str, dict[str, Any]],
    error: str | None = None,
    kind: str = FAIL,
) -> History:
    """A history as the load generator writes it: (request number, sent at, "METHOD /path",
    completion value) per request, invoked in order and each answered before the next."""
    history = History()
    for number, at, what, value in requests:
        method, path = what.split(" ", 1)
        invoke = {"method": method, "path": path, **value.pop("request", {})}
        history.append(Op(len(history), INVOKE, number, what, invoke, at))
        failed = error if value.get("status") is None else None
        history.append(Op(len(history), kind, number, what, value, at + 0.001, failed))
    return history


# -- Verdict ----------------------------------------------------------------------------------


def test_require_passes_only_a_pass() -> None:
    Verdict.passing("c", "fine").require()
    with pytest.raises(AssertionError, match=r"\[c: fail\] broken"):
        Verdict.failing("c", "broken").require()
    with pytest.raises(AssertionError, match=r"\[c: unknown\] blind"):
        Verdict.unknown("c", "blind").require()


# -- timing -----------------------------------------------------------------------------------


def test_answers_within_passes_when_every_reply_is_fast_and_allowed() -> None:
    history = make_history((FAIL, reply(504, 1010)), (FAIL, reply(504, 1200)))
    verdict = answers_within(history, 1000, statuses={504})
    assert verdict.outcome is Outcome.PASS


def test_answers_within_counts_missing_late_and_refused_replies_apart() -> None:
    history = sent(
        (40, 0.5, "GET /products/1", reply(504, 1400)),
        (41, 0.55, "GET /products/1", reply(None, 5000)),
        (42, 0.6, "POST /orders", reply(200, 10, request={"headers": {"X-Request-ID": "r-42"}})),
        error="timeout after 5.0 s",
    )
    verdict = answers_within(history, 1000, statuses={504})
    assert verdict.outcome is Outcome.FAIL
    assert verdict.message == (
        "3 of 3 requests did not get an answer within 1000 ms + 250 ms with status 504: "
        "1 got no answer at all; 1 answered after more than 1250 ms; 1 answered with another "
        "status (1 x 200).\n"
        "  1 got no answer at all:\n"
        "    request 41 (GET /products/1, sent at 0.550 s) got no answer after 5000 ms: "
        "timeout after 5.0 s\n"
        "  1 answered after more than 1250 ms:\n"
        "    request 40 (GET /products/1, sent at 0.500 s) answered 504 after 1400 ms\n"
        "  1 answered with another status (1 x 200):\n"
        "    request 42 (POST /orders, sent at 0.600 s, X-Request-ID r-42) answered 200 after "
        "10 ms"
    )
    assert set(verdict.evidence) == {"no answer", "over budget", "wrong status"}


def test_answers_within_does_not_call_fast_wrong_statuses_over_budget() -> None:
    # What a user saw: twenty 500s in 2 ms each, reported as breaking the 1000 ms budget.
    history = sent(*((n, n * 0.05, "GET /ping", reply(500, 2)) for n in range(20)))
    verdict = answers_within(history, 1000, statuses={200, 503, 504})
    assert verdict.message.splitlines()[0] == (
        "20 of 20 requests did not get an answer within 1000 ms + 250 ms with status 200, 503 "
        "or 504: 20 answered with another status (20 x 500)."
    )
    assert "after more than" not in verdict.message
    assert "… and 10 more" in verdict.message
    assert list(verdict.evidence) == ["wrong status"]
    assert verdict.evidence["wrong status"].count("\n") == 19
    assert (
        "request 19 (GET /ping, sent at 0.950 s) answered 500 after 2 ms"
        in (verdict.evidence["wrong status"])
    )


def test_a_reply_both_late_and_refused_is_in_both_findings_and_counted_once() -> None:
    history = sent((7, 1.0, "GET /x", reply(500, 3000)), (8, 1.1, "GET /x", reply(504, 20)))
    verdict = answers_within(history, 1000, statuses={504})
    assert verdict.message.splitlines()[0] == (
        "1 of 2 requests did not get an answer within 1000 ms + 250 ms with status 504: "
        "1 answered after more than 1250 ms; 1 answered with another status (1 x 500)."
    )


def test_request_label_names_the_request_as_sent_and_its_request_id() -> None:
    history = sent(
        (3, 2.3101, "GET /a", reply(200, 1)),
        (4, 2.4, "GET /b", reply(200, 1, headers={"X-Request-ID": "echoed"})),
    )
    (first, first_done), (second, second_done) = history.completed()
    assert request_label(first, first_done) == "request 3 (GET /a, sent at 2.310 s)"
    assert request_label(second, second_done) == (
        "request 4 (GET /b, sent at 2.400 s, X-Request-ID echoed)"
    )


def test_replies_well_formed_counts_no_reply_and_malformed_apart() -> None:
    history = sent(
        (0, 0.1, "GET /a", reply(200, 1, body={"ok": True})),
        (1, 0.2, "GET /a", reply(None, 1)),
        (2, 0.3, "GET /a", reply(200, 1, body=None)),
        error="ConnectionResetError: reset by peer",
    )
    verdict = replies_well_formed(history)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.message.splitlines()[0] == (
        "2 of 3 requests got no or a malformed reply: 1 got no reply; 1 answered with a body "
        "that is not JSON (pass is_well_formed= for a service that answers something else)."
    )
    assert "request 1 (GET /a, sent at 0.200 s) got no reply: ConnectionResetError" in (
        verdict.message
    )
    assert "request 2 (GET /a, sent at 0.300 s) answered 200 with a body that is not JSON" in (
        verdict.message
    )
    assert set(verdict.evidence) == {"no reply", "malformed"}
    text = replies_well_formed(history, is_well_formed=lambda value: value["status"] is not None)
    assert (
        text.message.splitlines()[0]
        == "1 of 3 requests got no or a malformed reply: 1 got no reply."
    )


def test_answers_within_an_empty_history_is_unknown() -> None:
    assert answers_within(History(), 1000).outcome is Outcome.UNKNOWN


def test_answers_within_judges_only_the_selected_replies_and_never_passes_none() -> None:
    history = make_history((FAIL, reply(503, 5)), (OK, reply(200, 900)), (FAIL, reply(503, 400)))

    def refused(value: dict[str, Any]) -> bool:
        return value.get("status") == 503

    verdict = answers_within(history, 100, epsilon_ms=0, select=refused)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.message.startswith(
        "1 of 2 requests did not get an answer within 100 ms + 0 ms: 1 answered after more "
        "than 100 ms."
    )
    nothing = answers_within(history, 100, select=lambda value: value.get("status") == 429)
    assert nothing.outcome is Outcome.UNKNOWN
    assert nothing.message == "none of the 3 replies matched the selection"


def test_status_counts_counts_missing_answers_as_none() -> None:
    history = make_history((OK, reply(200, 1)), (OK, reply(200, 1)), (INFO, reply(None, 9)))
    assert status_counts(history) == {200: 2, None: 1}


# -- set-full ---------------------------------------------------------------------------------


def order_key(invoke: Op, done: Op) -> str | None:
    return invoke.value["key"] if isinstance(invoke.value, dict) else None


def writes(*kinds: str) -> History:
    return make_history(
        *((kind, {"request": {"key": f"k{i}"}, "status": 201}) for i, kind in enumerate(kinds)),
        f="POST /orders",
    )


def test_set_full_accepts_acknowledged_once_and_unknown_either_way() -> None:
    history = writes(OK, OK, INFO, INFO, FAIL)
    verdict = no_lost_or_duplicated_writes(history, ["k0", "k1", "k2"], order_key)
    assert verdict.outcome is Outcome.PASS, verdict.message


def test_set_full_finds_lost_duplicated_and_resurrected_writes() -> None:
    history = writes(OK, OK, INFO, FAIL)
    verdict = no_lost_or_duplicated_writes(history, ["k1", "k1", "k2", "k3"], order_key)
    assert verdict.outcome is Outcome.FAIL
    assert "1 acknowledged but missing (lost): k0" in verdict.message
    assert "present more than once (duplicated): k1 (x2)" in verdict.message
    assert "failed but present anyway: k3" in verdict.message


def test_set_full_a_retried_write_takes_its_best_outcome() -> None:
    history = make_history(
        (INFO, {"request": {"key": "k"}, "status": None}),
        (OK, {"request": {"key": "k"}, "status": 201}),
        f="POST /orders",
    )
    lost = no_lost_or_duplicated_writes(history, [], order_key)
    assert lost.outcome is Outcome.FAIL
    assert "lost" in lost.message


# -- counters and traces ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counter", "outcome"),
    [(10, Outcome.PASS), (12, Outcome.PASS), (9, Outcome.FAIL), (13, Outcome.FAIL)],
)
def test_counter_between_acknowledged_and_attempted(counter: float, outcome: Outcome) -> None:
    assert counter_between(counter, acknowledged=10, attempted=12).outcome is outcome


def test_counter_that_cannot_be_read_is_unknown() -> None:
    assert counter_between(None, 1, 2).outcome is Outcome.UNKNOWN


def test_effects_must_carry_the_request_id_of_their_cause() -> None:
    causes = {"o1": "r1", "o2": "r2"}
    good = [{"order": "o1", "request_id": "r1"}, {"order": "o2", "request_id": "r2"}]
    bad = [{"order": "o1", "request_id": "r2"}, {"order": "o2", "request_id": "r2"}]
    args = {"effect_key": "order", "effect_cause": "request_id"}
    assert effects_carry_their_cause(causes, good, **args).outcome is Outcome.PASS
    verdict = effects_carry_their_cause(causes, bad, **args)
    assert verdict.outcome is Outcome.FAIL
    assert "o1 carries request ID 'r2', but request 'r1' caused it" in verdict.message
    assert effects_carry_their_cause(causes, [], **args).outcome is Outcome.UNKNOWN


def test_complete_effects_must_all_be_there() -> None:
    causes = {"o1": "r1", "o2": "r2"}
    one = [{"order": "o1", "request_id": "r1"}, {"order": "o1", "request_id": "r1"}]
    args = {"effect_key": "order", "effect_cause": "request_id"}
    assert effects_carry_their_cause(causes, one, **args).outcome is Outcome.PASS
    lost = effects_carry_their_cause(causes, one, complete=True, **args)
    assert lost.outcome is Outcome.FAIL
    assert "1 of 2 effects were lost (never recorded): o2" in lost.message
    none = effects_carry_their_cause(causes, [], complete=True, **args)
    assert none.outcome is Outcome.FAIL
    assert "2 of 2 effects were lost" in none.message


# -- breaker ----------------------------------------------------------------------------------


def series(*points: tuple[float, float | None]) -> list[tuple[float, float | None]]:
    return list(points)


def test_breaker_that_opens_and_closes_in_time_passes() -> None:
    states = series((0, 0), (1, 0), (2, 2), (3, 2), (4.2, 1), (4.3, 0))
    calls = series((0, 5), (1, 10), (2, 14), (3, 14), (4.2, 14), (4.3, 16))
    verdict = breaker_trips_and_recovers(
        states, fault_start=1, fault_end=3, timeout_s=1, downstream_calls=calls
    )
    assert verdict.outcome is Outcome.PASS, verdict.message
    assert "open@2.00s" in verdict.evidence["state path"]


def test_breaker_that_never_opens_fails() -> None:
    verdict = breaker_trips_and_recovers(
        series((0, 0), (2, 0), (4, 0)), fault_start=1, fault_end=3, timeout_s=1
    )
    assert verdict.outcome is Outcome.FAIL
    assert "never opened" in verdict.message


def test_breaker_stuck_open_fails() -> None:
    verdict = breaker_trips_and_recovers(
        series((0, 0), (2, 2), (4, 2), (8, 2)), fault_start=1, fault_end=3, timeout_s=1
    )
    assert verdict.outcome is Outcome.FAIL
    assert "stuck open" in verdict.message


def test_breaker_open_but_calls_still_flowing_fails() -> None:
    states = series((0, 0), (2, 2), (3, 2), (4, 0))
    calls = series((0, 0), (2, 10), (3, 60), (4, 61))
    verdict = breaker_trips_and_recovers(
        states, fault_start=1, fault_end=3, timeout_s=1, downstream_calls=calls
    )
    assert verdict.outcome is Outcome.FAIL
    assert "received 51 calls while the breaker was open" in verdict.message


def test_breaker_failures_name_the_breaker_and_the_calls_that_got_through() -> None:
    never_opened = breaker_trips_and_recovers(
        series((0, 0), (2, 0), (4, 0)),
        fault_start=1,
        fault_end=3,
        timeout_s=1,
        downstream_calls=series((0, 5), (1, 10), (2, 30), (3, 50), (4, 60)),
        breaker="the gateway's breaker for inventory",
    )
    assert never_opened.outcome is Outcome.FAIL
    assert never_opened.message.startswith("the gateway's breaker for inventory never opened")
    assert never_opened.message.endswith(": 40 calls reached it")
    stuck = breaker_trips_and_recovers(
        series((0, 0), (2, 2), (4, 2), (8, 2)),
        fault_start=1,
        fault_end=3,
        timeout_s=1,
        breaker="the gateway's breaker for inventory",
    )
    assert "the gateway's breaker for inventory never closed (still open 5.0 s later)" in (
        stuck.message
    )


def test_breaker_never_observed_is_unknown() -> None:
    verdict = breaker_trips_and_recovers(series((0, None)), fault_start=0, fault_end=1, timeout_s=1)
    assert verdict.outcome is Outcome.UNKNOWN


def test_breaker_states_are_read_with_the_numbering_the_service_exports() -> None:
    # A breaker exporting names, and one numbering 0 closed, 1 open, 2 half-open.
    names = {"CLOSED": "closed", "OPEN": "open", "HALF_OPEN": "half-open"}
    by_name = breaker_trips_and_recovers(
        [(0, "CLOSED"), (2, "OPEN"), (4.2, "HALF_OPEN"), (4.3, "CLOSED")],
        fault_start=1,
        fault_end=3,
        timeout_s=1,
        state_names=names,
    )
    assert by_name.outcome is Outcome.PASS, by_name.message
    assert by_name.evidence["state path"] == (
        "closed@0.00s → open@2.00s → half-open@4.20s → closed@4.30s"
    )
    other = {0: "closed", 1: "open", 2: "half-open"}
    stuck = series((0, 0), (2, 1), (4, 1), (8, 1))
    verdict = breaker_trips_and_recovers(
        stuck, fault_start=1, fault_end=3, timeout_s=1, state_names=other
    )
    assert "never closed (still open 5.0 s later)" in verdict.message
    # Read with gobreaker's numbering (the default), the same series would be half-open.
    assert GOBREAKER_STATES[1] == "half-open"
    misread = breaker_trips_and_recovers(stuck, fault_start=1, fault_end=3, timeout_s=1)
    assert "never opened" in misread.message


def test_breaker_state_values_nobody_named_are_unknown_and_bad_names_refused() -> None:
    verdict = breaker_trips_and_recovers(
        series((0, 0), (2, 7)), fault_start=1, fault_end=3, timeout_s=1
    )
    assert verdict.outcome is Outcome.UNKNOWN
    assert verdict.message == (
        "the breaker exported state value(s) 7, which state_names (0: closed, 1: half-open, "
        "2: open) does not name; pass state_names= with this breaker's numbering"
    )
    with pytest.raises(ConfigError, match="shut is none of them; nothing maps to closed"):
        breaker_trips_and_recovers(
            series((0, 0)),
            fault_start=1,
            fault_end=3,
            timeout_s=1,
            state_names={0: "shut", 1: "open"},
        )


# -- capacity and availability ----------------------------------------------------------------


def test_stays_under_reports_the_peak() -> None:
    assert stays_under(series((0, 10), (1, 40)), 50).outcome is Outcome.PASS
    verdict = stays_under(series((0, 10), (1, 400), (2, None)), 50, why="bulkhead of 10")
    assert verdict.outcome is Outcome.FAIL
    assert "peaked at 400 (at 1.00 s), above the ceiling of 50 (bulkhead of 10)" in verdict.message
    assert stays_under(series((0, None)), 50).outcome is Outcome.UNKNOWN


def test_availability_counts_ok_answers_and_requires_a_degraded_mark() -> None:
    def is_degraded(value: dict[str, Any]) -> bool:
        return bool((value.get("body") or {}).get("degraded"))

    served = make_history(
        (OK, reply(200, 5, body={"degraded": True})),
        (OK, reply(200, 5, body={"degraded": True})),
        (FAIL, reply(500, 5)),
    )
    assert available_at_least(served, 0.6, degraded=is_degraded).outcome is Outcome.PASS
    below = available_at_least(served, 0.9, what="product reads")
    assert below.outcome is Outcome.FAIL
    assert below.message == (
        "availability fell below target: 2/3 product reads answered (67%; target 90%); "
        "the others got 1 x 500"
    )
    healthy = make_history((OK, reply(200, 5, body={"degraded": False})))
    verdict = available_at_least(healthy, 0.5, degraded=is_degraded)
    assert verdict.outcome is Outcome.FAIL
    assert "none was marked degraded" in verdict.message
