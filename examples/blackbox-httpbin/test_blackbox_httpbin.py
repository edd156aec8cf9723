"""Chaos tests for blackbox_exporter probing go-httpbin (see README.md for what each does).

A probe answers HTTP 200 whether the target is up or not: the result is in its body
(`probe_success 1` or `0`). blackbox.yml gives a probe 2 s, so no answer should take
longer than that, however the target misbehaves.
"""

from urllib.request import urlopen

from faults import HttpError, Kill, Latency, Pause
from harness.checks import (
    answers_within,
    goroutine_baseline,
    no_leaked_goroutines,
    snapshot,
    survives,
)

LINK = "blackbox->httpbin"
PROBE = "/probe?module=http_2xx&target=http://httpbin:8080/get"
PROBE_TIMEOUT_MS = 2000


def probe_once(chaos) -> str:
    """One probe through a plain client: the history keeps JSON bodies only."""
    with urlopen(chaos.url("blackbox") + PROBE, timeout=5) as reply:
        return reply.read().decode()


def test_latency_within_the_probe_timeout_is_a_slow_success(chaos):
    with Latency(LINK, ms=1500):
        result = chaos.load("blackbox", f"GET {PROBE}", rate=5, seconds=2)
        body = probe_once(chaos)
    answers_within(result.history, budget_ms=1500, statuses={200}).require()
    assert "probe_success 1" in body


def test_latency_beyond_the_probe_timeout_is_a_failed_probe_at_the_timeout(chaos):
    with Latency(LINK, ms=5000):
        result = chaos.load("blackbox", f"GET {PROBE}", rate=5, seconds=2, timeout=8)
        body = probe_once(chaos)
    answers_within(result.history, budget_ms=PROBE_TIMEOUT_MS, statuses={200}).require()
    assert "probe_success 0" in body


def test_503_from_httpbin_is_a_failed_probe_that_names_the_status(chaos):
    with HttpError(LINK, status=503):
        result = chaos.load("blackbox", f"GET {PROBE}", rate=5, seconds=2)
        body = probe_once(chaos)
    answers_within(result.history, budget_ms=PROBE_TIMEOUT_MS, statuses={200}).require()
    assert "probe_success 0" in body
    assert "probe_http_status_code 503" in body


def test_killed_httpbin_fails_probes_at_once(chaos):
    before = snapshot(chaos, "blackbox")
    with Kill("httpbin"):
        result = chaos.load("blackbox", f"GET {PROBE}", rate=10, seconds=3)
    answers_within(result.history, budget_ms=500, statuses={200}).require()
    survives(chaos, "blackbox", before).require()


def test_probes_of_a_paused_httpbin_leave_no_goroutines_behind(chaos):
    baseline = goroutine_baseline(chaos, "blackbox")
    with Pause("httpbin"):
        result = chaos.load("blackbox", f"GET {PROBE}", rate=20, seconds=3, timeout=8)
    answers_within(result.history, budget_ms=PROBE_TIMEOUT_MS, statuses={200}).require()
    no_leaked_goroutines(chaos, baseline).require()
