"""Shards (--chaos-shard=K/N): disjoint parts of the unsharded plan that together are it.

The exploration's plan (coverage cases, then rounds with their seeds) and the soak's
windows are laid out before anything runs; these tests hold the done-when of issue 14:
for K = 0..N-1 the shards draw disjoint examples whose union is what the unsharded run
draws for the same seed and budget.
"""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from harness.explore.sharding import ROUND, Round, plan_rounds, plan_shard
from harness.settings import OPTIONS
from harness.shard import UNSHARDED, Shard, parse_shard, soak_windows

CASES = [
    f"{kind} on {target}" for kind in ("latency", "kill", "http_error") for target in "abcdefg"
]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 40])
@pytest.mark.parametrize("examples", [0, 1, 24, 25, 26, 100, 2000, 2001])
@pytest.mark.parametrize("seed", [0, 7, 2**32 - 1])
def test_shards_are_disjoint_and_together_are_the_unsharded_plan(
    count: int, examples: int, seed: int
) -> None:
    whole = plan_shard(CASES, seed=seed, examples=examples)
    parts = [
        plan_shard(CASES, seed=seed, examples=examples, shard=Shard(k, count)) for k in range(count)
    ]

    cases = Counter(case for part in parts for case in part.cases)
    assert all(n == 1 for n in cases.values()), "a coverage case is in two shards"
    assert set(cases) == set(whole.cases)

    rounds = Counter(r for part in parts for r in part.rounds)
    assert all(n == 1 for n in rounds.values()), "a round (seed) is in two shards"
    assert set(rounds) == set(whole.rounds)
    assert len({r.seed for r in rounds}) == len(rounds)  # and no two rounds share a seed
    assert sum(part.examples for part in parts) == whole.examples == examples


def test_a_shard_keeps_the_order_and_seeds_of_the_unsharded_plan() -> None:
    whole = plan_shard(CASES, seed=100, examples=130)
    assert whole.rounds == (
        Round(0, 100, 25), Round(1, 101, 25), Round(2, 102, 25),
        Round(3, 103, 25), Round(4, 104, 25), Round(5, 105, 5),
    )  # fmt: skip
    second = plan_shard(CASES, seed=100, examples=130, shard=Shard(1, 3))
    assert second.rounds == (Round(1, 101, 25), Round(4, 104, 25))
    assert second.cases == tuple(CASES[1::3])


def test_a_shard_reruns_alone_the_same_plan() -> None:
    """Nothing but the seed and K/N decides a shard's plan: no other shard, no clock."""
    first = plan_shard(CASES, seed=5, examples=400, shard=Shard(2, 4))
    again = plan_shard(list(CASES), seed=5, examples=400, shard=Shard(2, 4))
    assert first == again


def test_the_unsharded_plan_is_what_an_exploration_ran_before_shards() -> None:
    """Round r seeded seed + r, ROUND examples each: one machine's run is unchanged."""
    assert plan_rounds(9, 60) == (Round(0, 9, ROUND), Round(1, 10, ROUND), Round(2, 11, 10))


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_soak_windows_split_the_same_way(count: int) -> None:
    per_shard, pool, seed = 15, 8, 1234
    whole = soak_windows(seed, pool, per_shard * count, UNSHARDED)
    parts = [soak_windows(seed, pool, per_shard, Shard(k, count)) for k in range(count)]
    drawn = [window for part in parts for window in part]
    assert len(drawn) == len(set(drawn)) == per_shard * count  # disjoint, N times one soak
    assert sorted(drawn) == whole
    assert all(len(part) == per_shard for part in parts)  # each shard: one machine's soak


def test_unsharded_soak_windows_are_the_draws_of_the_seed() -> None:
    """What the soak drew before shards: rng.choice(pool) window after window."""
    rng = random.Random(77)
    pool = list(range(8))
    assert [fault for _, fault in soak_windows(77, 8, 15, UNSHARDED)] == [
        rng.choice(pool) for _ in range(15)
    ]


@pytest.mark.parametrize(
    ("text", "shard"),
    [("", UNSHARDED), ("0/1", UNSHARDED), ("1/2", Shard(1, 2)), (" 3/4 ", Shard(3, 4))],
)
def test_parse_shard(text: str, shard: Shard) -> None:
    assert parse_shard(text) == shard


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2/2", "K must be less than N"),
        ("5/3", "the last of 3 is 2/3"),
        ("0/0", "N (the number of shards) must be 1 to 1000"),
        ("-1/2", "write K/N"),
        ("1", "write K/N"),
        ("a/b", "write K/N"),
        ("1/2/3", "write K/N"),
    ],
)
def test_a_bad_shard_says_what_to_fix(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        parse_shard(text)


def test_shard_is_an_option_with_its_ini_key() -> None:
    option = next(o for o in OPTIONS if o.name == "shard")
    assert (option.flag, option.ini, option.metavar) == ("--chaos-shard", "chaos_shard", "K/N")


def test_a_bad_shard_is_a_usage_error_before_anything_starts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    done = pytester.runpytest("--chaos-shard=2/2")
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    done.stderr.fnmatch_lines(["*--chaos-shard: '2/2': K must be less than N*"])


def test_a_shard_without_a_seed_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """A random seed per shard: their parts would be parts of different plans."""
    pytester.makepyfile("def test_nothing():\n    pass\n")
    done = pytester.runpytest("--chaos-shard=0/2")
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    done.stderr.fnmatch_lines(
        ["*--chaos-shard: 0/2, but the seed is random*give every shard one seed*"]
    )
    assert pytester.runpytest("--chaos-shard=0/2", "--chaos-seed=3").ret == pytest.ExitCode.OK


def test_the_ini_key_sets_the_shard(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nchaos_shard = 1/3\nchaos_seed = 8\n")
    pytester.makepyfile(
        "def test_shard(chaos_settings):\n    assert str(chaos_settings.shard) == '1/3'\n"
    )
    done = pytester.runpytest()
    done.assert_outcomes(passed=1)


@pytest.mark.parametrize("size", [1, 3, 6, ROUND])
@pytest.mark.parametrize("count", [1, 2, 3])
def test_a_small_profile_gives_every_shard_rounds_of_its_own(size: int, count: int) -> None:
    """The ci profile's 6 examples a machine: rounds of 6, one per shard, not one round of
    6 x N that only shard 0 would get."""
    whole = plan_shard(CASES, seed=1, examples=size * count, size=size)
    parts = [
        plan_shard(CASES, seed=1, examples=size * count, shard=Shard(k, count), size=size)
        for k in range(count)
    ]
    assert [part.examples for part in parts] == [size] * count
    assert sorted(r for part in parts for r in part.rounds) == sorted(whole.rounds)


def test_engines_name_a_docker_host_per_worker() -> None:
    from harness.settings import _engines

    assert _engines("") == ()
    assert _engines(" gw0=tcp://127.0.0.1:2375 , gw1=unix:///var/run/docker.sock,") == (
        ("gw0", "tcp://127.0.0.1:2375"),
        ("gw1", "unix:///var/run/docker.sock"),
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("gw0", "is not WORKER=ADDRESS"),
        ("gw0=127.0.0.1:2375", "is not WORKER=ADDRESS"),
        ("=tcp://a:1", "is not WORKER=ADDRESS"),
        ("gw0=tcp://a:1,gw0=tcp://b:1", "gw0 is given two engines"),
    ],
)
def test_bad_engines_say_what_to_write(text: str, says: str) -> None:
    from harness.settings import _engines

    with pytest.raises(ValueError, match=re.escape(says)):
        _engines(text)
