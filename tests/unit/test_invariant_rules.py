"""Unit tests for the rules of the bounded-resources, state and calibration code that need
no running system: when a series grows with the requests served, how a declared state
check is judged (and re-read while it settles), how calibration turns link counts into
requests per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from harness.checks import Outcome
from harness.errors import ConfigError
from harness.explore import StateCheck
from harness.explore.calibration import _moved, _per_request
from harness.explore.invariants.resources import FDS, HEAP, KIB, OUTGOING, Usage, _keeps_growing
from harness.explore.invariants.state import judge


def _rounds(resource: str, *values: float, per_round: int = 20) -> list[tuple[int, Usage]]:
    return [(n * per_round, Usage(0.0, {resource: v})) for n, v in enumerate(values)]


@pytest.mark.parametrize(
    ("resource", "values", "grows"),
    [
        (FDS, (39, 59, 79, 99), True),  # one more per request, every round
        (FDS, (10, 10, 11, 10), False),  # noise
        (FDS, (10, 30, 30, 30), False),  # grew once (a pool filling), then flat
        (FDS, (10, 13, 16, 19), False),  # grows, but by less than one per 4 requests
        (OUTGOING, (62, 102, 142, 182), True),
        (HEAP, (8.9e6, 13.9e6, 18.9e6, 23.9e6), True),  # 256 KiB kept per request
        (HEAP, (1.7e6, 1.76e6, 1.81e6, 1.86e6), False),  # 3 KiB per request: allocator noise
    ],
)
def test_a_resource_leaks_only_if_it_grows_in_every_round_with_the_requests(
    resource: str, values: tuple[float, ...], grows: bool
) -> None:
    assert _keeps_growing(resource, _rounds(resource, *values)) is grows


def test_a_resource_not_read_in_some_round_is_not_called_growing() -> None:
    rounds = _rounds(FDS, 1, 100, 200)
    rounds.append((60, Usage(0.0, {HEAP: 1 * KIB})))
    assert not _keeps_growing(FDS, rounds)


def _check(read: Any, violations: Any, settle_s: float = 0.3) -> StateCheck:
    return StateCheck("books balance", read=read, violations=violations, settle_s=settle_s)


def test_a_state_check_that_holds_passes_with_what_it_read() -> None:
    verdict = judge(None, _check(lambda env: {"in": 3, "out": 3}, lambda s: []))  # type: ignore[arg-type]
    assert verdict.outcome is Outcome.PASS
    assert "'in': 3" in verdict.evidence["state as read"]


def test_a_state_check_is_read_again_while_work_in_flight_settles() -> None:
    reads = iter([1, 2, 3, 3, 3])

    def violations(value: int) -> Iterator[str]:
        if value < 3:
            yield f"{value} of 3 written"

    verdict = judge(None, _check(lambda env: next(reads), violations, settle_s=5))  # type: ignore[arg-type]
    assert verdict.outcome is Outcome.PASS
    assert "read 3 times" in verdict.message


def test_a_state_check_that_stays_broken_fails_listing_every_violation() -> None:
    def violations(state: dict[str, int]) -> Iterator[str]:
        for item, stock in state.items():
            if stock < 0:
                yield f"item {item}: stock {stock}"

    verdict = judge(None, _check(lambda env: {"1": -2, "2": 5, "3": -1}, violations))  # type: ignore[arg-type]
    assert verdict.outcome is Outcome.FAIL
    assert "2 violations" in verdict.message
    assert "item 1: stock -2" in verdict.message
    assert "item 3: stock -1" in verdict.message


def test_a_state_that_cannot_be_read_is_unknown_saying_why() -> None:
    def read(env: Any) -> Any:
        raise requests.ConnectionError("refused")

    verdict = judge(None, _check(read, lambda s: []))  # type: ignore[arg-type]
    assert verdict.outcome is Outcome.UNKNOWN
    assert "refused" in verdict.message


def test_a_state_check_needs_a_name_and_a_sane_settle_time() -> None:
    with pytest.raises(ConfigError, match="needs a name"):
        StateCheck(" ", read=lambda env: 1, violations=lambda s: [])
    with pytest.raises(ConfigError, match="settle_s"):
        StateCheck("x", read=lambda env: 1, violations=lambda s: [], settle_s=-1)


def test_calibration_counts_requests_per_request_beyond_idle_traffic() -> None:
    moved = _moved({"a->b": 5, "a->c": 0, "b->d": 7}, {"a->b": 25, "a->c": 10, "b->d": 9})
    assert moved == {"a->b": 20, "a->c": 10, "b->d": 2}
    # b->d idles at 2 requests a second: its 2 in one second are not the operation's.
    found = _per_request(moved, {"b->d": 2.0}, seconds=1.0, sent=10)
    assert found == {"a->b": 2.0, "a->c": 1.0}


def test_calibration_with_idle_traffic_as_large_as_the_burst_knows_no_links() -> None:
    # Work left over from earlier (retries, a queue draining) carries 30 requests a second
    # on a->b: whether 10 requests sent took that link cannot be told, so the links are
    # unknown rather than "none" (which would make every fault look off the path).
    moved = {"a->b": 31, "a->c": 10}
    assert _per_request(moved, {"a->b": 30.0}, seconds=1.0, sent=10) is None


def test_calibration_without_counting_links_knows_no_links() -> None:
    assert _moved(None, {"a->b": 1}) is None
    assert _per_request(None, {}, seconds=1.0, sent=10) is None
