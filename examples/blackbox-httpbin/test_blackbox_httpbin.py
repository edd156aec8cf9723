"""Chaos tests for blackbox_exporter probing go-httpbin (README.md has what each fault does).

A probe answers HTTP 200 whether the target is up or not: the result is in its body
(`probe_success 1` or `0`, and `probe_http_status_code`, 0 when no HTTP answer came).
blackbox.yml gives a probe of module http_2xx 2 s, so no answer should take longer than
that, however the target misbehaves; module http_2xx_defaults has blackbox's defaults.
"""

import re
from collections import Counter
from urllib.request import urlopen

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
)
from harness.checks import (
    answers_within,
    goroutine_baseline,
    no_leaked_goroutines,
    snapshot,
    status_counts,
    survives,
)

LINK = "blackbox->httpbin"
PROBE = "GET /probe?module=http_2xx&target=http://httpbin:8080/get"
PROBE_TIMEOUT_MS = 2000


def probe_once(chaos) -> str:
    """One probe's whole answer, through a plain client: the load's history keeps the first
    2,048 characters of a text body, and `probe_success` is the last line of about 2,070."""
    with urlopen(chaos.url("blackbox") + PROBE.removeprefix("GET "), timeout=5) as reply:
        return reply.read().decode()


def probe_codes(result) -> Counter:
    """How many probes of a load saw each `probe_http_status_code` (0: no HTTP answer)."""
    codes = Counter()
    for _, done in result.history.completed():
        match = re.search(r"^probe_http_status_code (\d+)$", str(done.value.get("text")), re.M)
        codes[int(match.group(1)) if match else None] += 1
    return codes


# -- network: latency, reset, blackhole -----------------------------------------------------


def test_latency_within_the_probe_timeout_is_a_slow_success(chaos):
    with Latency(LINK, ms=1500):
        result = chaos.load("blackbox", PROBE, rate=5, seconds=2)
        body = probe_once(chaos)
    answers_within(result.history, budget_ms=1500, statuses={200}).require()
    assert "probe_success 1" in body


def test_latency_beyond_the_probe_timeout_is_a_failed_probe_at_the_timeout(chaos):
    with Latency(LINK, ms=5000):
        result = chaos.load("blackbox", PROBE, rate=5, seconds=2, timeout=8)
        body = probe_once(chaos)
    answers_within(result.history, budget_ms=PROBE_TIMEOUT_MS, statuses={200}).require()
    assert "probe_success 0" in body


def test_a_reset_connection_fails_the_probe_at_once(chaos):
    with ResetPeer(LINK):
        result = chaos.load("blackbox", PROBE, rate=10, seconds=2)
    answers_within(result.history, budget_ms=100, statuses={200}).require()
    assert probe_codes(result) == {0: 20}


def test_a_blackholed_link_fails_the_probe_within_its_timeout(chaos):
    with Blackhole(LINK):  # requests lost: httpbin drops the silent connection after 1 s
        lost_requests = chaos.load("blackbox", PROBE, rate=5, seconds=2, timeout=8)
    with Blackhole(LINK, stream="downstream"):  # replies lost, but httpbin's close passes
        lost_replies = chaos.load("blackbox", PROBE, rate=5, seconds=2, timeout=8)
    for result in (lost_requests, lost_replies):
        answers_within(result.history, budget_ms=PROBE_TIMEOUT_MS, statuses={200}).require()
        assert probe_codes(result) == {0: 10}


# -- HTTP: errors, delays, malformed bodies -------------------------------------------------


def test_503_from_httpbin_is_a_failed_probe_that_names_the_status(chaos):
    with HttpError(LINK, status=503):
        result = chaos.load("blackbox", PROBE, rate=5, seconds=2)
        body = probe_once(chaos)
    answers_within(result.history, budget_ms=PROBE_TIMEOUT_MS, statuses={200}).require()
    assert probe_codes(result) == {503: 10}
    assert "probe_success 0" in body


