"""What every fault is: a validated, JSON-round-tripping value that applies and heals itself.

A fault carries no reference to a running system; it is given one (a :class:`FaultTarget`)
when applied. Inside a chaos test the plugin makes the test's environment the current
target, so ``with Latency("gateway->inventory", ms=1500):`` is all a test needs to write.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self

from harness.errors import FaultError

__all__ = ["Fault", "FaultTarget", "current_target", "fault_from_json", "using_target"]


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


class FaultTarget(Protocol):
    """What a fault needs from a running environment."""

    def proxy(self, link: str) -> ProxyLike: ...

    def track_fault(self, fault: Fault, active: bool) -> None:
        """Record that ``fault`` is now on (True) or off (False)."""


_current: ContextVar[FaultTarget | None] = ContextVar("chaos_fault_target", default=None)
_registry: dict[str, type[Fault]] = {}


def current_target() -> FaultTarget:
    target = _current.get()
    if target is None:
        raise FaultError(
            "no running environment to apply this fault to; use it inside a test that takes "
            "the `chaos` fixture, or apply it explicitly with `chaos.inject(fault)`"
        )
    return target


@contextmanager
def using_target(target: FaultTarget) -> Iterator[None]:
    token = _current.set(target)
    try:
        yield
    finally:
        _current.reset(token)


@dataclasses.dataclass(frozen=True)
class Fault(ABC):
    """Base of all faults. Subclasses are frozen dataclasses that validate in __post_init__."""

    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str):
            _registry[kind] = cls

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
        try:
            self._apply(target)
        except BaseException:
            self._heal(target)  # nothing half-applied stays behind
            raise
        target.track_fault(self, True)

    def heal(self, target: FaultTarget | None = None) -> None:
        """Switch the fault off; healing a healed fault does nothing."""
        target = target or current_target()
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


def fault_from_json(data: Mapping[str, Any] | str) -> Fault:
    """Rebuild a fault from :meth:`Fault.to_json` output (or its JSON text)."""
    if isinstance(data, str):
        data = json.loads(data)
        assert isinstance(data, Mapping)
    fields = dict(data)
    kind = fields.pop("kind", None)
    cls = _registry.get(str(kind))
    if cls is None:
        raise FaultError(
            f"unknown fault kind {kind!r}; the known kinds are: {', '.join(sorted(_registry))}"
        )
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = set(fields) - allowed
    if unknown:
        raise FaultError(
            f"fault kind {kind!r} has no field(s) {', '.join(sorted(unknown))}; "
            f"its fields are: {', '.join(sorted(allowed))}"
        )
    return cls(**fields)
