"""Property-based exploration: break a running system in random ways, check invariants after
every step, shrink a failure to its shortest fault schedule, save it, replay it.

Generic: what varies per system comes from a :class:`SystemModel` the caller passes (its
workload's operations and its own invariants). One module per concern:

- :mod:`~harness.explore.model`: :class:`SystemModel` and :class:`Operation`;
- :mod:`~harness.explore.engine`: one example (:class:`ExampleRun`, a step executor with the
  generic checks) and :func:`replay` through :func:`faults.schedule.run_schedule`;
- :mod:`~harness.explore.machine`: the Hypothesis state machine and :func:`explore`;
- :mod:`~harness.explore.profiles`: profiles (dev, ci, nightly) and the hard time budget;
- :mod:`~harness.explore.sharding`: what shard K/N runs (:func:`plan_shard`): every Nth
  coverage case and round of an N-machine plan, with the plan's seeds;
- :mod:`~harness.explore.shrink`: the engine's pass that drops steps that do not matter;
- :mod:`~harness.explore.replays`: failing schedules, replay files, the replay command;
- :mod:`~harness.explore.report`: the pytest-facing side, :func:`explore_or_replay`
  (imported from there: the rest runs without pytest, from a bench or a script).
"""

from __future__ import annotations

from harness.explore.engine import (
    Burst,
    ExampleRun,
    InvariantBroken,
    Landed,
    ReplayResult,
    Unjudgeable,
    check_schedule,
    replay,
    replay_runs,
    run_example,
)
from harness.explore.invariants.state import StateCheck, read_json
from harness.explore.machine import Exploration, explore
from harness.explore.model import Operation, SystemModel
from harness.explore.profiles import PROFILES, Budget, Profile, hypothesis_settings
from harness.explore.replays import (
    REPLAY_DIR,
    Failure,
    FailureLog,
    SavedReplay,
    fault_steps,
    load_replay,
    recorded_run,
    replay_command,
    reproduced_line,
    save_replay,
    schedule_as_code,
)
from harness.explore.sharding import Round, ShardPlan, plan_rounds, plan_shard

__all__ = [
    "PROFILES",
    "REPLAY_DIR",
    "Budget",
    "Burst",
    "ExampleRun",
    "Exploration",
    "Failure",
    "FailureLog",
    "InvariantBroken",
    "Landed",
    "Operation",
    "Profile",
    "ReplayResult",
    "Round",
    "SavedReplay",
    "ShardPlan",
    "StateCheck",
    "SystemModel",
    "Unjudgeable",
    "check_schedule",
    "explore",
    "fault_steps",
    "hypothesis_settings",
    "load_replay",
    "plan_rounds",
    "plan_shard",
    "read_json",
    "recorded_run",
    "replay",
    "replay_command",
    "replay_runs",
    "reproduced_line",
    "run_example",
    "save_replay",
    "schedule_as_code",
]
