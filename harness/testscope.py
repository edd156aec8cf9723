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

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from harness.context import using_environment
from harness.environment import Environment
from harness.report import TestArtifacts, label_faults, label_test
from harness.timeline import Timeline

__all__ = ["chaos_test"]


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
    try:
        with using_environment(env):
            yield env
        env.assert_healed()
    finally:
        label_faults(env.faults_applied[first:])
        artifacts.finish()
