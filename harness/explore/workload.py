"""The exploration model of a compose file's ``x-chaos.workload``: a system explored with no
Python of its user's (``pytest --chaos-compose=FILE --chaos-explore``).

Each entry of the workload is one :class:`~harness.explore.model.Operation`: the request
line sent to its service, with its body and headers, at its rate, and what a good answer
is. Beyond what the generic invariants check for any HTTP service, an entry promises:

- every answer within ``budget_ms`` (without one, the exploration's default budget,
  :data:`~harness.explore.model.DEFAULT_BUDGET_MS`: a hang is always a finding);
- a complete HTTP reply (a body of any kind: a workload does not say what its service
  answers, so JSON is not required);
- when the entry lists ``statuses``, one of them (:class:`ExpectedStatuses`, whose message
  names the entry's key).

A user who wants more (invariants of the system's own) writes a ``chaos_model`` fixture
that returns a subclass of :class:`WorkloadModel` with :meth:`~SystemModel.invariants`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from harness.checks import Verdict
from harness.errors import ConfigError
from harness.explore.invariants import Invariant, Rank
from harness.explore.model import Operation, Reply, SystemModel
from harness.history import request_label
from harness.load import RequestFactory

if TYPE_CHECKING:
    from harness.explore.engine import Burst, ExampleRun
    from harness.load.requests import RequestSpec
    from harness.topology import Topology, WorkloadRequest

__all__ = ["ExpectedStatuses", "WorkloadModel", "operation_of"]

SHOWN = 5  # requests a failing verdict names


def _complete(reply: Reply) -> bool:
    """A complete HTTP reply: any body, any status the operation's ``statuses`` allow."""
    return reply.get("status") is not None


def _sender(entry: WorkloadRequest) -> RequestFactory:
    method, _, path = entry.request.partition(" ")

    def workload_request(_: int) -> RequestSpec:
        # A fresh dict each time: the load generator adds Content-Type to the one it gets.
        return method, path, dict(entry.headers), entry.body

    return workload_request


def operation_of(entry: WorkloadRequest) -> Operation:
    """The operation one ``x-chaos.workload`` entry describes (its ``statuses`` are judged
    by :class:`ExpectedStatuses`, whose message says where they come from)."""
    plain = entry.body is None and not entry.headers
    return Operation(
        entry.name,
        entry.service,
        (entry.request,),
        budget_ms=entry.budget_ms,
        well_formed=_complete,
        per_burst=None if plain else (lambda line, key: _sender(entry)),
        overload=entry.overload,
        rate=entry.rate,
    )


class WorkloadModel(SystemModel):
    """A system as its compose file's ``x-chaos.workload`` describes it."""

    def __init__(self, topology: Topology) -> None:
        if not topology.workload:
            raise ConfigError(
                f"{topology.path} has no `workload:` in its x-chaos block, so --chaos-explore "
                "has nothing to send; add what your users send, e.g.\n"
                "x-chaos:\n  workload:\n"
                '    - {service: front, request: "GET /", rate: 20, budget_ms: 2000}\n'
                "(or give the exploration a model of your own: a `chaos_model` fixture)"
            )
        self.workload = topology.workload

    def operations(self, topology: Topology) -> Sequence[Operation]:
        return [operation_of(entry) for entry in self.workload]

    def invariants(self, topology: Topology) -> list[Invariant]:
        return [ExpectedStatuses(self.workload)]


class ExpectedStatuses(Invariant):
    """Every answered request of a workload entry that lists ``statuses`` has one of them
    (impatient clients included: the replies that did come back)."""

    rank = Rank.CONTRACT
    check = "statuses the workload expects"

    def __init__(self, workload: Sequence[WorkloadRequest]) -> None:
        self.workload = {entry.name: (n, entry) for n, entry in enumerate(workload)}

    def after_burst(self, run: ExampleRun, burst: Burst) -> Iterator[Verdict]:
        number, entry = self.workload.get(burst.operation.name, (0, None))
        if entry is None or entry.statuses is None:
            return
        allowed = ", ".join(str(s) for s in sorted(entry.statuses))
        answered = [
            (invoke, done)
            for invoke, done in burst.history.completed()
            if isinstance(done.value, dict) and done.value.get("status") is not None
        ]
        if not answered:
            yield Verdict.unknown(self.check, f"no {entry.name} request was answered")
            return
        wrong = [(i, d) for i, d in answered if d.value.get("status") not in entry.statuses]
        if not wrong:
            yield Verdict.passing(
                self.check, f"all {len(answered)} answered {entry.name} requests got {allowed}"
            )
            return
        counts = Counter(d.value.get("status") for _, d in wrong)
        seen = ", ".join(f"{status} x{n}" for status, n in sorted(counts.items()))
        during = "; ".join(f.describe() for f in run.active) or "no fault"
        named = [
            f"  {request_label(i, d)} answered {d.value.get('status')} after "
            f"{d.value.get('latency_ms', 0):.0f} ms"
            for i, d in wrong[:SHOWN]
        ]
        yield Verdict.failing(
            self.check,
            f"{len(wrong)} of {len(answered)} answered {entry.name} requests got a status "
            f"x-chaos.workload[{number}].statuses does not list ({seen}; it lists {allowed}) "
            f"while this was on: {during}\n" + "\n".join(named),
        )