def test_each_held_response_fails_its_own_probe_once_no_retry(chaos):
    fault = HttpDelay(LINK, ms=3000, rate=0.5)
    with fault:
        result = chaos.load("blackbox", PROBE, rate=10, seconds=2, timeout=8)
    hit = sum(fault.predicted(chaos.seed, 20))  # the responses the proxy held back
    assert probe_codes(result) == {200: 20 - hit, 0: hit}


def test_http_2xx_fails_a_truncated_body_but_passes_garbage(chaos):
    with HttpMalformed(LINK, mode="truncate"):
        truncated = probe_once(chaos)
    with HttpMalformed(LINK, mode="garbage"):
        garbage = probe_once(chaos)
    assert "probe_http_status_code 200" in truncated
    assert "probe_success 0" in truncated  # the body ended early: read error
    assert "probe_success 1" in garbage  # the module never looks at what the body says


# -- partition: link down, disconnect ---------------------------------------------------------


def test_link_down_fails_probes_at_once(chaos):
    with LinkDown(LINK):
        result = chaos.load("blackbox", PROBE, rate=10, seconds=2)
    answers_within(result.history, budget_ms=100, statuses={200}).require()
    assert probe_codes(result) == {0: 20}


def test_httpbin_off_the_network_fails_probes_and_back_on_passes_them(chaos):
    with Disconnect("httpbin"):
        during = chaos.load("blackbox", PROBE, rate=10, seconds=2)
    after = chaos.load("blackbox", PROBE, rate=10, seconds=1)
    answers_within(during.history, budget_ms=PROBE_TIMEOUT_MS, statuses={200}).require()
    assert (probe_codes(during), probe_codes(after)) == ({0: 20}, {200: 10})


# -- process: kill, pause, restart --------------------------------------------------------


def test_killed_httpbin_fails_probes_at_once(chaos):
    before = snapshot(chaos, "blackbox")
    with Kill("httpbin"):
        result = chaos.load("blackbox", PROBE, rate=10, seconds=3)
    answers_within(result.history, budget_ms=500, statuses={200}).require()
    assert probe_codes(result) == {0: 30}
    survives(chaos, "blackbox", before).require()


def test_probes_of_a_paused_httpbin_leave_no_goroutines_behind(chaos):
    baseline = goroutine_baseline(chaos, "blackbox")
    with Pause("httpbin"):
        result = chaos.load("blackbox", PROBE, rate=20, seconds=3, timeout=8)
    answers_within(result.history, budget_ms=PROBE_TIMEOUT_MS, statuses={200}).require()
    no_leaked_goroutines(chaos, baseline).require()


def test_a_restart_of_httpbin_fails_only_the_probes_in_its_gap(chaos):
    run = chaos.start_load("blackbox", PROBE, rate=20, seconds=3)
    with Restart("httpbin"):  # SIGTERM, httpbin drains and exits, then starts again;
        pass  # healed once httpbin is ready
    during = run.wait()
    after = chaos.load("blackbox", PROBE, rate=10, seconds=1)
    answers_within(during.history, budget_ms=PROBE_TIMEOUT_MS, statuses={200}).require()
    assert probe_codes(after) == {200: 10}  # no retry, but no failure remembered either


def test_without_a_module_timeout_a_probe_waits_2_minutes_unless_prometheus_asks(chaos):
    probe = PROBE.replace("http_2xx", "http_2xx_defaults")
    scrape = {"X-Prometheus-Scrape-Timeout-Seconds": "3"}  # as Prometheus sends it
    with Pause("httpbin"):
        bare = chaos.load("blackbox", probe, rate=2, seconds=1, timeout=5)
        scraped = chaos.load("blackbox", probe, rate=2, seconds=1, timeout=5, headers=scrape)
    assert status_counts(bare.history) == {None: 2}  # still probing when the client left
    answers_within(scraped.history, budget_ms=2500, statuses={200}).require()  # 3 s - 0.5 s
