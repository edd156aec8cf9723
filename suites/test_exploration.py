"""Exploration: a Hypothesis state machine breaks the reference system in random ways
(faults of every kind on every link and service, load bursts, kills) and checks invariants
after every step: the generic ones of :mod:`harness.explore.engine` and the reference's own
(:mod:`suites.model`).

The profile (``--chaos-profile``: dev, ci, nightly) sets how much it explores. A failure
is shrunk to the shortest schedule, printed as code and saved as replay JSON under
``.chaos/replays/``; ``--chaos-replay=FILE`` runs such a file instead of exploring
(``--chaos-replay-runs=N`` times, printing ``reproduced k/N``).
"""

from __future__ import annotations

import pytest

from harness.environment import Environment
from harness.explore.report import explore_or_replay
from suites.model import ReferenceModel


def test_exploration_keeps_every_invariant(
    request: pytest.FixtureRequest, chaos: Environment
) -> None:
    explore_or_replay(request, chaos, ReferenceModel())
