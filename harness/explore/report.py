"""An exploration or a replay from inside a pytest test, and what it tells the user: the
shortest failing schedule as code, saved as replay JSON (and attached to Allure), the
command that replays it, and ``reproduced k/N`` for replays.

The one pytest-facing module of :mod:`harness.explore`; a test calls::

    def test_exploration(request, chaos):
        explore_or_replay(request, chaos, MyModel())

The plugin calls it too: for the test item ``--chaos-explore`` collects for a compose file
(with the ``chaos_model`` fixture: the file's workload), and for a functional test marked
``@pytest.mark.chaos_explore`` (:func:`explore_marked`).
"""

from __future__ import annotations

import functools
import inspect
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.checks import Verdict
from harness.errors import ConfigError
from harness.explore.engine import Unjudgeable, check_schedule, replay_runs
from harness.explore.functional import TEST_BUDGET_MS, FunctionalTest, entry_service
from harness.explore.machine import Exploration, explore
from harness.explore.model import SystemModel
from harness.explore.replays import (
    REPLAY_DIR,
    load_replay,
    recorded_run,
    replay_command,
    reproduced_line,
    save_replay,
    schedule_as_code,
)
from harness.progress import write_now
from harness.report import attach_json, attach_text

if TYPE_CHECKING:
    from harness.environment import Environment
    from harness.settings import Settings

__all__ = [
    "explore_marked",
    "explore_or_replay",
    "failure_report",
    "replay_command_for",
    "run_replay",
]

REPLAY_RUNS = 5  # what the printed command asks for


def explore_or_replay(
    request: pytest.FixtureRequest,
    env: Environment,
    model: SystemModel,
    *,
    profile: str | None = None,
) -> None:
    """Replay ``--chaos-replay`` if given, else explore (``profile``, default
    ``--chaos-profile``); fail the test on a finding, saying how to replay it."""
    settings: Settings = request.getfixturevalue("chaos_settings")
    try:
        if settings.replay is not None:
            run_replay(request, env, model, settings.replay)
            return
        chosen = profile or settings.profile
        found = explore(
            env,
            model,
            chosen,
            seed=settings.seed,
            budget_s=settings.explore_budget_s,
            outlast_s=settings.explore_outlast_s,
            shard=settings.shard,
        )
    except ConfigError as exc:
        pytest.fail(f"chaos-harness: {exc}", pytrace=False)
    except Unjudgeable as exc:
        # Not a finding: the system was broken before any fault. Say so, as unknown.
        env.events.verdict(Verdict.unknown("system healthy before any fault", str(exc)))
        pytest.skip(f"chaos-harness could not judge this system: {exc}")
    env.events.explored(found.record(request.node.nodeid, seed=settings.seed, shard=settings.shard))
    covered = found.coverage.lines() if found.coverage is not None else []
    write_now(
        request.config,
        f"\nexploration ({chosen}): {found.examples} examples in {found.seconds:.0f} s, "
        f"{found.per_minute:.1f} per minute" + "".join(f"\n{line}" for line in covered),
    )
    if found.failure is not None:
        pytest.fail(failure_report(request, env, found), pytrace=False)


def failure_report(request: pytest.FixtureRequest, env: Environment, found: Exploration) -> str:
    """Save the shortest failing schedule; the message shows it as code and how to replay."""
    failure = found.failure
    assert failure is not None
    settings: Settings = request.getfixturevalue("chaos_settings")
    root = request.config.rootpath
    bugs = f"{'+'.join(settings.bugs)}-" if settings.bugs else ""
    # Shards side by side on one machine save into one folder: their names must differ.
    shard = (
        f"-shard{settings.shard.index}of{settings.shard.count}" if settings.shard.sharded else ""
    )
    path = save_replay(
        failure.schedule,
        root / REPLAY_DIR,
        label=f"explore-{bugs}seed{settings.seed}{shard}",
        recorded=recorded_run(
            env,
            seed=settings.seed,
            message=failure.message,
            test=request.node.nodeid,
            bugs=list(settings.bugs),
            race=settings.race,
            examples=found.examples,
        ),
    )
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    code = schedule_as_code(failure.schedule)
    attach_text("shortest failing schedule (code)", code)
    attach_json("shortest failing schedule (replay JSON)", failure.schedule.to_json())
    env.events.replay_saved(str(shown))
    return (
        f"exploration broke an invariant after {found.examples} examples, on "
        f"{env.source.describe()}.\n"
        f"{failure.message}\n\n"
        f"shortest failing schedule ({failure.fault_steps} fault steps, "
        f"{len(failure.schedule.steps)} steps):\n{code}\n\n"
        f"saved to {shown}; replay it with:\n  {replay_command_for(request, shown)}"
        + _also_broken(request, env, found, label=f"explore-{bugs}seed{settings.seed}{shard}")
    )


