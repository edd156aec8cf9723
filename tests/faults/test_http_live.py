"""HTTP faults on the project's Toxiproxy build, observed through the proxied link.

The pattern of affected responses is a pure function of the toxic's seed, so besides the
share of affected responses the tests check the exact pattern: it equals the prediction
of :func:`faults.affected`, and applying the same fault again with the same session seed
hits exactly the same requests.
"""

from __future__ import annotations

import http.client
import json

from faults import HttpDelay, HttpError, HttpMalformed, derive_seed
from harness.environment import Environment
from tests.faults.support import LINK, NORMAL_SLACK_MS, fetch, median

Address = tuple[str, int]
INJECTED = "X-Chaos-Injected"


def statuses(address: Address, count: int) -> list[tuple[int, str | None]]:
    """``count`` sequential GETs on keep-alive connections: (status, injected marker)."""
    seen: list[tuple[int, str | None]] = []
    conn = http.client.HTTPConnection(*address, timeout=5)
    try:
        for _ in range(count):
            conn.request("GET", "/products/1")
            reply = conn.getresponse()
            reply.read()
            seen.append((reply.status, reply.getheader(INJECTED)))
            if reply.will_close:
                conn.close()
    finally:
        conn.close()
    return seen


def test_http_503_at_rate_half_fails_half_the_requests_and_the_same_ones_again(
    link_env: Environment, link_address: Address
) -> None:
    n = 200
    fault = HttpError(LINK, status=503, rate=0.5)
    with fault:
        (toxic,) = link_env.proxy(LINK).toxics()
        first = statuses(link_address, n)
    with fault:
        second = statuses(link_address, n)

    failed = [status == 503 for status, _ in first]
    # Binomial(200, 0.5) has a standard deviation of ~7.1; ±25 is 3.5 of them.
    assert abs(sum(failed) - n // 2) <= 25, f"{sum(failed)} of {n} failed"
    assert all(s in (200, 503) for s, _ in first)
    assert all((marker == "http_error") == (s == 503) for s, marker in first)
    assert first == second, "the same session seed did not fail the same requests"
    assert failed == fault.predicted(link_env.seed, n)
    assert toxic.toxicity == 1.0
    assert toxic.attributes["seed"] == derive_seed(link_env.seed, fault)


def test_a_different_seed_fails_different_requests(
    link_env: Environment, link_address: Address
) -> None:
    n = 64
    with HttpError(LINK, rate=0.5, seed=1):
        one = statuses(link_address, n)
    with HttpError(LINK, rate=0.5, seed=2):
        two = statuses(link_address, n)
    assert one != two
    assert [s == 503 for s, _ in two] == HttpError(LINK, rate=0.5, seed=2).predicted(0, n)


def test_http_delay_holds_back_exactly_the_predicted_responses(
    link_env: Environment, link_address: Address, baseline_ms: float
) -> None:
    n = 12
    fault = HttpDelay(LINK, ms=200, rate=0.5)
    with fault:
        added = [fetch(link_address).elapsed_ms - baseline_ms for _ in range(n)]
    # Held or not is read with a wide margin (half the delay), so the pattern comparison is
    # exact; the size of the delay is then checked on the median of the held ones.
    held = [a >= 100 for a in added]
    assert held == fault.predicted(link_env.seed, n), added
    delays = [a for a, h in zip(added, held, strict=True) if h]
    assert abs(median(delays) - 200) <= 0.1 * 200, added
    assert all(a < NORMAL_SLACK_MS for a, h in zip(added, held, strict=True) if not h), added


def test_http_malformed_truncate_sends_half_the_body_and_closes(
    link_env: Environment, link_address: Address
) -> None:
    with HttpMalformed(LINK, mode="truncate"):
        reply = fetch(link_address)
    assert reply.status == 200
    assert reply.closed
    assert not reply.complete
    assert b"X-Chaos-Injected: http_malformed; mode=truncate" in reply.head


def test_http_malformed_garbage_sends_a_body_that_is_not_json(
    link_env: Environment, link_address: Address
) -> None:
    with HttpMalformed(LINK, mode="garbage"):
        reply = fetch(link_address)
    assert reply.complete
    assert reply.status == 200
    try:
        json.loads(reply.body)
    except ValueError:
        pass
    else:
        raise AssertionError(f"the garbage body parsed as JSON: {reply.body!r}")


def test_http_malformed_wrong_type_sends_json_of_the_wrong_shape(
    link_env: Environment, link_address: Address
) -> None:
    healthy = json.loads(fetch(link_address).body)
    with HttpMalformed(LINK, mode="wrong_type"):
        reply = fetch(link_address)
    assert reply.complete
    body = json.loads(reply.body)  # valid JSON ...
    assert body != healthy  # ... but not the product the client expects
    shape_ok = isinstance(body, dict) and all(
        isinstance(body.get(key), type(value)) for key, value in healthy.items()
    )
    assert not shape_ok, f"wrong_type kept the shape: {body!r}"
