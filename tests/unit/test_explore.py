"""Unit tests for exploration's pure parts: profiles, failing schedules, replay files and
the replay command, the model interface, the closing summary, nightly selection, progress
lines and the options."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from faults import (
    At,
    FaultOff,
    FaultOn,
    Kill,
    Latency,
    LinkDown,
    LoadBurst,
    Restart,
    Schedule,
    Terminate,
    Wait,
)
from harness.backends.docker import DockerBackend
from harness.checks import Verdict
from harness.errors import ConfigError, FaultError
from harness.explore import (
    PROFILES,
    Failure,
    FailureLog,
    Operation,
    SystemModel,
    check_schedule,
    fault_steps,
    hypothesis_settings,
    load_replay,
    replay_command,
    reproduced_line,
    save_replay,
    schedule_as_code,
)
from harness.explore.engine import EPSILON_MS, patient_timeout_s
from harness.explore.machine import NEMESIS_ONE_IN, _nemesis
from harness.explore.model import check_model
from harness.explore.profiles import Budget
from harness.explore.shrink import CONFIRM_RUNS, candidates, confirmed
from harness.progress import Progress, enabled, line
from harness.selection import split_nightly, wants_nightly
from harness.settings import _optional_seconds, _profile, _runs, resolve_settings
from harness.source import SourceState
from harness.summary import RunSummary, render_summary
from harness.topology import Topology, load_topology

SLOW = Latency("gateway->inventory", ms=1500)
DOWN = LinkDown("gateway->payment")


def schedule(*faults: object) -> Schedule:
    steps: list[object] = []
    for fault in faults:
        steps += [FaultOn(fault), LoadBurst("gateway", "GET /products/1"), FaultOff(fault)]
    return Schedule(tuple(steps))  # type: ignore[arg-type]


# -- profiles ----------------------------------------------------------------------------------


def test_profiles_grow_from_dev_to_nightly() -> None:
    dev, ci, nightly = PROFILES["dev"], PROFILES["ci"], PROFILES["nightly"]
    assert dev.max_examples <= ci.max_examples < nightly.max_examples
    assert dev.steps <= ci.steps < nightly.steps
    assert ci.budget_s <= 60, "the ci profile must stay cheap"


@pytest.mark.parametrize("name", ["dev", "ci", "nightly"])
def test_profiles_are_registered_with_hypothesis_without_deadline_or_database(name: str) -> None:
    chosen = hypothesis_settings(name)
    assert chosen.max_examples == PROFILES[name].max_examples
    assert chosen.stateful_step_count == PROFILES[name].steps
    assert chosen.deadline is None
    assert chosen.database is None


def test_an_unknown_profile_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="dev, ci, nightly"):
        hypothesis_settings("weekly")


# -- failing schedules -------------------------------------------------------------------------


def test_fault_steps_count_the_faults_turned_on() -> None:
    assert fault_steps(schedule(SLOW, DOWN)) == 2
    assert fault_steps(Schedule((Wait(1),))) == 0


def test_the_shortest_failure_wins_and_among_equals_the_latest() -> None:
    log = FailureLog()
    log.add(Failure(schedule(SLOW, DOWN), "two"))
    log.add(Failure(schedule(DOWN), "one, first"))
    log.add(Failure(schedule(SLOW), "one, latest"))
    log.add(Failure(schedule(SLOW, DOWN, Kill("payment")), "three"))
    shortest = log.shortest()
    assert shortest is not None
    assert (shortest.message, shortest.fault_steps) == ("one, latest", 1)
    assert FailureLog().shortest() is None


def test_a_schedule_as_code_builds_the_same_schedule() -> None:
    original = schedule(SLOW, DOWN)
    code = schedule_as_code(original)
    assert code.startswith("Schedule(\n    steps=(\n        FaultOn(fault=Latency(")
    namespace: dict[str, object] = {}
    exec("from faults import *\nbuilt = " + code, namespace)
    assert namespace["built"] == original


def test_a_schedule_as_code_keeps_faults_during_bursts_and_the_offsets() -> None:
    stop = Terminate("gateway")
    burst = LoadBurst("gateway", "GET /products/1", seconds=0.5, during=(At(0.3, FaultOn(stop)),))
    original = Schedule((FaultOn(SLOW), burst, FaultOff(stop), FaultOff(SLOW)), (0, 0.1, 1.0, 1.2))
    code = schedule_as_code(original)
    assert "during=(At(at_s=0.3, step=FaultOn(fault=Terminate(" in code
    assert code.endswith("    offsets=(0, 0.1, 1.0, 1.2),\n)")
    namespace: dict[str, object] = {}
    exec("from faults import *\nbuilt = " + code, namespace)
    assert namespace["built"] == original
    assert fault_steps(original) == 2


# -- replay files ---------------------------------------------------------------------------


def test_a_saved_replay_loads_back_as_the_same_schedule(tmp_path: Path) -> None:
    original = schedule(SLOW)
    path = save_replay(original, tmp_path / "replays", label="explore-leak/on timeout", now=0)
    assert path.name == "explore-leak-on-timeout-19700101T000000Z.json"
    assert json.loads(path.read_text())["version"] == 2
    assert load_replay(path).schedule == original
    again = save_replay(original, tmp_path / "replays", label="explore-leak/on timeout", now=0)
    assert again != path, "a second save keeps the first"
    assert again.name.endswith("-2.json")


SOURCE = SourceState("a" * 40, False, "1" * 64)


def test_a_replay_file_records_the_run_and_says_when_the_sources_differ(tmp_path: Path) -> None:
    recorded = {"seed": 7, "source": SOURCE.to_json(), "message": "broke"}
    path = save_replay(schedule(SLOW), tmp_path, label="x", recorded=recorded)
    saved = load_replay(path)
    assert saved.recorded["seed"] == 7
    assert saved.source == SOURCE
    assert saved.source_note(SOURCE) is None
    same_build = SourceState("b" * 40, True, "1" * 64)
    assert saved.source_note(same_build) is None, "only the build inputs decide"
    note = saved.source_note(SourceState(None, False, "2" * 64))
    assert note is not None
    assert "recorded on other sources (commit aaaaaaaaaaaa, build inputs 111111111111)" in note
    assert "this run's (not a git checkout, build inputs 222222222222)" in note
    unsaid = save_replay(schedule(SLOW), tmp_path, label="y")
    assert "does not say which sources" in (load_replay(unsaid).source_note(SOURCE) or "")


def test_a_version_1_replay_file_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    data = schedule(SLOW).to_json()
    data["version"] = 1
    path.write_text(json.dumps(data))
    assert load_replay(path).schedule == schedule(SLOW)


def test_a_missing_replay_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match=r"--chaos-replay: cannot read .*nope\.json"):
        load_replay(missing)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "must be a JSON object"),
        ('{"version": 9, "steps": []}', "version 9 is not supported.*newer chaos-harness"),
        ('{"version": 1, "steps": [{"step": "dance"}]}', "step 'dance'"),
    ],
)
def test_a_malformed_replay_file_is_a_config_error_saying_why(
    tmp_path: Path, text: str, why: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"bad\.json is not a saved schedule: .*{why}"):
        load_replay(path)


def test_reproduced_line() -> None:
    assert reproduced_line(3, 5) == "reproduced 3/5"


def test_the_replay_command_names_the_test_and_only_the_options_that_differ() -> None:
    node = "tests/test_shop.py::test_explore"
    plain = replay_command(node, Path(".chaos/replays/x.json"))
    assert plain == (
        "pytest tests/test_shop.py::test_explore --chaos-replay=.chaos/replays/x.json "
        "--chaos-replay-runs=5"
    )
    full = replay_command(
        node,
        ".chaos/replays/x.json",
        runs=2,
        pytest=(".venv/bin/python", "-m", "pytest"),
        compose="deploy/compose.yml",
        bugs=("leak-on-timeout", "no-fallback"),
        race=True,
        seed=42,
    )
    assert full == (
        ".venv/bin/python -m pytest tests/test_shop.py::test_explore "
        "--chaos-replay=.chaos/replays/x.json --chaos-replay-runs=2 "
        "--chaos-compose=deploy/compose.yml --chaos-bugs=leak-on-timeout,no-fallback "
        "--chaos-race --chaos-seed=42"
    )


def test_the_replay_command_quotes_what_a_shell_would_split_and_says_where_to_run() -> None:
    command = replay_command("t.py::test_x[ci profile]", "my replays/x.json", cd="/home/me/my shop")
    assert command == (
        "cd '/home/me/my shop' && pytest 't.py::test_x[ci profile]' "
        "'--chaos-replay=my replays/x.json' --chaos-replay-runs=5"
    )


def test_the_replay_command_of_a_compose_file_exploration_asks_for_it_by_the_flag() -> None:
    command = replay_command(
        "", ".chaos/replays/x.json", compose="/srv/shop/docker-compose.yml", seed=7, explore=True
    )
    assert command == (
        "pytest --chaos-explore --chaos-replay=.chaos/replays/x.json --chaos-replay-runs=5 "
        "--chaos-compose=/srv/shop/docker-compose.yml --chaos-seed=7"
    )


# -- the closing summary ----------------------------------------------------------------------


def test_summary_lists_failing_invariants_first_with_their_first_message() -> None:
    summary = RunSummary()
    summary.verdict("survives", "pass", "ok")
    summary.verdict("no leaked goroutines", "pass", "ok")
    summary.verdict("no leaked goroutines", "fail", "gateway leaked 12 goroutine(s)\nstacks")
    summary.verdict("no leaked goroutines", "fail", "a later one")
    summary.verdict("trace consistency", "unknown", "nothing matched")
    summary.faults.update({"latency": 3, "kill": 1})
    summary.replays.append(".chaos/replays/a.json")
    summary.notes.append("replay of a.json: reproduced 2/5")

    lines = render_summary(
        summary, seed=42, system="seeded bugs on: leak-on-timeout", report="allure-results"
    )

    assert lines[0] == "seed 42; seeded bugs on: leak-on-timeout"
    assert lines[1] == "invariants:"
    assert lines[2].split() == ["no", "leaked", "goroutines", "FAIL", "(1", "pass,", "2", "fail)"]
    assert lines[3].strip() == "first failure: gateway leaked 12 goroutine(s)"
    assert lines[4].split() == ["trace", "consistency", "unknown", "(1", "unknown)"]
    assert lines[5].split() == ["survives", "pass", "(1", "pass)"]
    assert "faults fired: 4 (kill x1, latency x3)" in lines
    assert "replay of a.json: reproduced 2/5" in lines
    assert "failing schedule saved: .chaos/replays/a.json" in lines
    assert lines[-1] == "report: allure-results"


def test_an_empty_summary_says_so() -> None:
    lines = render_summary(RunSummary(), seed=7)
    assert lines == [
        "seed 7",
        "invariants: none checked",
        "faults fired: none",
        "report: none (pass --alluredir=DIR)",
    ]
    assert not RunSummary().active
    assert RunSummary(faults=Counter({"kill": 1})).active


# -- nightly selection and progress ------------------------------------------------------------


def test_nightly_items_are_left_out_unless_the_mark_expression_names_them() -> None:
    items, nightly = ["a", "soak", "b"], [False, True, False]
    assert split_nightly(items, nightly, "") == (["a", "b"], ["soak"])
    assert split_nightly(items, nightly, "pitfall") == (["a", "b"], ["soak"])
    assert split_nightly(items, nightly, "nightly") == (items, [])
    assert split_nightly(items, nightly, "not nightly") == (items, [])  # -m decides itself
    assert wants_nightly("nightly or pitfall")
    assert not wants_nightly("")


def test_progress_is_quiet_unless_verbose_or_nightly() -> None:
    assert not enabled(0, "")
    assert enabled(1, "")
    assert enabled(0, "nightly")
    assert not enabled(0, "not nightly")
    assert line("fault on: x", 12.34) == "[chaos +12.3s] fault on: x"


def test_progress_shows_a_verdicts_first_line_with_its_outcome() -> None:
    shown: list[str] = []
    reporter = SimpleNamespace(write_line=shown.append)
    plugins = {"terminalreporter": reporter, "capturemanager": None}
    config = SimpleNamespace(
        option=SimpleNamespace(verbose=1, markexpr=""),
        pluginmanager=SimpleNamespace(get_plugin=plugins.get),
    )
    progress = Progress(cast(Any, config))
    progress.on_verdict(Verdict.passing("no leaked goroutines", "caddy: 12 → 12\nmore"))
    progress.on_verdict(Verdict.unknown("no leaked goroutines", "no dump"))
    assert [text.split("] ", 1)[1] for text in shown] == [
        "verdict pass: no leaked goroutines: caddy: 12 → 12",
        "verdict unknown: no leaked goroutines: no dump",
    ]


# -- options -------------------------------------------------------------------------------------


def test_profile_runs_and_budget_parsers() -> None:
    assert [_profile(t) for t in ("dev", "ci", "nightly")] == ["dev", "ci", "nightly"]
    with pytest.raises(ValueError, match="is not a profile; use dev, ci, nightly"):
        _profile("weekly")
    assert _runs("5") == 5
    for bad in ("0", "101", "-1", "two", ""):
        with pytest.raises(ValueError, match="is not a number of runs from 1 to 100"):
            _runs(bad)
    assert _optional_seconds("") is None
    assert _optional_seconds("300") == 300.0
    with pytest.raises(ValueError, match="at most 3600"):
        _optional_seconds("7200")


def test_exploration_options_resolve_from_ini_and_command_line(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nchaos_profile = dev\nchaos_replay_runs = 3\n")
    settings = resolve_settings(pytester.parseconfig())
    assert (settings.profile, settings.replay, settings.replay_runs) == ("dev", None, 3)
    assert settings.explore_budget_s is None
    config = pytester.parseconfig(
        "--chaos-profile=nightly", "--chaos-replay=r/a.json", "--chaos-explore-budget=90"
    )
    settings = resolve_settings(config)
    assert settings.profile == "nightly"
    assert settings.replay == (pytester.path / "r" / "a.json").resolve()
    assert settings.explore_budget_s == 90.0


def test_a_bad_profile_is_a_usage_error_naming_where_it_came_from(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nchaos_profile = weekly\n")
    with pytest.raises(pytest.UsageError, match=r"ini key chaos_profile in .*: 'weekly' is not"):
        resolve_settings(pytester.parseconfig())


# -- the model interface ------------------------------------------------------------------------

COMPOSE = """\
services:
  front:
    image: front
  back:
    image: back
