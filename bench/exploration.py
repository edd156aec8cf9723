"""Benchmark: how fast the exploration explores, and what it finds in a bounded time.

    .venv/bin/python -m bench.exploration [--seconds 120] [--profile ci] [--seed N]
    .venv/bin/python -m bench.exploration --bugs leak-on-timeout,no-deadline --seconds 300
    .venv/bin/python -m bench.exploration --race --bugs shared-counter-race --seconds 600
    .venv/bin/python -m bench.exploration --race --control .chaos/replays/bench-*.json
    .venv/bin/python -m bench.exploration --smoke    # profile dev, two examples: seconds
    .venv/bin/python -m bench.exploration --coverage --bugs no-breaker --seconds 300

Without ``--bugs``: runs the state machine on the correct build for ``--seconds`` and
prints examples per minute (the target is at least 60), and whether any invariant broke
(a false alarm). With ``--bugs``: for each seeded bug in turn, a fresh system with that
bug, exploration and shrinking within ``--seconds`` (shrinking at most
``--shrink-seconds`` of it), then the shortest failing schedule saved under
``.chaos/replays/`` and replayed ``--replays`` times; one table row per bug: found or not,
after how long, the shrunk schedule's length (fault steps / steps) and how many replays
reproduced the failure. ``--race`` explores the race-detector builds, where data races are
reported (the plain builds rarely show them). The random rounds alone are measured unless
``--coverage`` puts the coverage phase (every single fault kind on every target,
:mod:`harness.explore.coverage`) first, as ``explore_or_replay`` does. ``--control``
replays saved schedules once each on the correct build, where every one must keep every
invariant (or what the exploration found was not the bug's doing); a schedule recorded on
other sources than the ones running says so instead of counting as a control.

Every system it starts is removed at the end. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import tools
from harness.backends.docker import DockerBackend
from harness.backends.engine import connect_engine
from harness.environment import Environment
from harness.errors import ChaosError
from harness.explore import (
    REPLAY_DIR,
    explore,
    load_replay,
    recorded_run,
    replay,
    replay_runs,
    save_replay,
)
from harness.labels import new_session_id
from harness.topology import load_topology
from suites.model import ReferenceModel

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose" / "docker-compose.yml"


@dataclass(frozen=True)
class Row:
    build: str
    examples: int
    seconds: float  # exploring and shrinking
    found: bool
    fault_steps: int | None
    steps: int | None
    reproduced: str
    what: str
    saved: str
    found_after_s: float | None = None  # when the first failure was found
    source: str = ""  # the sources the build came from

    @property
    def per_minute(self) -> float:
        return self.examples * 60 / max(self.seconds, 1e-9)


def start(bugs: tuple[str, ...], *, race: bool) -> Environment:
    topology = load_topology(COMPOSE)
    env = Environment(
        topology,
        DockerBackend(
            new_session_id(),
            connect_engine(),
            build_args=dict(topology.race_build_args or {}) if race else {},
        ),
        service_env={"CHAOS_BUGS": ",".join(bugs)} if bugs else {},
        startup_timeout_s=60,
        seed=0,
    )
    env.__enter__()
    return env


def measure(
    bug: str | None,
    *,
    profile: str,
    seconds: float,
    shrink_seconds: float | None,
    seed: int,
    replays: int,
    max_examples: int,
    race: bool,
    coverage: bool = False,
    topologies: int = 1,
) -> Row:
    bugs = (bug,) if bug else ()
    env = start(bugs, race=race)
    also: list[Environment] = []
    try:
        also += [start(bugs, race=race) for _ in range(topologies - 1)]
        found = explore(
            env,
            ReferenceModel(),
            profile,
            seed=seed,
            budget_s=seconds,
            max_examples=max_examples,
            coverage=coverage,
            shrink_s=shrink_seconds,
            also=also,
        )
        failure = found.failure
        if failure is None:
            return Row(
                bug or "correct",
                found.examples,
                found.seconds,
                False,
                None,
                None,
                "-",
                "",
                "",
                source=env.source.describe(),
            )
        label = f"bench-{bug or 'correct'}-seed{seed}"
        recorded = recorded_run(
            env, seed=env.seed, message=failure.message, bugs=list(bugs), race=race
        )
        path = save_replay(failure.schedule, ROOT / REPLAY_DIR, label=label, recorded=recorded)
        failed = 0
        if replays:
            result = replay_runs(env, ReferenceModel(), failure.schedule, replays)
            failed = result.failed
            for kept in result.kept:  # why a replay did not reproduce it
                print(f"{bug or 'correct'}: replay {kept}", flush=True)
        return Row(
            bug or "correct",
            found.examples,
            found.seconds,
            True,
            failure.fault_steps,
            len(failure.schedule.steps),
            f"{failed}/{replays}",
            failure.message.splitlines()[0][:90],
            str(path.relative_to(ROOT)),
            found.found_after_s,
            env.source.describe(),
        )
    finally:
        for each in also:
            each.down()
        env.down()


def control(files: list[str], *, race: bool) -> None:
    """Replay each saved schedule once on the correct build: a schedule a bug's exploration
    found must keep every invariant there, or what it found was not that bug's doing. A
    schedule recorded on other sources says so: keeping every invariant here would say
    nothing of the build it was found on."""
    env = start((), race=race)
    try:
        print(f"control build: no seeded bug, {env.source.describe()}", flush=True)
        for name in files:
            saved = load_replay(Path(name))
            other = saved.source_note(env.source)
            failed, messages = replay(env, ReferenceModel(), saved.schedule, 1)
            verdict = "BROKEN " + messages[0].splitlines()[0][:100] if failed else "kept"
            where = f"on this build ({other})" if other else "on the correct build"
            print(f"{Path(name).name}: {where} {verdict}", flush=True)
    finally:
        env.down()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=120.0, help="exploring budget per build")
    parser.add_argument("--profile", default="ci", choices=["dev", "ci", "nightly"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bugs", default="", help="comma-separated seeded bugs, one row each")
    parser.add_argument("--replays", type=int, default=5, help="replays of a found failure")
    parser.add_argument("--max-examples", type=int, default=10_000)
    parser.add_argument(
        "--race", action="store_true", help="the race-detector build of every service"
    )
    parser.add_argument(
        "--shrink-seconds",
        type=float,
        default=None,
        help="the most shrinking a failure may take, within --seconds (default: the profile's)",
    )
    parser.add_argument(
        "--topologies",
        type=int,
        default=None,
        help="topologies explored at once, one thread each (default: one more than the "
        "machine's cores, at most 8: an example mostly waits on its system)",
    )
    parser.add_argument(
        "--control",
        nargs="+",
        metavar="REPLAY",
        help="instead of exploring: replay these saved schedules once on the correct build",
    )
    parser.add_argument(
        "--coverage",
        action="store_true",
        help="the coverage phase (every fault kind on every target) before the random rounds",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="profile dev, at most 2 examples and 10 s per build, 1 replay: seconds",
    )
    args = parser.parse_args()
    if args.topologies is None:
        # Measured on 2 cores (120 s, seed 1): 2 topologies 42.3 examples/min, 3 66.4, 4
        # 85.1, none with a false alarm; one more than the cores keeps the machine's load
        # near its cores, where timing-sensitive checks stay trustworthy.
        args.topologies = min(8, (os.cpu_count() or 1) + 1)
    if args.smoke:
        args.topologies = 1
        args.profile = "dev"
        args.max_examples = min(args.max_examples, 2)
        args.seconds = min(args.seconds, 10.0)
        args.replays = min(args.replays, 1)
    tools.require_docker()
    tools.reference_build()
    # A run stopped with SIGTERM still removes the system it started (env.down in finally).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if args.control:
        control(args.control, race=args.race)
        return
    bugs = [b.strip() for b in args.bugs.split(",") if b.strip()] or [None]
    rows: list[Row] = []
    for bug in bugs:
        started = time.monotonic()
        try:
            row = measure(
                bug,
                profile=args.profile,
                seconds=args.seconds,
                shrink_seconds=args.shrink_seconds,
                seed=args.seed,
                replays=args.replays,
                max_examples=args.max_examples,
                race=args.race,
                coverage=args.coverage,
                topologies=args.topologies,
            )
        except ChaosError as exc:  # the system broke under the bench (not the exploration)
            row = Row(bug or "correct", 0, 0.0, False, None, None, "error", str(exc)[:90], "")
        rows.append(row)
        after = f" after {row.found_after_s:.0f} s" if row.found_after_s is not None else ""
        print(
            f"{row.build}: {row.examples} examples, {row.per_minute:.1f}/min, "
            f"found={row.found}{after}, fault steps {row.fault_steps}, steps {row.steps}, "
            f"replays {row.reproduced} ({row.seconds:.0f} s exploring and shrinking, "
            f"{time.monotonic() - started:.0f} s with start and replays)",
            flush=True,
        )
    print()
    variant = "race-detector" if args.race else "plain"
    print(
        f"profile {args.profile}, seed {args.seed}, budget {args.seconds:.0f} s per build, "
        f"{variant} builds, {args.topologies} topolog{'y' if args.topologies == 1 else 'ies'} "
        "at once"
    )
    print(
        f"{'build':<28} {'examples':>8} {'per min':>8} {'found':>6} {'after s':>7} "
        f"{'total s':>7} {'fault steps':>11} {'steps':>5} {'replays':>8}  what broke"
    )
    for row in rows:
        after = f"{row.found_after_s:.0f}" if row.found_after_s is not None else "-"
        print(
            f"{row.build:<28} {row.examples:>8} {row.per_minute:>8.1f} "
            f"{'yes' if row.found else 'no':>6} {after:>7} {row.seconds:>7.0f} "
            f"{row.fault_steps if row.found else '-':>11} "
            f"{row.steps if row.found else '-':>5} {row.reproduced:>8}  {row.what}"
        )
    for source in sorted({row.source for row in rows if row.source}):
        print(f"built from: {source}")
    for row in rows:
        if row.saved:
            print(f"{row.build}: shortest failing schedule saved to {row.saved}")


if __name__ == "__main__":
    sys.exit(tools.run(main))
