"""One machine's part of a run split over N machines (``--chaos-shard=K/N``).

A sharded run splits *planned* work by index, never by time or by chance: the unsharded
run's plan (its coverage cases, its exploration rounds with their seeds, its soak windows
with their faults) is laid out for N machines' worth of work, and shard K takes the items
whose index is K modulo N. The shards are therefore disjoint, together they are the
unsharded plan, and any one of them reruns alone from the seed, since what it draws depends
on the seed and K/N only, not on the other shards or on timing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["UNSHARDED", "Shard", "parse_shard", "soak_windows"]

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``0 <= index < count``); 0/1 is the whole run."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: K must be 0 to {self.count - 1}")

    @property
    def sharded(self) -> bool:
        return self.count > 1

    def owns(self, index: int) -> bool:
        """Whether item ``index`` of the unsharded plan is this shard's."""
        return index % self.count == self.index

    def take(self, items: Sequence[T]) -> list[T]:
        """This shard's items of the unsharded plan ``items``, in the plan's order."""
        return [item for number, item in enumerate(items) if self.owns(number)]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


UNSHARDED = Shard()


def parse_shard(text: str) -> Shard:
    """``K/N`` (``0 <= K < N``), or empty for the whole run; a ValueError says what to fix."""
    text = text.strip()
    if not text:
        return UNSHARDED
    index, slash, count = text.partition("/")
    if not slash or not index.strip().isdigit() or not count.strip().isdigit():
        raise ValueError(
            f"{text!r} is not a shard; write K/N, shard K of N counted from 0 (0/2 and 1/2 "
            "split a run over two machines)"
        )
    k, n = int(index), int(count)
    if n < 1 or n > 1000:
        raise ValueError(f"{text!r}: N (the number of shards) must be 1 to 1000")
    if k >= n:
        raise ValueError(
            f"{text!r}: K must be less than N (shards are counted from 0: the last of {n} "
            f"is {n - 1}/{n})"
        )
    return Shard(k, n)


def soak_windows(seed: int, pool: int, per_shard: int, shard: Shard) -> list[tuple[int, int]]:
    """The soak windows of ``shard``: ``(window number, fault index in a pool of pool)``.

    The unsharded plan is ``per_shard * N`` windows whose faults are drawn one after another
    from ``random.Random(seed)`` (what a soak on one machine draws, window by window); this
    shard gets the windows whose number is its index modulo N, with the faults the
    unsharded plan gave them. With N = 1 these are the first ``per_shard`` draws.
    """
    rng = random.Random(seed)
    plan = [rng.randrange(pool) for _ in range(per_shard * shard.count)]
    return [(number, fault) for number, fault in enumerate(plan) if shard.owns(number)]
