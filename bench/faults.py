"""Benchmark: how fast each fault takes effect and how fast it heals. Prints, never asserts.

For every fault kind it measures, REPEAT times:

- **effect**: from ``apply()`` returning until the start of the first request that sees
  the fault (a request already in flight when apply returned is not counted), and until
  that request completed;
- **heal**: how long ``heal()`` takes, and from its return until the first request that
  is healthy again (a 200 within the healthy baseline + 50 ms).

Link faults are observed through the proxied link itself, on the test topology
``tests/faults/compose.yml`` (the reference services with the link's port published);
process faults on the service's own published port. The system is started once and
removed at the end whatever happens. Loopback only; every probe loop is bounded in count
and time.

    .venv/bin/python bench/faults.py                 # from the repository root
    .venv/bin/python bench/faults.py --repeat 5
    .venv/bin/python bench/faults.py --smoke        # a few kinds once each: seconds
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import tools  # noqa: E402 - the repository root goes on the path first
from faults import (  # noqa: E402
    Bandwidth,
    Blackhole,
    Disconnect,
    Fault,
    HttpDelay,
    HttpError,
    HttpMalformed,
    Isolate,
    Kill,
    Latency,
    LimitData,
    LinkDown,
    Pause,
    ResetPeer,
    Restart,
    Slicer,
    SlowClose,
    Split,
    Terminate,
    Timeout,
)
from harness.backends.docker import DockerBackend  # noqa: E402
from harness.environment import Environment  # noqa: E402
from harness.errors import ChaosError  # noqa: E402
from harness.labels import new_session_id  # noqa: E402
from harness.topology import load_topology  # noqa: E402
from tests.faults.support import COMPOSE, LINK, Reply, fetch  # noqa: E402

PROBE_BUDGET_S = 10.0  # per wait for an effect or a heal
PROBE_LIMIT = 500  # requests per wait, whatever their speed
HEALTHY_SLACK_MS = 50.0
# --smoke: one kind of each family (toxic, HTTP toxic, proxy, network, process), once each.
SMOKE_KINDS = ("latency", "http_error", "link_down", "isolate", "pause", "kill")

Probe = Callable[[], bool]


def link_probes(env: Environment, baseline_ms: float) -> dict[str, tuple[Fault, Probe]]:
    address = env.link_address(LINK)

    def slower_than(extra_ms: float, **kwargs: object) -> Probe:
        return lambda: fetch(address, **kwargs).elapsed_ms >= baseline_ms + extra_ms  # type: ignore[arg-type]

    def seen(check: Callable[[Reply], bool], **kwargs: object) -> Probe:
        return lambda: check(fetch(address, **kwargs))  # type: ignore[arg-type]

    empty_close = seen(lambda r: r.received == 0 and r.closed, timeout_s=1.0)
    hangs = seen(lambda r: r.timed_out, timeout_s=0.3)
    return {
        "latency": (Latency(LINK, ms=200), slower_than(150)),
        "bandwidth": (Bandwidth(LINK, kilobytes_per_s=1), slower_than(100)),
        "slicer": (Slicer(LINK, average_bytes=1, delay_us=1000), slower_than(100)),
        "slow_close": (SlowClose(LINK, delay_ms=200), slower_than(150, close=True)),
        "http_delay": (HttpDelay(LINK, ms=200), slower_than(150)),
        "http_error": (HttpError(LINK, status=503), seen(lambda r: r.status == 503)),
        "http_malformed": (
            HttpMalformed(LINK, mode="garbage"),
            seen(lambda r: b"X-Chaos-Injected" in r.head),
        ),
        "limit_data": (LimitData(LINK, bytes=50), seen(lambda r: r.received == 50)),
        "timeout": (Timeout(LINK, after_ms=200), empty_close),
        "reset_peer": (ResetPeer(LINK), empty_close),
        "blackhole": (Blackhole(LINK), hangs),
        "link_down": (LinkDown(LINK), empty_close),
        "isolate": (Isolate("inventory"), empty_close),
        "split": (
            Split(("gateway",), mode="blackhole"),
            seen(lambda r: r.timed_out, timeout_s=0.3),
        ),
        "disconnect": (Disconnect("inventory"), seen(lambda r: not r.ok, timeout_s=1.0)),
    }


def link_healthy(env: Environment, baseline_ms: float) -> Probe:
    def healthy() -> bool:
        try:
            reply = fetch(env.link_address(LINK), timeout_s=1.0)
        except OSError:
            return False
        return reply.ok and reply.elapsed_ms < baseline_ms + HEALTHY_SLACK_MS

    return healthy


def service_answers(env: Environment, service: str) -> bool:
    try:
        reply = requests.get(env.url(service) + "/healthz", timeout=0.3)
    except (requests.RequestException, ChaosError):
        return False
    return reply.status_code == 200


def process_probes(env: Environment) -> dict[str, tuple[Fault, Probe]]:
    down: Probe = lambda: not service_answers(env, "inventory")  # noqa: E731
    return {
        "pause": (Pause("inventory"), down),
        "restart": (Restart("inventory"), down),
        "terminate": (Terminate("inventory"), down),
        "kill": (Kill("inventory"), down),
    }


def first(probe: Probe) -> tuple[float, float] | None:
    """(start, end) in ms of the first request that the probe accepts, from now; None if
    none does within the budget."""
    origin = time.monotonic()
    for _ in range(PROBE_LIMIT):
        started = time.monotonic()
        if started - origin > PROBE_BUDGET_S:
            return None
        try:
            hit = probe()
        except OSError:
            hit = False
        if hit:
            return (started - origin) * 1000, (time.monotonic() - origin) * 1000
    return None


def measure(
    env: Environment, fault: Fault, observes: Probe, healthy: Probe
) -> tuple[tuple[float, float] | None, float, tuple[float, float] | None]:
    fault.apply(env)
    try:
        effect = first(observes)
    finally:
        started = time.monotonic()
        fault.heal(env)
        heal_ms = (time.monotonic() - started) * 1000
    return effect, heal_ms, first(healthy)


def summary(values: list[float | None]) -> str:
    seen = [v for v in values if v is not None]
    if not seen:
        return "not seen".rjust(17)
    cell = f"{statistics.median(seen):7.1f} {max(seen):7.1f}"
    return cell if len(seen) == len(values) else f"{cell} ({len(seen)}/{len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="measurements per fault kind")
    parser.add_argument("--smoke", action="store_true", help=f"once each: {', '.join(SMOKE_KINDS)}")
    args = parser.parse_args()
    repeat = 1 if args.smoke else max(1, min(args.repeat, 20))
    tools.require_docker()
    tools.reference_build()

    started = time.monotonic()
    with Environment(load_topology(COMPOSE), DockerBackend(new_session_id()), seed=1) as env:
        print(f"system up in {time.monotonic() - started:.1f} s")
        address = env.link_address(LINK)
        fetch(address)  # warm the proxy's upstream connection path
        baseline_ms = statistics.median(fetch(address).elapsed_ms for _ in range(9))
        print(f"healthy request through the link: {baseline_ms:.1f} ms (median of 9)")
        print(f"{repeat} runs per kind; each cell is median and max in ms\n")
        header = (
            f"{'fault':<15} {'first seen (sent)':>17} {'first seen (done)':>17} "
            f"{'heal()':>17} {'healthy after':>17}"
        )
        print(header)
        print("-" * len(header))
        probes: list[tuple[str, Fault, Probe, Probe]] = [
            (kind, fault, probe, link_healthy(env, baseline_ms))
            for kind, (fault, probe) in link_probes(env, baseline_ms).items()
        ]
        probes += [
            (kind, fault, probe, lambda: service_answers(env, "inventory"))
            for kind, (fault, probe) in process_probes(env).items()
        ]
        if args.smoke:
            probes = [probe for probe in probes if probe[0] in SMOKE_KINDS]
        for kind, fault, observes, healthy in probes:
            sent: list[float | None] = []
            done: list[float | None] = []
            heals: list[float | None] = []
            back: list[float | None] = []
            for _ in range(repeat):
                effect, heal_ms, recovered = measure(env, fault, observes, healthy)
                sent.append(effect[0] if effect else None)
                done.append(effect[1] if effect else None)
                heals.append(heal_ms)
                back.append(recovered[1] if recovered else None)
            print(
                f"{kind:<15} {summary(sent):>17} {summary(done):>17} "
                f"{summary(heals):>17} {summary(back):>17}"
            )
    print(
        "\n(k/n): only k of n runs observed it; not seen: none did within the budget. A "
        "restart is often over before the first probe, so it is seen in some runs only."
    )


if __name__ == "__main__":
    sys.exit(tools.run(main))