x-chaos:
  links: [front->back]
  services:
    front: {port: 8080}
    back: {port: 8080}
  race:
    build_args: {VARIANT: race}
  bugs: {env: BUGS, names: [a, b]}
"""

OWN_PROXY = """\
services:
  front:
    image: front
  toxiproxy:
    image: ghcr.io/shopify/toxiproxy
    ports: ["8474"]
x-chaos:
  toxiproxy: {service: toxiproxy, api_port: 8474}
  services:
    front: {port: 8080}
"""


class Shop(SystemModel):
    def __init__(self, *operations: Operation) -> None:
        self._operations = operations or (Operation("read", "front", ("GET /items/1",), 1000),)

    def operations(self, topology: Topology) -> Sequence[Operation]:
        return self._operations


def topology_of(tmp_path: Path, text: str = COMPOSE) -> Topology:
    path = tmp_path / "compose.yml"
    path.write_text(text)
    return load_topology(path)


def test_an_operation_judges_replies_by_its_statuses_and_its_predicate() -> None:
    plain = Operation("read", "front", ["GET /items/1", "GET /items/2"], budget_ms=500)
    assert plain.requests == ("GET /items/1", "GET /items/2")
    assert plain.is_well_formed({"status": 500, "body": {}}), "by default: any JSON body"
    assert not plain.is_well_formed({"status": 200, "body": None})
    strict = Operation(
        "read",
        "front",
        ("GET /items/1",),
        budget_ms=500,
        statuses=[200, 503],
        well_formed=lambda reply: "id" in (reply.get("body") or {}),
    )
    assert strict.is_well_formed({"status": 200, "body": {"id": 1}})
    assert not strict.is_well_formed({"status": 500, "body": {"id": 1}})
    assert not strict.is_well_formed({"status": 200, "body": {}})


def test_an_operation_sends_its_line_or_what_its_per_burst_factory_makes() -> None:
    plain = Operation("read", "front", ("GET /items/1",), budget_ms=500)
    assert plain.sends("GET /items/1", "k1") == "GET /items/1"
    keyed = Operation(
        "write", "front", ("POST /items",), budget_ms=500, per_burst=lambda line, key: key
    )
    assert keyed.sends("POST /items", "x1b0") == "x1b0"
    assert keyed.matches(LoadBurst("front", "POST /items"))
    assert not keyed.matches(LoadBurst("back", "POST /items"))
    assert not keyed.matches(LoadBurst("front", "GET /items"))


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"requests": ()}, "sends no request"),
        ({"requests": ("items",)}, "'items' is not a request like 'GET /items/1'"),
        ({"budget_ms": 0}, "budget_ms must be more than 0"),
    ],
)
def test_a_bad_operation_is_refused_saying_what_to_fix(fields: dict[str, Any], why: str) -> None:
    values: dict[str, Any] = {"requests": ("GET /",), "budget_ms": 100, **fields}
    with pytest.raises(ConfigError, match=why):
        Operation("read", "front", **values)


def test_a_model_watches_every_service_but_a_toxiproxy_the_file_runs_itself(
    tmp_path: Path,
) -> None:
    assert list(Shop().watched(topology_of(tmp_path))) == ["front", "back"]
    assert list(Shop().watched(topology_of(tmp_path, OWN_PROXY))) == ["front"]


def test_a_model_derives_its_deadline_and_settle_time_from_the_budgets() -> None:
    operations = [
        Operation("read", "front", ("GET /",), budget_ms=1000),
        Operation("write", "front", ("POST /",), budget_ms=2000),
    ]
    assert Shop().deadline_ms(operations) == 1000
    assert Shop().settle_s(operations) == 6.0


def test_a_model_that_does_not_fit_the_topology_is_refused_naming_the_service(
    tmp_path: Path,
) -> None:
    topology = topology_of(tmp_path)
    assert check_model(Shop(), topology)[0].name == "read"
    stray = Shop(Operation("read", "gateway", ("GET /",), budget_ms=100))
    with pytest.raises(ConfigError, match=r"operation 'read' names the service 'gateway'"):
        check_model(stray, topology)
    with pytest.raises(ConfigError, match="nothing to send"):
        check_model(_Empty(), topology)

    class Sampling(Shop):
        sampled = ("db",)

    with pytest.raises(ConfigError, match=r"Sampling.sampled names the service 'db'.*back, front"):
        check_model(Sampling(), topology)


class _Empty(SystemModel):
    def operations(self, topology: Topology) -> Sequence[Operation]:
        return []


def test_a_patient_client_waits_long_enough_for_any_budget_to_be_judged() -> None:
    assert patient_timeout_s(Operation("read", "front", ("GET /",), budget_ms=1000)) == 5.0
    slow = Operation("report", "front", ("GET /report",), budget_ms=30_000)
    assert patient_timeout_s(slow) * 1000 >= slow.budget_ms + EPSILON_MS


REPLAY_COMMAND_TEST = """
from pathlib import Path

