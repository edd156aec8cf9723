"""The exploration model of a compose file's ``x-chaos.workload``: a system explored with no
Python of its user's (``pytest --chaos-compose=FILE --chaos-explore``).

Each entry of the workload is one :class:`~harness.explore.model.Operation`: the request
line sent to its service, with its body and headers, at its rate, and what a good answer
is. Beyond what the generic invariants check for any HTTP service, an entry promises:

- every answer within ``budget_ms`` (default 5 s, so a hang is always a finding);
- a complete HTTP reply, with one of ``statuses`` when the entry lists them (a body of any
  kind: a workload does not say what its service answers, so JSON is not required).

A user who wants more (invariants of the system's own) writes a ``chaos_model`` fixture
that returns a subclass of :class:`WorkloadModel` with :meth:`~SystemModel.invariants`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.errors import ConfigError
from harness.explore.model import Operation, Reply, SystemModel
from harness.load import RequestFactory

if TYPE_CHECKING:
    from harness.load.requests import RequestSpec
    from harness.topology import Topology, WorkloadRequest

__all__ = ["WorkloadModel", "operation_of"]


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
    """The operation one ``x-chaos.workload`` entry describes."""
    plain = entry.body is None and not entry.headers
    return Operation(
        entry.name,
        entry.service,
        (entry.request,),
        budget_ms=entry.budget_ms,
        statuses=entry.statuses,
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
