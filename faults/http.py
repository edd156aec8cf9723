"""HTTP faults: the project's own Toxiproxy toxics that act on whole HTTP responses.

They are compiled into the project's Toxiproxy build (``harness/toxiproxy_build/
httptoxics``), which the harness puts on a system's links, and work on the downstream
stream of a link (the responses); a stock Toxiproxy refuses them. Which responses are affected is a
pure function of the toxic's ``seed`` and the response's index ``n`` (0, 1, 2, ... across
all connections of the proxy, restarting whenever the toxic is added):

    u = splitmix64(splitmix64(seed) + n); affected iff (u >> 11) / 2**53 < rate

:func:`affected` reproduces it, so a test can predict exactly which requests fail. Unless
a fault names its ``seed``, the harness derives it from the session seed and the fault's
other fields, so the same session seed gives the same pattern.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

from faults.base import FaultTarget, derive_seed
from faults.network import ToxicFault
from faults.validation import MAX_MS, check_choice, check_int, check_rate, check_seed
from harness.errors import FaultError

__all__ = [
    "MALFORMED_MODES",
    "HttpDelay",
    "HttpError",
    "HttpFault",
    "HttpMalformed",
    "MalformedMode",
    "affected",
]

MalformedMode = Literal["truncate", "garbage", "wrong_type"]
MALFORMED_MODES: tuple[MalformedMode, ...] = ("truncate", "garbage", "wrong_type")

_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def affected(seed: int, rate: float, count: int) -> list[bool]:
    """Which of the first ``count`` responses an HTTP toxic with ``seed`` and ``rate`` hits."""
    base = _splitmix64(seed & _MASK64)
    return [(_splitmix64((base + n) & _MASK64) >> 11) / float(1 << 53) < rate for n in range(count)]


@dataclasses.dataclass(frozen=True, kw_only=True)
class HttpFault(ToxicFault):
    """A fault on a ``rate`` fraction of the HTTP responses coming back over a link."""

    rate: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = type(self).__name__
        check_rate(owner, "rate", self.rate)
        check_seed(owner, "seed", self.seed)

    def validate(self, target: FaultTarget) -> None:
        super().validate(target)
        try:
            proxy = target.proxy(self.link)
        except FaultError:
            return  # not running yet: checked again when it is applied
        if not proxy.http_toxics:
            raise FaultError(
                f"{type(self).__name__} on {self.link}: the proxy of this link "
                f"({proxy.describe_server()}) is a stock Toxiproxy, and HTTP faults need "
                "the chaos-harness build of Toxiproxy, which adds the HTTP toxics. Let the "
                "harness supply the proxies (list the link under x-chaos.links without "
                "listen/upstream, and drop x-chaos.toxiproxy), or use a network fault "
                "(Latency, ResetPeer, Timeout, LinkDown) on this link"
            )

    def toxic_seed(self, session_seed: int) -> int:
        """The seed given to the toxic: the fault's own, or one derived from the session's."""
        return self.seed if self.seed is not None else derive_seed(session_seed, self)

    def predicted(self, session_seed: int, count: int) -> list[bool]:
        """Which of the next ``count`` responses this fault will hit once applied."""
        return affected(self.toxic_seed(session_seed), self.rate, count)

    def sampling(self, target: FaultTarget) -> dict[str, Any]:
        return {"rate": self.rate, "seed": self.toxic_seed(target.seed)}

    def share(self) -> str:
        return "every response" if self.rate == 1 else f"{self.rate:.0%} of responses"


@dataclasses.dataclass(frozen=True, kw_only=True)
class HttpError(HttpFault):
    """Replace affected responses by a small JSON error with HTTP status ``status``."""

    kind: ClassVar[str] = "http_error"
    toxic_type: ClassVar[str] = "http_error"

    status: int = 503

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("HttpError", "status", self.status, 400, 599, "(an HTTP error status)")

    def toxic_attributes(self, target: FaultTarget) -> dict[str, Any]:
        return {**self.sampling(target), "status": self.status}

    def describe(self) -> str:
        return f"HTTP {self.status} instead of {self.share()} on {self.link}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class HttpDelay(HttpFault):
    """Hold affected responses back ``ms`` milliseconds before their first byte."""

    kind: ClassVar[str] = "http_delay"
    toxic_type: ClassVar[str] = "http_delay"

    ms: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("HttpDelay", "ms", self.ms, 0, MAX_MS, "milliseconds")

    def toxic_attributes(self, target: FaultTarget) -> dict[str, Any]:
        return {**self.sampling(target), "delay": self.ms}

    def describe(self) -> str:
        return f"{self.share()} delayed {self.ms} ms on {self.link}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class HttpMalformed(HttpFault):
    """Break the body of affected responses (their status stays).

    ``truncate`` announces the full length but sends half and closes the connection;
    ``garbage`` sends as many non-JSON bytes; ``wrong_type`` sends valid JSON of the wrong
    shape.
    """

    kind: ClassVar[str] = "http_malformed"
    toxic_type: ClassVar[str] = "http_malformed"

    mode: MalformedMode = "truncate"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("HttpMalformed", "mode", self.mode, MALFORMED_MODES)

    def toxic_attributes(self, target: FaultTarget) -> dict[str, Any]:
        return {**self.sampling(target), "mode": self.mode}

    def describe(self) -> str:
        return f"{self.share()} malformed ({self.mode}) on {self.link}"