from harness.explore.report import replay_command_for


def test_cmd(request):
    print("COMMAND:", replay_command_for(request, Path(".chaos/replays/x.json")))
"""


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], ""),
        (["--chaos-compose=compose.yml"], ""),  # the ini's own: not repeated
        (
            ["--chaos-compose=other.yml", "--chaos-bugs=a,b"],
            " --chaos-compose=other.yml --chaos-bugs=a,b",
        ),
        (["--chaos-race"], " --chaos-race"),
    ],
)
def test_the_printed_replay_command_is_this_test_with_what_this_run_changed(
    pytester: pytest.Pytester, options: list[str], expected: str
) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\nchaos_compose = compose.yml\n")
    for name in ("compose.yml", "other.yml"):
        (pytester.path / name).write_text(COMPOSE)
    pytester.makepyfile(test_cmd=REPLAY_COMMAND_TEST)

    result = pytester.runpytest_subprocess("-s", "--chaos-seed=7", *options)

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"*COMMAND: {Path(sys.executable).parent}/python* -m pytest test_cmd.py::test_cmd "
            f"--chaos-replay=.chaos/replays/x.json --chaos-replay-runs=5{expected} --chaos-seed=7"
        ]
    )


@dataclass
class Offline:
    """A system that is not running: what check_schedule reads of it (its topology)."""

    topology: Topology
    backend: Any = field(default_factory=lambda: object.__new__(DockerBackend))

    def proxy(self, link: str) -> Any:
        raise FaultError(f"link {link!r} has no proxy: the environment is not running")


def test_a_replay_that_does_not_fit_the_system_or_the_model_is_refused_before_it_runs(
    tmp_path: Path,
) -> None:
    system: Any = Offline(topology_of(tmp_path))
    fits = Schedule((LoadBurst("front", "GET /items/1"), Wait(0.1)))
    check_schedule(system, Shop(), fits)
    unknown_link = Schedule(
        (FaultOn(Latency("front->db", ms=5)), FaultOff(Latency("front->db", ms=5)))
    )
    with pytest.raises(
        ConfigError, match=r"does not fit this system: Latency: no link named 'front->db'"
    ):
        check_schedule(system, Shop(), unknown_link)
    unknown_request = Schedule((LoadBurst("front", "GET /products/1"),))
    with pytest.raises(
        ConfigError,
        match=r"no operation of the model sends GET /products/1 to front; "
        r"its operations send: GET /items/1 to front",
    ):
        check_schedule(system, Shop(), unknown_request)


# -- the hard budget, the engine's shrinking pass -------------------------------------------


def test_the_budget_is_hard_and_after_a_failure_only_its_finder_goes_on() -> None:
    budget = Budget(100.0, shrink_s=20.0, started=time.monotonic())
    assert budget.fits()
    budget.took(100.5)
    assert not budget.fits(), "no example starts unless the longest so far would still end"
    budget = Budget(100.0, shrink_s=20.0, started=time.monotonic() - 10)
    budget.failure_found(worker=1)
    assert budget.end == pytest.approx(budget.found + 20.0)  # type: ignore[operator]
    assert budget.examples_end < budget.end, "Hypothesis shrinks first, then the engine's pass"
    assert budget.fits(worker=1)
    assert not budget.fits(worker=0), "another topology stops once one found a failure"
    budget.failure_found(worker=0)
    assert budget.owner == 1, "the first finder keeps it"
    budget.stop()
    assert not budget.fits(worker=1)
    late = Budget(100.0, shrink_s=60.0, started=time.monotonic() - 90)
    late.failure_found()
    assert late.end == pytest.approx(late.started + 100.0), "shrinking never outlasts the budget"


def test_the_shrinking_pass_drops_whole_episodes_first_then_single_steps() -> None:
    stop = Terminate("gateway")
    burst = LoadBurst("gateway", "GET /products/1", seconds=0.5, during=(At(0.3, FaultOn(stop)),))
    failing = Schedule(
        (FaultOn(SLOW), Wait(0.2), burst, FaultOff(stop), FaultOff(SLOW)),
        (0.0, 0.1, 0.3, 1.5, 1.6),
    )
    cuts = list(candidates(failing))
    whats = [what for what, _ in cuts]
    assert whats[0].startswith("without latency 1500 ms")
    assert cuts[0][1].steps == (Wait(0.2), burst, FaultOff(stop))
    assert cuts[0][1].offsets == (0.0, 0.2, 1.4), "the gaps between what is left stay"
    assert cuts[1][1].steps == (FaultOn(SLOW), Wait(0.2), FaultOff(SLOW))
    calm = dict(cuts)["without the faults during step 2"]
    assert calm.steps == (FaultOn(SLOW), Wait(0.2), replace(burst, during=()), FaultOff(SLOW))
    assert "without wait 0.2 s" in whats
    assert all(len(c.steps) < len(failing.steps) for _, c in cuts)


class _Runs:
    """What each schedule's runs give, one after another (True: it broke the invariant)."""

    def __init__(self, outcomes: dict[Schedule, list[bool]]) -> None:
        self.outcomes = outcomes
        self.ran: list[Schedule] = []
        self.events = self  # the environment's events: its progress lines go nowhere

    def progress(self, text: str) -> None:
        pass

    def attempt(self, schedule: Schedule) -> Failure | None:
        self.ran.append(schedule)
        return Failure(schedule, "m") if self.outcomes[schedule].pop(0) else None


