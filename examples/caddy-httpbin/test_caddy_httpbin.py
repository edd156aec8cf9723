"""Chaos tests for Caddy in front of go-httpbin (README.md has what each fault does).

The numbers come from the Caddyfile: httpbin has 2 s to send its response headers
(`response_header_timeout`), and a failed GET is tried again for up to 1 s
(`lb_try_duration`), so no answer should take longer than about 3 s. /defaults/* is the
same proxy with Caddy's defaults, /passive/* adds passive health checks (`fail_duration`).
"""

import pytest

from faults import (
    Blackhole,
    Disconnect,
    HttpDelay,
    HttpError,
    HttpMalformed,
    Kill,
    Latency,
    LinkDown,
    Pause,
    ResetPeer,
    Restart,
    Timeout,
)
from harness.checks import (
    Outcome,
    answers_within,
    available_at_least,
    goroutine_baseline,
    no_leaked_goroutines,
    replies_well_formed,
    snapshot,
    status_counts,
    survives,
)

LINK = "caddy->httpbin"
TRY_MS = 1000  # lb_try_duration
HEADER_TIMEOUT_MS = 2000  # response_header_timeout
WORST_MS = TRY_MS + HEADER_TIMEOUT_MS

# -- network: latency, reset, timeout, blackhole --------------------------------------------


def test_latency_within_the_timeout_is_passed_through(chaos):
    with Latency(LINK, ms=1500):
        result = chaos.load("caddy", "GET /get", rate=10, seconds=3)
    available_at_least(result.history, 1.0).require()
    answers_within(result.history, budget_ms=1500, statuses={200}).require()


def test_latency_beyond_the_timeout_is_a_504_at_the_timeout(chaos):
    with Latency(LINK, ms=5000):
        result = chaos.load("caddy", "GET /get", rate=10, seconds=3, timeout=8)
    answers_within(result.history, budget_ms=HEADER_TIMEOUT_MS, statuses={504}).require()


def test_with_caddys_defaults_a_slow_httpbin_is_waited_for_however_long(chaos):
    with Latency(LINK, ms=5000):  # no response_header_timeout: nothing bounds the wait
        result = chaos.load("caddy", "GET /defaults/get", rate=5, seconds=2, timeout=8)
    assert status_counts(result.history) == {200: 10}
    assert min(result.history.latencies()) >= 5.0


BROKEN = {"reset": ResetPeer(LINK), "timeout": Timeout(LINK, after_ms=500)}


