"""What every fault is: a validated, JSON-round-tripping value that applies and heals itself.

A fault carries no reference to a running system; it is given one (a :class:`FaultTarget`)
when applied. Inside a chaos test the plugin makes the test's environment the current
target, so ``with Latency("front->back", ms=1500):`` is all a test needs to write.

Applying runs three steps: :meth:`Fault.validate` against the target's topology and backend
(an unknown link or service, or an operation the backend cannot do, is refused before
anything changes), then the fault's own ``_apply``, then the target records it as active.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

from harness.errors import ChaosError, FaultError

if TYPE_CHECKING:
    from harness.backends.base import Backend
    from harness.topology import Topology

__all__ = [
    "Fault",
    "FaultTarget",
    "backend_can",
    "current_target",
    "derive_seed",
    "fault_from_json",
    "fault_kinds",
    "require_link",
    "require_service",
    "using_target",
]

log = logging.getLogger("chaos-harness")


class ToxicLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def stream(self) -> str: ...
    @property
    def attributes(self) -> Mapping[str, Any]: ...


class ProxyLike(Protocol):
    def add_toxic(
        self,
        name: str,
        type: str,
        stream: str,
        attributes: Mapping[str, Any],
        toxicity: float = 1.0,
    ) -> None: ...

    def remove_toxic(self, name: str) -> bool: ...

    def toxics(self) -> list[Any]: ...

    def set_enabled(self, enabled: bool) -> None: ...

    @property
    def http_toxics(self) -> bool:
        """Whether the Toxiproxy behind this link has the harness's HTTP toxics."""

    def describe_server(self) -> str: ...


class FaultTarget(Protocol):
    """What a fault needs from a running environment (:class:`harness.environment.Environment`)."""

    topology: Topology
    backend: Backend
    seed: int
    startup_timeout_s: float

    @property
    def active_faults(self) -> tuple[Fault, ...]: ...

    def proxy(self, link: str) -> ProxyLike: ...

    def track_fault(self, fault: Fault, active: bool) -> None:
        """Record that ``fault`` is now on (True) or off (False)."""


_registry: dict[str, type[Fault]] = {}


def current_target() -> FaultTarget:
    """The running system of the current chaos test (see :mod:`harness.context`)."""
    from harness.context import current_environment

    target = current_environment()
    if target is None:
        raise FaultError(
            "no running environment to apply this fault to; use it inside a test that takes "
            "the `chaos` fixture, or apply it explicitly with `chaos.inject(fault)`"
        )
    return target


@contextmanager
def using_target(target: FaultTarget) -> Iterator[None]:
    """Make ``target`` the current chaos test's system for the block."""
    from harness.context import using_environment

    with using_environment(target):  # type: ignore[arg-type]
        yield


@dataclasses.dataclass(frozen=True)
class Fault(ABC):
    """Base of all faults. Subclasses are frozen dataclasses that validate in __post_init__."""

    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str):
            _registry[kind] = cls

    def validate(self, target: FaultTarget) -> None:  # noqa: B027 - most faults override it
        """Refuse, before anything changes, a fault this target cannot take."""

    @abstractmethod
    def _apply(self, target: FaultTarget) -> None: ...

    @abstractmethod
    def _heal(self, target: FaultTarget) -> None: ...

    @abstractmethod
    def describe(self) -> str:
        """One line, in words, for reports and failure messages."""

    def apply(self, target: FaultTarget | None = None) -> None:
        """Switch the fault on; applying it twice is the same as once."""
        target = target or current_target()
        self.validate(target)
        try:
            self._apply(target)
        except BaseException:
            try:
                self._heal(target)  # nothing half-applied stays behind
            except ChaosError as exc:  # the first error is the one worth reporting
                log.warning("undoing a half-applied %s failed: %s", self.describe(), exc)
            raise
        target.track_fault(self, True)

    def heal(self, target: FaultTarget | None = None) -> None:
        """Switch the fault off; healing a healed fault does nothing."""
        target = target or current_target()
        self.validate(target)
        self._heal(target)
        target.track_fault(self, False)

    def __enter__(self) -> Self:
        self.apply()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.heal()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)


def fault_kinds() -> tuple[str, ...]:
    return tuple(sorted(_registry))


def fault_from_json(data: Mapping[str, Any] | str) -> Fault:
    """Rebuild a fault from :meth:`Fault.to_json` output (or its JSON text)."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise FaultError(f"a fault in JSON must be a JSON object: {exc}") from None
    if not isinstance(data, Mapping):
        raise FaultError(f"a fault in JSON must be an object with a 'kind', got {data!r}")
    fields = dict(data)
    kind = fields.pop("kind", None)
    cls = _registry.get(str(kind))
    if cls is None:
        raise FaultError(
            f"unknown fault kind {kind!r}; the known kinds are: {', '.join(fault_kinds())}"
        )
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = set(fields) - allowed
    if unknown:
        raise FaultError(
            f"fault kind {kind!r} has no field(s) {', '.join(sorted(unknown))}; "
            f"its fields are: {', '.join(sorted(allowed))}"
        )
    return cls(**fields)


# -- what validate() steps share ------------------------------------------------------------


def require_link(target: FaultTarget, owner: str, link: str) -> None:
    links = target.topology.links
    if link not in links:
        known = ", ".join(sorted(links)) or "none (the compose file's x-chaos block has no links)"
        raise FaultError(f"{owner}: no link named {link!r}; the known links are: {known}")


def require_service(target: FaultTarget, owner: str, service: str) -> None:
    services = target.topology.services
    if service not in services:
        raise FaultError(
            f"{owner}: no service named {service!r}; "
            f"the known services are: {', '.join(sorted(services))}"
        )


def backend_can(target: FaultTarget, operation: str) -> bool:
    """Whether the target's backend implements ``operation`` rather than inheriting a refusal.

    The backend contract gives optional operations (disconnect, connect) a default that
    raises; a backend that can do them overrides it.
    """
    from harness.backends.base import Backend

    implementation = getattr(type(target.backend), operation, None)
    return implementation is not None and implementation is not getattr(Backend, operation, None)


def derive_seed(session_seed: int, fault: Fault) -> int:
    """A seed for ``fault`` that depends only on the session seed and the fault's own fields.

    Hashing (rather than, say, adding) keeps two faults of one session from sharing a
    pattern, and the same session seed always gives the same seed to the same fault.
    """
    fields = {k: v for k, v in fault.to_json().items() if k != "seed"}
    text = json.dumps({"session": session_seed, "fault": fields}, sort_keys=True)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1