@pytest.mark.parametrize(
    ("outcomes", "kept"),
    [
        ([[], [], [True] * CONFIRM_RUNS], 2),  # the shortest confirms
        ([[], [True] * CONFIRM_RUNS, [True, False]], 1),  # it does not: the one it came from
        ([[True, False], [False], [False]], 0),  # none does: the longest run of breaks
        ([[True, False], [True, False], [False]], 1),  # ... the shortest among equals
    ],
)
def test_a_shrunk_schedule_is_kept_only_if_it_breaks_it_again_run_after_run(
    outcomes: list[list[bool]], kept: int
) -> None:
    chain = [Failure(schedule(*[SLOW, DOWN][:n]), "m") for n in (2, 1, 0)]
    runs = _Runs({f.schedule: list(o) for f, o in zip(chain, outcomes, strict=True)})
    assert confirmed(runs, chain, runs.attempt, lambda: True) is chain[kept]  # type: ignore[arg-type]


def test_a_schedule_the_budget_has_no_room_to_confirm_is_kept_as_it_is() -> None:
    chain = [Failure(schedule(SLOW), "m"), Failure(schedule(), "m")]
    runs = _Runs({})
    assert confirmed(runs, chain, runs.attempt, lambda: False) is chain[-1]  # type: ignore[arg-type]
    assert runs.ran == []


def test_a_failure_keeps_to_its_first_broken_invariant_when_shrunk() -> None:
    first = Failure(schedule(SLOW), "m", ("survives", "answers within budget"))
    assert first.same_cause(Failure(schedule(SLOW), "m", ("x", "survives")))
    assert not first.same_cause(Failure(schedule(SLOW), "m", ("answers within budget",)))
    assert Failure(schedule(SLOW), "m").same_cause(first), "a failure that says nothing: any"


def test_a_burst_sometimes_has_a_fault_land_in_it_and_mostly_not(tmp_path: Path) -> None:
    topology = topology_of(tmp_path)
    landed = [_nemesis(draw, SLOW, "front", topology) for draw in range(NEMESIS_ONE_IN)]
    assert landed[0] is None, "shrinking goes toward no fault at all"
    assert landed[-3:] == [Kill("front"), Terminate("front"), Restart("front")]
    assert landed.count(SLOW) == 3
    assert landed.count(None) == NEMESIS_ONE_IN - 6