def _also_broken(
    request: pytest.FixtureRequest, env: Environment, found: Exploration, *, label: str
) -> str:
    """The other coverage cases that broke an invariant, each saved for a replay too."""
    if found.coverage is None or len(found.coverage.broken) < 2:
        return ""
    root = request.config.rootpath
    lines = ["", "", "other faults that broke an invariant in the coverage phase (not shrunk):"]
    for case, failure in found.coverage.broken[1:]:
        path = save_replay(failure.schedule, root / REPLAY_DIR, label=f"{label}-{case.label}")
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        env.events.replay_saved(str(shown))
        broke = ", ".join(dict.fromkeys(re.findall(r"\[(.+?): fail\]", failure.message)))
        lines.append(f"- {case.label}: broke {broke or 'an invariant'}; saved to {shown}")
    return "\n".join(lines)


def run_replay(
    request: pytest.FixtureRequest, env: Environment, model: SystemModel, path: Path
) -> None:
    """Run a saved schedule ``--chaos-replay-runs`` times; fail if any run broke."""
    settings: Settings = request.getfixturevalue("chaos_settings")
    try:
        saved = load_replay(path)
        check_schedule(env, model, saved.schedule)
    except ConfigError as exc:
        message = str(exc)
        if not message.startswith("--chaos-replay"):
            message = f"--chaos-replay: {path}: {message}"
        pytest.fail(f"chaos-harness: {message}", pytrace=False)
    runs = settings.replay_runs
    other_sources = saved.source_note(env.source)
    if other_sources is not None:
        env.events.note(f"replay of {path}: {other_sources}")
        write_now(request.config, f"\nreplay of {path}: {other_sources}")
    result = replay_runs(env, model, saved.schedule, runs)
    failed, messages = result.failed, result.broke
    line = reproduced_line(failed, runs)
    where = ""
    if other_sources is not None:
        where = (
            " (on other sources than it was recorded on)"
            if saved.source is not None
            else " (on sources the file does not name)"
        )
    env.events.note(f"replay of {path}: {line}{where}")
    write_now(request.config, f"\nreplay of {path}: {line}{where}")
    if failed and result.kept:
        # Some runs did not reproduce it: what they could not judge says why.
        write_now(request.config, "\n".join(f"  {kept}" for kept in result.kept))
    if failed:
        shown = "\n".join(messages[:3])
        pytest.fail(f"{line}: the schedule still breaks an invariant\n{shown}", pytrace=False)


def explore_marked(item: pytest.Function, request: pytest.FixtureRequest, env: Environment) -> None:
    """Run a test marked ``chaos_explore``: its body once with no fault on (it must pass),
    then explore with the body as the workload (or replay ``--chaos-replay``)."""
    marker = item.get_closest_marker("chaos_explore")
    assert marker is not None
    if inspect.iscoroutinefunction(item.obj):
        pytest.fail(f"chaos-harness: {item.name} is async; chaos_explore runs plain functions")
    parameters = inspect.signature(item.obj).parameters
    body = functools.partial(
        item.obj, **{name: item.funcargs[name] for name in parameters if name in item.funcargs}
    )
    try:
        model = FunctionalTest(item.name, body, **_marker_options(marker.args, marker.kwargs, env))
    except ConfigError as exc:
        pytest.fail(f"chaos-harness: {item.name}: {exc}", pytrace=False)
    try:
        body()
    except Exception as exc:
        exc.add_note(
            f"chaos-harness: {item.name} fails with no fault on, so nothing was explored: its "
            "failures under faults would say nothing about the faults; make it pass first"
        )
        raise
    env.events.progress(f"{item.name} passes with no fault on: exploring with it as the workload")
    explore_or_replay(request, env, model)


