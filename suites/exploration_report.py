"""Running an exploration or a replay from a test, and reporting what it found: the
shortest failing schedule as code, saved as replay JSON (and attached to Allure), and
``reproduced k/N`` for replays."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.environment import Environment
from harness.errors import ConfigError
from harness.explore import (
    REPLAY_DIR,
    load_replay,
    replay_command,
    reproduced_line,
    save_replay,
    schedule_as_code,
)
from harness.progress import write_now
from harness.report import attach_json, attach_text
from harness.settings import Settings
from suites.exploration import Exploration, explore, replay

__all__ = ["explore_or_replay", "failure_report"]


def _say(config: pytest.Config, text: str) -> None:
    write_now(config, text)


def explore_or_replay(
    request: pytest.FixtureRequest, env: Environment, settings: Settings, profile: str
) -> None:
    """Replay ``--chaos-replay`` if given, else explore with ``profile``; fail on a finding."""
    if settings.replay is not None:
        run_replay(request, env, settings, settings.replay)
        return
    found = explore(env, profile, seed=settings.seed, budget_s=settings.explore_budget_s)
    _say(
        request.config,
        f"\nexploration ({profile}): {found.examples} examples in {found.seconds:.0f} s, "
        f"{found.examples * 60 / max(found.seconds, 1e-9):.1f} per minute",
    )
    if found.failure is not None:
        root = request.config.rootpath
        message = failure_report(env, found, settings, root)
        pytest.fail(message, pytrace=False)


def failure_report(env: Environment, found: Exploration, settings: Settings, root: Path) -> str:
    """Save the shortest failing schedule; the message shows it as code and how to replay."""
    failure = found.failure
    assert failure is not None
    label = f"explore-{'+'.join(settings.bugs) or 'correct'}-seed{settings.seed}"
    path = save_replay(failure.schedule, root / REPLAY_DIR, label=label)
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    code = schedule_as_code(failure.schedule)
    attach_text("shortest failing schedule (code)", code)
    attach_json("shortest failing schedule (replay JSON)", failure.schedule.to_json())
    env.events.replay_saved(str(shown))
    return (
        f"exploration broke an invariant after {found.examples} examples.\n"
        f"{failure.message}\n\n"
        f"shortest failing schedule ({failure.fault_steps} fault steps, "
        f"{len(failure.schedule.steps)} steps):\n{code}\n\n"
        f"saved to {shown}; replay it with:\n  {replay_command(shown, settings.bugs)}"
    )


def run_replay(
    request: pytest.FixtureRequest, env: Environment, settings: Settings, path: Path
) -> None:
    try:
        schedule = load_replay(path)
    except ConfigError as exc:
        pytest.fail(f"chaos-harness: {exc}", pytrace=False)
    runs = settings.replay_runs
    failed, messages = replay(env, schedule, runs)
    line = reproduced_line(failed, runs)
    env.events.note(f"replay of {path}: {line}")
    _say(request.config, f"\nreplay of {path}: {line}")
    if failed:
        shown = "\n".join(messages[:3])
        pytest.fail(f"{line}: the schedule still breaks an invariant\n{shown}", pytrace=False)
