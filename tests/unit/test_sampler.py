"""MetricSampler against a live endpoint: series, and why a series holds no value."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest

from harness.checks import Outcome, breaker_trips_and_recovers, stays_under
from harness.sampler import MetricSampler
from tests.unit.test_leaks import Env, Service
from tests.unit.test_probes import METRICS


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, text = (200, METRICS) if self.path == "/metrics" else (404, "404 page not found")
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    """A live service whose /metrics is the Go collector plus a few of its own series."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def sampled(url: str, declared: Service) -> MetricSampler:
    sampler = MetricSampler(cast(Any, Env(url, declared)), ["api"], interval_s=0.05)
    for _ in range(3):
        sampler.scrape_now()
    return sampler


def test_a_series_that_is_there_has_values_and_no_excuse(service: str) -> None:
    sampler = sampled(service, Service(metrics="/metrics"))
    assert [v for _, v in sampler.series("api", "go_goroutines")] == [14.0, 14.0, 14.0]
    assert sampler.why_unobserved("api", "go_goroutines") == ""


def test_metrics_declared_on_an_admin_port_are_scraped_there(service: str) -> None:
    env = Env("http://127.0.0.1:9", Service(metrics_port=2019), {2019: service})
    sampler = MetricSampler(cast(Any, env), ["api"], interval_s=0.05)
    sampler.scrape_now()
    assert [v for _, v in sampler.series("api", "go_goroutines")] == [14.0]


def test_a_series_the_metrics_lack_is_named_with_the_ones_like_it(service: str) -> None:
    sampler = sampled(service, Service())  # /metrics is the default
    why = sampler.why_unobserved("api", "breaker_state", {"name": "billing"})
    assert why == (
        'api\'s metrics were read but hold no series breaker_state{name="billing"} '
        "(series named like it: breaker_state)"
    )
    verdict = breaker_trips_and_recovers(
        sampler.series("api", "breaker_state", {"name": "billing"}),
        fault_start=0,
        fault_end=1,
        timeout_s=1,
        why_states_unobserved=why,
    )
    assert verdict.outcome is Outcome.UNKNOWN
    assert verdict.message == f"the breaker's state was never observed: {why}"


def test_a_service_without_metrics_is_unknown_with_the_endpoint_and_promhttp(
    service: str,
) -> None:
    sampler = sampled(service, Service(metrics="/prometheus"))
    series = sampler.series("api", "go_goroutines")
    assert [v for _, v in series] == [None, None, None]
    why = sampler.why_unobserved("api", "go_goroutines")
    assert why.startswith(
        f"none of 3 scrapes of api's metrics worked: api does not serve Prometheus metrics: "
        f"GET {service}/prometheus answered 404 Not Found (/prometheus is the path x-chaos "
        "services.api.metrics names)."
    )
    assert "promhttp.Handler()" in why
    verdict = stays_under(series, 50, why_unobserved=why)
    assert verdict.outcome is Outcome.UNKNOWN
    assert verdict.message == f"go_goroutines was never observed: {why}"


class _Slow(_Handler):
    """A service that takes a while to answer its /metrics, as a frozen one does."""

    def do_GET(self) -> None:
        asked.set()
        answered.wait(timeout=5)
        super().do_GET()


asked, answered = threading.Event(), threading.Event()


def test_stopping_does_not_wait_for_a_scrape_in_flight_and_drops_it() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        sampler = MetricSampler(cast(Any, Env(url, Service(metrics="/metrics"))), ["api"])
        with sampler:
            assert asked.wait(timeout=5)  # stopped while its first scrape waits for the answer
        assert sampler._thread.is_alive()  # still waiting: stop() did not join it
        answered.set()
        sampler._thread.join(timeout=5)
        assert sampler.scrapes == []  # what it brought back after stop() was dropped
    finally:
        answered.set()
        server.shutdown()
        server.server_close()
