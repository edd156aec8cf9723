"""One chaos test's scope over a running environment: start healed, end checked.

The plugin's ``chaos`` fixture is this over the session's environment; a suite that needs
another environment (a race-detector build, other seeded bugs) wraps it the same way:

    @pytest.fixture(scope="module")
    def race_env(chaos_environment_factory):
        return chaos_environment_factory(race=True)

    @pytest.fixture
    def chaos_race(request, race_env):
        with chaos_test(request, race_env) as env:
            yield env
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from harness.context import using_environment
from harness.environment import Environment
from harness.report import TestArtifacts, label_faults, label_invariant, label_test
from harness.timeline import Timeline

if TYPE_CHECKING:
    from harness.checks.verdict import Verdict

__all__ = ["chaos_test"]


class _Broken:
    """A listener for one test: the invariants it broke, first first (an exploration's
    finding names its own, most basic cause first, and wins)."""

    def __init__(self) -> None:
        self.checks: list[str] = []
        self.found: list[str] = []

    def on_verdict(self, verdict: Verdict) -> None:
        if verdict.outcome.value == "fail" and verdict.check not in self.checks:
            self.checks.append(verdict.check)

    def on_explored(self, record: Mapping[str, Any]) -> None:
        found = record.get("found")
        if found:
            self.found = list(found.get("checks", []))

    @property
    def first(self) -> str | None:
        named = self.found or self.checks
        return named[0] if named else None


@contextmanager
def chaos_test(request: pytest.FixtureRequest, env: Environment) -> Iterator[Environment]:
    """Reset ``env`` to its healthy baseline, make it the faults' target, and at the end
    fail loudly if a fault outlived the test; Allure labels and artifacts either way."""
    env.reset()
    env.timeline = Timeline()
    label_test(request.node)
    marker = request.node.get_closest_marker("pitfall")
    if marker is not None and marker.args:
        # In the JUnit XML too, so the detection matrix can tell which row a test aims at.
        request.node.user_properties.append(("pitfall", str(marker.args[0])))
    artifacts = TestArtifacts(request.node, env)
    first = len(env.faults_applied)
    broken = _Broken()
    env.events.subscribe(broken)
    try:
        with using_environment(env):
            yield env
        env.assert_healed()
    finally:
        env.events.unsubscribe(broken)
        label_faults(env.faults_applied[first:])
        if broken.first is not None:
            label_invariant(broken.first)
        artifacts.finish()
