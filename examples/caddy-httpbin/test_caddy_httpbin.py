"""Chaos tests for Caddy in front of go-httpbin (see README.md for what each fault does).

The numbers come from the Caddyfile: httpbin has 2 s to send its response headers
(`response_header_timeout`), and a failed GET is tried again for up to 1 s
(`lb_try_duration`), so no answer should take longer than about 3 s.

There is no goroutine-leak test: Caddy serves its goroutine dump only on its admin API,
not on :8080, so the harness's check would say unknown (README.md, "What each fault does").
"""

from faults import HttpError, Kill, Latency, LinkDown, Pause
from harness.checks import (
    answers_within,
    available_at_least,
    snapshot,
    status_counts,
    survives,
)

LINK = "caddy->httpbin"
HEADER_TIMEOUT_MS = 2000
WORST_MS = 3000  # lb_try_duration + response_header_timeout


def test_latency_within_the_timeout_is_passed_through(chaos):
    with Latency(LINK, ms=1500):
        result = chaos.load("caddy", "GET /get", rate=10, seconds=3)
    available_at_least(result.history, 1.0).require()
    answers_within(result.history, budget_ms=1500, statuses={200}).require()


def test_latency_beyond_the_timeout_is_a_504_at_the_timeout(chaos):
    with Latency(LINK, ms=5000):
        result = chaos.load("caddy", "GET /get", rate=10, seconds=3, timeout=8)
    answers_within(result.history, budget_ms=HEADER_TIMEOUT_MS, statuses={504}).require()


def test_paused_httpbin_is_a_504_at_the_timeout(chaos):
    with Pause("httpbin"):
        result = chaos.load("caddy", "GET /get", rate=10, seconds=3, timeout=8)
    answers_within(result.history, budget_ms=HEADER_TIMEOUT_MS, statuses={504}).require()


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


def test_link_down_is_a_502_after_the_retries(chaos):
    with LinkDown(LINK):
        result = chaos.load("caddy", "GET /get", rate=10, seconds=2)
    answers_within(result.history, budget_ms=1000, statuses={502}).require()


def test_503_from_httpbin_is_passed_through_once_not_retried(chaos):
    fault = HttpError(LINK, status=503, rate=0.5)
    with fault:
        result = chaos.load("caddy", "GET /get", rate=20, seconds=2)
    hit = sum(fault.predicted(chaos.seed, 40))  # the responses the proxy turned into 503s
    assert status_counts(result.history) == {200: 40 - hit, 503: hit}
