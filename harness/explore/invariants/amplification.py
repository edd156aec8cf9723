"""Bounded retry amplification: a failing downstream is not flooded by its callers' retries.

While a fault makes a link's downstream fail (a fault on the link, or on the service at its
end), the requests that crossed the link during a burst, per request the burst sent, stay
under ``retry_attempts`` (the model's, 3 by default) times what the link carries per
request when nothing fails (the calibration's count). A caller that retries a failing call
two more times with backoff stays under it; one that retries at once until its deadline, or
whose every layer retries on its own, multiplies the load on what is already failing and
keeps it from recovering (a retry storm).

The requests are counted by the link's proxy as they cross it
(:meth:`~harness.environment.Environment.link_requests`): read after every step, so the
reading after the step before a burst is where the burst's count starts. Besides the
bound, a burst's count may hold the link's idle traffic over the burst (calibrated), what
an earlier burst still in flight may still send (its own bound less what it sent during
its burst, if it ended less than its budget ago), and ``SLACK`` requests. Unknown where the
link cannot count (a Toxiproxy the compose file runs), without a calibration, and while the
downstream is down or unplugged: the proxy counts a request once it has reached the
downstream, and then none does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from faults import Disconnect, Fault, Isolate, Kill, Split, Terminate
from harness.checks import Verdict
from harness.errors import ChaosError
from harness.explore.invariants import Invariant, Rank
from harness.explore.invariants.replies import EPSILON_MS

if TYPE_CHECKING:
    from faults.schedule import Step
    from harness.explore.engine import Burst, ExampleRun

__all__ = ["SLACK", "BoundedRetryAmplification"]

NAME = "retry amplification bounded"
SLACK = 5  # requests: a start-up's own calls, a health probe, one request more or less


@dataclass(frozen=True)
class _Reading:
    at: float  # time.monotonic()
    counts: Mapping[str, int] | None  # None: the links could not be read


@dataclass(frozen=True)
class _Sent:
    """A burst already judged, for what it may still send after it ended."""

    ended: float
    budget_s: float
    # link -> requests it may still send there: its bound less what it sent in its window
    allowed: Mapping[str, float]


class BoundedRetryAmplification(Invariant):
    rank = Rank.RESOURCES  # a storm starves the downstream and whatever shares it

    def __init__(self) -> None:
        self.last: _Reading | None = None
        self.sent: list[_Sent] = []

    def start(self, run: ExampleRun) -> Iterator[Verdict]:
        self.last = _read(run)
        yield from ()

    def after_step(self, run: ExampleRun, step: Step) -> Iterator[Verdict]:
        self.last = _read(run)
        yield from ()

    def after_burst(self, run: ExampleRun, burst: Burst) -> Iterator[Verdict]:
        before, after = self.last, _read(run)
        self.last = after  # the next step's count starts here (after_step reads again)
        calibration = run.calibration
        baseline = calibration.of(burst.operation) if calibration is not None else None
        attempts = run.model.retry_attempts
        allowed: dict[str, float] = {}
        for link in sorted(run.env.topology.links):
            per = baseline.requests_on(link) if baseline is not None else None
            if per:
                allowed[link] = max(0.0, attempts * per * burst.sent - _moved(before, after, link))
            faults = _failing(run, link)
            if not faults:
                continue
            what = " and ".join(f.describe() for f in faults)
            if per == 0:
                continue  # the operation does not travel this link: nothing of its to count
            if calibration is None or per is None:
                yield Verdict.unknown(
                    NAME,
                    f"{link} was failing under {what}, but how many requests it carries per "
                    f"{burst.operation.name} request when nothing fails was not calibrated "
                    "(the exploration calibrates each operation before its first example)",
                )
                continue
            down = _unreachable(run, link, faults)
            if down:
                yield Verdict.unknown(
                    NAME,
                    f"{down}: the proxy on {link} counts a request once it reaches "
                    f"{_upstream(run, link)}, so attempts that end at the connection are not "
                    "counted",
                )
                continue
            if before is None or before.counts is None or link not in before.counts:
                yield Verdict.unknown(NAME, _uncounted(run, link))
                continue
            if after.counts is None or link not in after.counts:
                yield Verdict.unknown(NAME, _uncounted(run, link))
                continue
            reached = after.counts[link] - before.counts[link]
            if reached < 0:
                yield Verdict.unknown(
                    NAME, f"the request counter on {link} was reset during the burst"
                )
                continue
            window = after.at - before.at
            idle = calibration.idle_rates.get(link, 0.0) * window
            carry = sum(
                s.allowed.get(link, 0.0)
                for s in self.sent
                if s.ended + s.budget_s + EPSILON_MS / 1000 > before.at
            )
            bound = attempts * per * burst.sent
            limit = bound + idle + carry + SLACK
            evidence = {
                "requests counted": (
                    f"{link}: {before.counts[link]} before the burst, {after.counts[link]} "
                    f"after ({window:.2f} s later): {reached} requests"
                ),
                "bound": (
                    f"{attempts} attempts x {per:.2f} requests per {burst.operation.name} "
                    f"request fault-free x {burst.sent} sent = {bound:.0f}; + idle traffic "
                    f"{idle:.1f} + earlier bursts still in flight {carry:.0f} + slack {SLACK}"
                ),
            }
            per_sent = reached / burst.sent if burst.sent else float(reached)
            if reached > limit:
                yield Verdict.failing(
                    NAME,
                    f"{reached} requests crossed {link} to {_upstream(run, link)} while it was "
                    f"failing under {what}, for {burst.sent} {burst.operation.name} requests: "
                    f"{per_sent:.1f} per request, where {per:.2g} cross it fault-free and "
                    f"{attempts} attempts each allow {attempts * per:.2g} (at most "
                    f"{limit:.0f} with idle traffic, earlier bursts and slack). Its caller "
                    "retries a failing downstream without bound (a retry storm): every retry "
                    "adds load to what is already failing",
                    **evidence,
                )
            else:
                yield Verdict.passing(
                    NAME,
                    f"{reached} requests crossed {link} under {what} for {burst.sent} "
                    f"{burst.operation.name} requests ({per_sent:.1f} per request; at most "
                    f"{limit:.0f} allowed)",
                    **evidence,
                )
        self.sent.append(_Sent(after.at, burst.operation.limit_ms / 1000, allowed))


def _read(run: ExampleRun) -> _Reading:
    try:
        counts = run.env.link_requests()
    except ChaosError:
        counts = None  # a proxy's API did not answer: this window is not counted
    return _Reading(time.monotonic(), counts)


def _moved(before: _Reading | None, after: _Reading, link: str) -> float:
    """Requests ``link`` carried between two readings (0 when they cannot tell)."""
    if before is None or before.counts is None or after.counts is None:
        return 0.0
    if link not in before.counts or link not in after.counts:
        return 0.0
    return float(max(0, after.counts[link] - before.counts[link]))


def _upstream(run: ExampleRun, link: str) -> str:
    return run.env.topology.links[link].upstream_service


def _failing(run: ExampleRun, link: str) -> list[Fault]:
    """The active faults that make ``link``'s downstream fail for its caller: on the link
    itself, on a group of links it belongs to, or on the service at its end."""
    upstream = _upstream(run, link)
    found: list[Fault] = []
    for fault in run.active:
        data = fault.to_json()
        if isinstance(fault, Isolate | Split):
            if link in fault.links(run.env):
                found.append(fault)
        elif data.get("link") == link or data.get("service") == upstream:
            found.append(fault)
    return found


def _unreachable(run: ExampleRun, link: str, faults: list[Fault]) -> str:
    """Why no request can reach ``link``'s downstream, if none can ("" if some can)."""
    upstream = _upstream(run, link)
    for fault in faults:
        if isinstance(fault, Kill | Terminate | Disconnect):
            return f"{upstream} is down ({fault.describe()})"
        data = fault.to_json()
        if fault.kind == "link_down" or (
            isinstance(fault, Isolate | Split) and data["mode"] == "down"
        ):
            return f"{link} is down ({fault.describe()})"
    return ""


def _uncounted(run: ExampleRun, link: str) -> str:
    return (
        f"the proxy on {link} does not count requests: it is a Toxiproxy the compose file "
        "runs, or an image without the harness's http_count toxic "
        "(x-chaos.proxy.image); the harness's own build counts them"
    )
