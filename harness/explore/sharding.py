"""What one shard of an exploration runs: its coverage cases and its rounds, with their seeds.

An exploration is planned before it runs: the coverage cases in their order
(:func:`harness.explore.coverage.plan`), then rounds of at most ``ROUND`` examples, round
``r`` a Hypothesis run seeded ``seed + r``. Shard K of N (:class:`harness.shard.Shard`)
takes the cases and the rounds whose index is K modulo N, with the seeds the unsharded
plan gives them; so the shards are disjoint, together they are the unsharded plan, and a
shard reruns alone from the seed. This module is pure (no system, no clock): the budget
then decides how far into its plan a shard gets.

How many examples: a shard is one machine's worth (the profile's examples), so the run's
plan is N times that, and N shards together explore N times what one machine would. A
round is ``ROUND`` examples, or one machine's examples when that is fewer (the dev and ci
profiles' handful), so that every shard gets rounds of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from harness.shard import UNSHARDED, Shard

__all__ = ["ROUND", "Round", "ShardPlan", "plan_rounds", "plan_shard"]

T = TypeVar("T")

ROUND = 25  # examples per Hypothesis run; each round has a seed of its own


@dataclass(frozen=True, order=True)
class Round:
    """One Hypothesis run: its number in the unsharded plan, its seed, its examples."""

    number: int
    seed: int
    size: int


@dataclass(frozen=True)
class ShardPlan(Generic[T]):
    """What a shard runs, in order: its coverage cases, then its rounds."""

    shard: Shard
    cases: tuple[T, ...]
    rounds: tuple[Round, ...]

    @property
    def examples(self) -> int:
        """Examples planned in rounds (coverage cases are one example each, besides)."""
        return sum(r.size for r in self.rounds)


def plan_rounds(
    seed: int, examples: int, shard: Shard = UNSHARDED, *, size: int = ROUND
) -> tuple[Round, ...]:
    """``shard``'s rounds of the unsharded plan of ``examples`` examples (rounds of ``size``,
    the last one shorter; round r seeded ``seed + r``)."""
    rounds = []
    for number, start in enumerate(range(0, max(examples, 0), size)):
        if shard.owns(number):
            rounds.append(Round(number, seed + number, min(size, examples - start)))
    return tuple(rounds)


def plan_shard(
    cases: Sequence[T], *, seed: int, examples: int, shard: Shard = UNSHARDED, size: int = ROUND
) -> ShardPlan[T]:
    """``shard``'s part of the unsharded plan: ``cases`` (coverage, in order) and the rounds
    of ``examples`` examples (the whole run's: N shards' worth) of ``size`` each."""
    rounds = plan_rounds(seed, examples, shard, size=size)
    return ShardPlan(shard, tuple(shard.take(cases)), rounds)
