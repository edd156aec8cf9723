"""Every setting of the harness: its flag, ini key, one shared description, and its parser.

A value comes from the command line, else the ini file, else the default; a bad value is a
``pytest.UsageError`` that names where it came from, raised before anything starts.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from harness.shard import UNSHARDED, Shard, parse_shard

__all__ = ["OPTIONS", "Option", "Settings", "add_options", "resolve_settings"]

BackendName = Literal["auto", "docker", "local"]
ProfileName = Literal["dev", "ci", "nightly"]
PROFILE_NAMES: tuple[ProfileName, ...] = ("dev", "ci", "nightly")


@dataclass(frozen=True)
class Settings:
    compose: Path | None
    backend: BackendName
    bugs: tuple[str, ...]
    seed: int
    keep_on_failure: bool
    startup_timeout_s: float
    race: bool
    profile: ProfileName = "ci"  # the Hypothesis profile of exploration tests
    replay: Path | None = None  # a saved schedule to run instead of exploring
    replay_runs: int = 1  # how many times to run it
    explore_budget_s: float | None = None  # None: the profile's own time budget
    explore: bool = False  # one exploration test item for the compose file, no test file needed
    explore_outlast_s: float | None = None  # None: the model's longest period + a margin
    shard: Shard = UNSHARDED  # this machine's part of a run split over several (K/N)
    engines: tuple[tuple[str, str], ...] = ()  # (xdist worker, its DOCKER_HOST address)


@dataclass(frozen=True)
class Option:
    name: str
    help: str
    parse: Callable[[str], Any]
    default: str
    metavar: str | None = None
    is_flag: bool = False

    @property
    def flag(self) -> str:
        return f"--chaos-{self.name}"

    @property
    def ini(self) -> str:
        return "chaos_" + self.name.replace("-", "_")

    @property
    def dest(self) -> str:
        return self.ini


def _backend(text: str) -> BackendName:
    if text not in ("auto", "docker", "local"):
        raise ValueError(f"{text!r} is not a backend; use auto, docker or local")
    return text  # type: ignore[return-value]


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if not n.replace("-", "").replace("_", "").isalnum()]
    if bad:
        raise ValueError(f"{', '.join(bad)} is not a bug name (letters, digits, '-' and '_')")
    return names


def _seed(text: str) -> str:
    if text not in ("random", "last") and not text.isdigit():
        raise ValueError(f"{text!r} is not a seed; use a whole number, 'random' or 'last'")
    return text


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise ValueError(f"{text} must be more than 0 and at most 3600 seconds")
    return value


def _profile(text: str) -> ProfileName:
    if text not in PROFILE_NAMES:
        raise ValueError(f"{text!r} is not a profile; use {', '.join(PROFILE_NAMES)}")
    return text


def _runs(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 100:
        raise ValueError(f"{text!r} is not a number of runs from 1 to 100")
    return int(text)


def _optional_seconds(text: str) -> float | None:
    return _positive_seconds(text) if text.strip() else None


def _engines(text: str) -> tuple[tuple[str, str], ...]:
    """``gw0=tcp://127.0.0.1:2375,gw1=unix:///var/run/docker.sock``: a worker's engine."""
    engines: dict[str, str] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        worker, equals, host = entry.partition("=")
        worker, host = worker.strip(), host.strip()
        if not equals or not worker or "://" not in host:
            raise ValueError(
                f"{entry!r} is not WORKER=ADDRESS; write e.g. "
                "gw0=tcp://127.0.0.1:2375,gw1=unix:///var/run/docker.sock (the pytest-xdist "
                "worker IDs gw0, gw1... and a DOCKER_HOST address each)"
            )
        if worker in engines:
            raise ValueError(f"{worker} is given two engines; give each worker one")
        engines[worker] = host
    return tuple(engines.items())


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not true or false")