def _marker_options(
    args: tuple[Any, ...], kwargs: Mapping[str, Any], env: Environment
) -> dict[str, Any]:
    """``chaos_explore(service=..., budget_ms=...)``, checked; the service defaults to the one
    no link leads into."""
    unknown = sorted(set(kwargs) - {"service", "budget_ms"})
    if args or unknown:
        raise ConfigError(
            "@pytest.mark.chaos_explore takes only service= and budget_ms=, e.g. "
            f'@pytest.mark.chaos_explore(service="front", budget_ms=2000); got '
            f"{', '.join([*map(repr, args), *unknown])}"
        )
    service = kwargs.get("service") or entry_service(env.topology)
    if service not in env.topology.services:
        raise ConfigError(
            f"chaos_explore(service={service!r}): no such service; the services are: "
            f"{', '.join(sorted(env.topology.services))}"
        )
    budget = kwargs.get("budget_ms", TEST_BUDGET_MS)
    if isinstance(budget, bool) or not isinstance(budget, int | float):
        raise ConfigError(f"chaos_explore(budget_ms=...) must be a number, got {budget!r}")
    return {"service": service, "budget_ms": float(budget)}


def replay_command_for(request: pytest.FixtureRequest, replay_file: Path) -> str:
    """The command that replays ``replay_file`` (relative to the rootdir) with this test and
    the build that broke: its compose file if not the ini's, its bugs, race build, seed."""
    config = request.config
    settings: Settings = request.getfixturevalue("chaos_settings")
    root = config.rootpath
    here = Path(config.invocation_params.dir)
    # The item --chaos-explore collects for the compose file: the flag finds it again.
    compose_item = settings.explore and request.node.path == settings.compose
    return replay_command(
        "" if compose_item else request.node.nodeid,
        replay_file,
        runs=REPLAY_RUNS,
        pytest=_pytest_command(here, root),
        compose=_compose_if_not_default(config, settings, root),
        bugs=settings.bugs,
        race=settings.race,
        seed=settings.seed,
        cd=None if here.resolve() == root.resolve() else root,
        explore=compose_item,
    )


def _compose_if_not_default(config: pytest.Config, settings: Settings, root: Path) -> Path | None:
    """The compose file, if the run chose it on the command line and it is not the ini's."""
    if settings.compose is None or config.getoption("chaos_compose") is None:
        return None
    ini = config.getini("chaos_compose")
    if ini:
        base = config.inipath.parent if config.inipath else root
        if (base / str(ini)).resolve() == settings.compose:
            return None
    return _relative(settings.compose, root)


def _pytest_command(here: Path, root: Path) -> tuple[str, ...]:
    """How this run was started, as the user can type it again from ``root``: ``pytest``
    when that is what the PATH finds, else the script's path, else python -m pytest."""
    argv0 = Path(sys.argv[0])
    if argv0.name in ("pytest", "py.test"):
        script = here / argv0  # as typed, if it was typed relative to where the run began
        on_path = shutil.which(argv0.name)
        if on_path is not None and Path(on_path).resolve() == script.resolve():
            return (argv0.name,)
        return (str(_relative(script, root)),)
    return (str(_relative(Path(sys.executable), root)), "-m", "pytest")


def _relative(path: Path, root: Path) -> Path:
    """``path`` relative to ``root`` when it is inside it (keeping symlinks as named)."""
    for candidate in (path, path.resolve()):
        if candidate.is_relative_to(root):
            return candidate.relative_to(root)
    return path