@pytest.mark.parametrize("fault", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_connection_is_retried_for_1_s_then_a_502(chaos, fault):
    with fault:
        result = chaos.load("caddy", "GET /get", rate=10, seconds=2)
    answers_within(result.history, budget_ms=TRY_MS + 500, statuses={502}).require()
    assert min(result.history.latencies()) >= TRY_MS / 1000  # tried again until then


def test_with_caddys_defaults_a_reset_is_a_502_at_once_never_retried(chaos):
    with ResetPeer(LINK):  # lb_try_duration 0: one attempt
        result = chaos.load("caddy", "GET /defaults/get", rate=10, seconds=2)
    answers_within(result.history, budget_ms=100, statuses={502}).require()


def test_a_blackholed_link_is_answered_within_the_timeouts(chaos):
    with Blackhole(LINK):  # requests lost: httpbin drops the silent connection after 1 s
        lost_requests = chaos.load("caddy", "GET /get", rate=5, seconds=2, timeout=8)
    with Blackhole(LINK, stream="downstream"):  # replies lost: Caddy's header timeout
        lost_replies = chaos.load("caddy", "GET /get", rate=5, seconds=2, timeout=8)
    answers_within(lost_requests.history, budget_ms=TRY_MS, statuses={502}).require()
    answers_within(lost_replies.history, budget_ms=HEADER_TIMEOUT_MS, statuses={504}).require()


# -- HTTP: errors, delays, malformed bodies -------------------------------------------------


def test_503_from_httpbin_is_passed_through_once_not_retried(chaos):
    fault = HttpError(LINK, status=503, rate=0.5)
    with fault:
        result = chaos.load("caddy", "GET /get", rate=20, seconds=2)
    hit = sum(fault.predicted(chaos.seed, 40))  # the responses the proxy turned into 503s
    assert status_counts(result.history) == {200: 40 - hit, 503: hit}


def test_a_response_held_past_the_timeout_is_a_504_not_retried(chaos):
    fault = HttpDelay(LINK, ms=3000, rate=0.5)
    with fault:
        result = chaos.load("caddy", "GET /get", rate=10, seconds=2, timeout=8)
    hit = sum(fault.predicted(chaos.seed, 20))  # the responses the proxy held back
    assert status_counts(result.history) == {200: 20 - hit, 504: hit}


def test_caddy_drops_a_truncated_body_and_passes_garbage_on(chaos):
    with HttpMalformed(LINK, mode="truncate"):
        truncated = chaos.load("caddy", "GET /get", rate=5, seconds=1)
    with HttpMalformed(LINK, mode="garbage"):
        garbage = chaos.load("caddy", "GET /get", rate=5, seconds=1)
    assert status_counts(truncated.history) == {None: 5}  # connection closed, no status
    assert status_counts(garbage.history) == {200: 5}
    assert replies_well_formed(garbage.history).outcome is Outcome.FAIL  # not JSON


# -- partition: link down, disconnect ---------------------------------------------------------


def test_link_down_is_a_502_after_the_retries(chaos):
    with LinkDown(LINK):
        result = chaos.load("caddy", "GET /get", rate=10, seconds=2)
    answers_within(result.history, budget_ms=TRY_MS, statuses={502}).require()


def test_httpbin_off_the_network_is_a_bad_gateway_or_timeout_not_a_hang(chaos):
    with Disconnect("httpbin"):
        result = chaos.load("caddy", "GET /get", rate=10, seconds=2, timeout=8)
    answers_within(result.history, budget_ms=WORST_MS, statuses={502, 504}).require()


# -- process: pause, kill, restart --------------------------------------------------------


def test_paused_httpbin_is_a_504_at_the_timeout_and_leaks_no_goroutines(chaos):
    baseline = goroutine_baseline(chaos, "caddy")  # on Caddy's admin port (x-chaos pprof)
    with Pause("httpbin"):
        result = chaos.load("caddy", "GET /get", rate=20, seconds=3, timeout=8)
    answers_within(result.history, budget_ms=HEADER_TIMEOUT_MS, statuses={504}).require()
    no_leaked_goroutines(chaos, baseline).require()


def test_with_caddys_defaults_a_paused_httpbin_holds_requests_until_clients_leave(chaos):
    baseline = goroutine_baseline(chaos, "caddy")
    with Pause("httpbin"):
        result = chaos.load("caddy", "GET /defaults/get", rate=5, seconds=2, timeout=5)
    assert status_counts(result.history) == {None: 10}  # still waiting after 5 s
    no_leaked_goroutines(chaos, baseline).require()  # Caddy lets go when the client does


def test_killed_httpbin_is_a_bad_gateway_not_a_hang(chaos):
    before = snapshot(chaos, "caddy")
    with Kill("httpbin"):
        result = chaos.load("caddy", "GET /get", rate=10, seconds=3, timeout=8)
    answers_within(result.history, budget_ms=WORST_MS, statuses={502, 504}).require()
    survives(chaos, "caddy", before).require()


def test_caddy_serves_again_within_5_s_of_httpbin_coming_back(chaos):
    with Kill("httpbin"):
        chaos.load("caddy", "GET /get", rate=10, seconds=2, timeout=8)
    chaos.load("caddy", "GET /get", rate=2, seconds=5, timeout=8)  # settling, not judged
    result = chaos.load("caddy", "GET /get", rate=10, seconds=2)
    available_at_least(result.history, 1.0).require()


def test_the_retries_ride_out_a_graceful_restart_of_httpbin(chaos):
    run = chaos.start_load("caddy", "GET /get", rate=20, seconds=4)
    with Restart("httpbin"):  # SIGTERM, httpbin drains and exits, then starts again
        pass
    result = run.wait()
    available_at_least(result.history, 1.0).require()
    answers_within(result.history, budget_ms=TRY_MS + 500, statuses={200}).require()


def test_passive_health_keeps_refusing_httpbin_after_it_recovered(chaos):
    with Latency(LINK, ms=3000):  # one request, one 504: httpbin marked down for 5 s
        chaos.load("caddy", "GET /passive/get", rate=1, seconds=1, timeout=8)
    passive = chaos.load("caddy", "GET /passive/get", rate=5, seconds=2)
    plain = chaos.load("caddy", "GET /get", rate=5, seconds=1)
    assert status_counts(passive.history) == {503: 10}  # although httpbin is fine again:
    assert status_counts(plain.history) == {200: 5}