OPTIONS: tuple[Option, ...] = (
    Option("compose", "compose file describing the system under test", str, "", "FILE"),
    Option(
        "backend",
        "where services run: docker, local (host processes) or auto (docker when an engine "
        "answers, else local)",
        _backend,
        "auto",
        "NAME",
    ),
    Option(
        "bugs",
        "comma-separated seeded bugs to switch on (names that x-chaos.bugs declares; every "
        "service gets them in the variable it names)",
        _names,
        "",
        "NAME[,NAME...]",
    ),
    Option(
        "seed",
        "seed for every random choice the harness makes: a number, 'random' or 'last'",
        _seed,
        "random",
        "SEED",
    ),
    Option(
        "keep-on-failure",
        "leave the system running after a failing test and print how to reach it",
        _bool,
        "false",
        is_flag=True,
    ),
    Option(
        "startup-timeout",
        "seconds each service may take to become ready",
        _positive_seconds,
        "60",
        "SECONDS",
    ),
    Option(
        "race",
        "run the race-detector build of every service (the build args of x-chaos.race)",
        _bool,
        "false",
        is_flag=True,
    ),
    Option(
        "profile",
        "Hypothesis profile of the exploration tests: dev (a few short examples), ci (a "
        "handful, under a minute) or nightly (many examples, longer schedules)",
        _profile,
        "ci",
        "NAME",
    ),
    Option(
        "replay",
        "a schedule saved by an exploration (.chaos/replays/*.json): run it again, with "
        "the same invariants, instead of exploring",
        str,
        "",
        "FILE",
    ),
    Option(
        "replay-runs",
        "how many times --chaos-replay runs the schedule; prints how many reproduced the failure",
        _runs,
        "1",
        "N",
    ),
    Option(
        "explore",
        "explore the system of the compose file with its x-chaos workload, no test file "
        "needed: one test item for the file (every fault kind on every link and service the "
        "workload touches, then random schedules)",
        _bool,
        "false",
        is_flag=True,
    ),
    Option(
        "explore-budget",
        "seconds an exploration may take, shrinking a failure included; default: the "
        "profile's (dev 60, ci 45, nightly 1800)",
        _optional_seconds,
        "",
        "SECONDS",
    ),
    Option(
        "explore-outlast",
        "seconds an exploration sometimes holds a fault, to outlast the system's background "
        "work; default: 3 more than the longest period its model declares (none: never)",
        _optional_seconds,
        "",
        "SECONDS",
    ),
    Option(
        "shard",
        "run shard K of N (counted from 0): explore only this shard's part of the seed space "
        "and run only its share of the soak windows, so N shards do N times the work "
        "without overlap; each reruns alone with the same seed",
        parse_shard,
        "",
        "K/N",
    ),
    Option(
        "engines",
        "the Docker engine of each pytest-xdist worker, as DOCKER_HOST addresses "
        "(gw0=tcp://127.0.0.1:2375,gw1=unix:///var/run/docker.sock); a worker not named "
        "uses DOCKER_HOST, or this machine's engine",
        _engines,
        "",
        "WORKER=ADDRESS[,...]",
    ),
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos", "chaos-harness: fault injection against real services")
    for option in OPTIONS:
        if option.is_flag:
            group.addoption(
                option.flag, action="store_const", const="true", default=None,
                dest=option.dest, help=option.help,
            )  # fmt: skip
        else:
            group.addoption(
                option.flag, default=None, dest=option.dest, metavar=option.metavar,
                help=f"{option.help} (default: {option.default or 'none'})",
            )  # fmt: skip
        parser.addini(option.ini, help=option.help, default=None)


def _raw(config: pytest.Config, option: Option) -> tuple[str, str, Path]:
    """The raw text of a setting, where it came from, and the folder relative paths start at."""
    cli = config.getoption(option.dest)
    if cli is not None:
        return str(cli), option.flag, config.invocation_params.dir
    ini = config.getini(option.ini)
    if ini not in (None, "", []):
        where = f"ini key {option.ini} in {config.inipath}" if config.inipath else option.ini
        base = config.inipath.parent if config.inipath else config.rootpath
        return str(ini), where, base
    return option.default, f"the default of {option.flag}", config.rootpath


def resolve_settings(config: pytest.Config) -> Settings:
    values: dict[str, Any] = {}
    bases: dict[str, Path] = {}
    wheres: dict[str, str] = {}
    for option in OPTIONS:
        text, where, base = _raw(config, option)
        wheres[option.name] = where
        try:
            values[option.name] = option.parse(text)
        except ValueError as exc:
            raise pytest.UsageError(f"chaos-harness: {where}: {exc}") from None
        bases[option.name] = base
    compose = values["compose"]
    if values["shard"].sharded and values["seed"] == "random":
        # Each shard would draw a seed of its own: their parts would be of different plans.
        raise pytest.UsageError(
            f"chaos-harness: {wheres['shard']}: {values['shard']}, but the seed is random "
            f"({wheres['seed']}); give every shard one seed, e.g. --chaos-seed=20261129 (or "
            "chaos_seed in the ini file), so that their parts are parts of one plan"
        )
    return Settings(
        compose=(bases["compose"] / compose).resolve() if compose else None,
        backend=values["backend"],
        bugs=values["bugs"],
        # An xdist worker's own choice is replaced by the controller's: it must not record it.
        seed=_choose_seed(
            values["seed"],
            config.rootpath,
            record=not hasattr(config, "workerinput"),
            where=wheres["seed"],
        ),
        keep_on_failure=values["keep-on-failure"],
        startup_timeout_s=values["startup-timeout"],
        race=values["race"],
        profile=values["profile"],
        replay=(bases["replay"] / values["replay"]).resolve() if values["replay"] else None,
        replay_runs=values["replay-runs"],
        explore_budget_s=values["explore-budget"],
        explore=values["explore"],
        explore_outlast_s=values["explore-outlast"],
        shard=values["shard"],
        engines=values["engines"],
    )


def _choose_seed(text: str, root: Path, *, record: bool = True, where: str = "--chaos-seed") -> int:
    memory = root / ".chaos" / "last-seed"
    if text == "last":
        try:
            return int(memory.read_text())
        except (OSError, ValueError):
            raise pytest.UsageError(
                f"chaos-harness: {where}: last, but no earlier run recorded a seed in "
                f"{memory}; run once without it first"
            ) from None
    seed = random.SystemRandom().randrange(2**32) if text == "random" else int(text)
    if not record:
        return seed
    try:
        memory.parent.mkdir(exist_ok=True)
        memory.write_text(str(seed))
    except OSError:
        pass  # a read-only checkout only loses `--chaos-seed=last`
    return seed
