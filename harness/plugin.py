"""The pytest plugin: options, ini keys, markers, fixtures and hooks. The work lives elsewhere:
run-wide state in :mod:`harness.session`, one test's scope in :mod:`harness.testscope`."""

from __future__ import annotations

import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.environment import Environment
from harness.errors import ChaosError, TopologyWarning
from harness.report import label_shard, recording, title_shard
from harness.selection import split_nightly
from harness.session import ChaosSession
from harness.settings import Settings, add_options, resolve_settings
from harness.testscope import chaos_test
from harness.topology import Topology, load_topology

if TYPE_CHECKING:
    from harness.explore.model import SystemModel

MARKERS = (
    "pitfall(id): the row of the pitfall catalog a test is aimed at (its Allure story)",
    "nightly: a long run (soak, exploration with the nightly profile); select with -m nightly",
    "chaos_explore(service=None, budget_ms=5000): run this functional test once with no "
    "fault, then again and again under faults (every fault kind on every link and service "
    "it touches, then random schedules); its failing assertions are findings",
)
EXPLORE_ITEM = "explore"  # the name of the test item --chaos-explore collects


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    if config.option.help:
        return  # `pytest --help` must work even with bad settings: it is how to find good ones
    settings = resolve_settings(config)
    worker_input: dict[str, Any] | None = getattr(config, "workerinput", None)
    if worker_input and "chaos_seed" in worker_input:
        # Every pytest-xdist worker uses the seed the controller chose and printed.
        settings = replace(settings, seed=int(worker_input["chaos_seed"]))
    session = ChaosSession(config, settings)
    if settings.explore and settings.compose is None:
        raise pytest.UsageError(
            "chaos-harness: --chaos-explore explores the system of a compose file; pass "
            "--chaos-compose=FILE (or set the chaos_compose ini key)"
        )
    if settings.compose is not None:
        # Reads the compose file now: a malformed one is a usage error before anything starts.
        _check_against_topology(config, settings, session)
    config.pluginmanager.register(session, ChaosSession.plugin_name)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # A terminated run cleans up like an interrupted one instead of dying on the spot.
        signal.signal(signal.SIGTERM, _interrupt)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: without xdist, nobody calls it
def pytest_configure_node(node: Any) -> None:
    node.workerinput["chaos_seed"] = ChaosSession.of(node.config).settings.seed


def pytest_report_header(config: pytest.Config) -> list[str]:
    session = ChaosSession.of(config)
    settings = session.settings
    compose = settings.compose or "none (set --chaos-compose or the chaos_compose ini key)"
    bugs = ",".join(settings.bugs) or "none"
    backend = session.backend_name
    why = session.backend_fallback
    shard = f", shard {settings.shard}" if settings.shard.sharded else ""
    return [
        f"chaos-harness: backend {backend}{f' ({why})' if why else ''}, seed {settings.seed}"
        f"{shard}, bugs {bugs}, compose {compose}"
    ]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Under --chaos-shard, every test's Allure result names its shard (a parameter: the
    same test on two shards is two results, each with its own history)."""
    shard = ChaosSession.of(item.config).settings.shard
    if shard.sharded and recording(item.config):
        label_shard(str(shard))


def pytest_runtest_call(item: pytest.Item) -> None:
    """Under --chaos-shard, every test's Allure title names its shard too (allure-pytest
    sets the title when setup ends: this comes after it)."""
    shard = ChaosSession.of(item.config).settings.shard
    if shard.sharded and recording(item.config):
        title_shard(item.name, str(shard))


class ComposeExploration(pytest.File):
    """A compose file under ``--chaos-explore``: one test item that explores its system."""

    def collect(self) -> Iterator[pytest.Item]:
        yield ExplorationItem.from_parent(self, name=EXPLORE_ITEM, callobj=_explore_compose)


class ExplorationItem(pytest.Function):
    """The exploration of a compose file: a test function of the plugin's, reported under
    the file's name."""

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"explore {self.path.name}"


def _explore_compose(
    request: pytest.FixtureRequest, chaos: Environment, chaos_model: SystemModel
) -> None:
    """Explore the system of the compose file with its workload (the ``chaos_model``)."""
    from harness.explore.report import explore_or_replay

    explore_or_replay(request, chaos, chaos_model)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A test marked ``chaos_explore`` runs once fault-free, then explores (see
    :func:`harness.explore.report.explore_marked`)."""
    if pyfuncitem.get_closest_marker("chaos_explore") is None:
        return None
    from harness.explore.report import explore_marked

    request = pyfuncitem.funcargs["_chaos_explore"]
    assert isinstance(request, pytest.FixtureRequest)
    explore_marked(pyfuncitem, request, request.getfixturevalue("chaos"))
    return True


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect: the item is like any other
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    settings = ChaosSession.of(config).settings
    if settings.explore and settings.compose is not None:
        items[:0] = _exploration_items(session, settings.compose)
    nightly = [item.get_closest_marker("nightly") is not None for item in items]
    kept, dropped = split_nightly(items, nightly, str(config.option.markexpr or ""))
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# -- fixtures: each one can be overridden in a conftest.py ---------------------------------


@pytest.fixture(scope="session")
def chaos_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved settings of this run."""
    return ChaosSession.of(pytestconfig).settings


@pytest.fixture(scope="session")
def chaos_topology(pytestconfig: pytest.Config, chaos_settings: Settings) -> Topology:
    """The system under test, read from the compose file."""
    if chaos_settings.compose is None:
        raise pytest.fail.Exception(
            "chaos-harness: no compose file is set; pass --chaos-compose=FILE or set the "
            "chaos_compose ini key",
            pytrace=False,
        )
    # The session's set: what the configuration-time read warned about is not said again.
    return load_topology(chaos_settings.compose, warned=ChaosSession.of(pytestconfig).warned)


@pytest.fixture(scope="session")
def chaos_environment_factory(
    request: pytest.FixtureRequest, chaos_topology: Topology
) -> Iterator[Callable[..., Environment]]:
    """Starts running systems on demand: ``factory(race=True)``, ``factory(bugs=("x",))``.

    Each takes the session's settings with the given fields replaced; all are removed at
    the end of the session (or kept, with --chaos-keep-on-failure, after a failure).
    """
    session = ChaosSession.of(request.config)
    started: list[Environment] = []

    def start(**overrides: Any) -> Environment:
        env = session.start_environment(chaos_topology, **overrides)
        started.append(env)
        return env

    try:
        yield start
    finally:
        keep = session.settings.keep_on_failure and request.session.testsfailed > 0
        for env in reversed(started):
            session.stop_environment(env, keep=keep)


@pytest.fixture(scope="session")
def chaos_environment(chaos_environment_factory: Callable[..., Environment]) -> Environment:
    """The running system, started once per session (per xdist worker)."""
    return chaos_environment_factory()


@pytest.fixture
def chaos(request: pytest.FixtureRequest, chaos_environment: Environment) -> Iterator[Environment]:
    """The running system, healed and healthy at the start of the test, checked at its end."""
    with chaos_test(request, chaos_environment) as env:
        yield env


@pytest.fixture
def chaos_model(chaos_topology: Topology) -> SystemModel:
    """What ``--chaos-explore`` explores with: the compose file's ``x-chaos.workload``.
    Override it in a conftest.py to explore with a model of your own."""
    from harness.errors import ConfigError
    from harness.explore.workload import WorkloadModel

    try:
        return WorkloadModel(chaos_topology)
    except ConfigError as exc:
        raise pytest.fail.Exception(f"chaos-harness: {exc}", pytrace=False) from None


@pytest.fixture(autouse=True)
def _chaos_explore(request: pytest.FixtureRequest) -> pytest.FixtureRequest | None:
    """For a test marked ``chaos_explore``: its request, with the ``chaos`` fixture set up
    (the running system it reaches and the exploration breaks); None for any other test."""
    if request.node.get_closest_marker("chaos_explore") is None:
        return None
    request.getfixturevalue("chaos")
    return request


# -- helpers ---------------------------------------------------------------------------------


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _exploration_items(session: pytest.Session, compose: Path) -> list[pytest.Item]:
    """--chaos-explore: the compose file as a collector of one item, wherever it lives.

    Made here rather than found by walking folders: the file need not be under the folder
    pytest runs in, and collecting it as an argument would import every conftest.py on the
    way down to it from /. A file without `workload:` is a usage error, unless a conftest.py
    gives the exploration a model of its own (a ``chaos_model`` fixture).
    """
    config = session.config
    here = sys.modules[__name__]
    plugins = config.pluginmanager.get_plugins()
    own_model = any(getattr(p, "chaos_model", None) is not None for p in plugins if p is not here)
    topology = load_topology(compose, warned=ChaosSession.of(config).warned)
    if topology.workload is None and not own_model:
        raise pytest.UsageError(
            f"chaos-harness: --chaos-explore: {topology.path} has no `workload:` in its "
            "x-chaos block, so there is nothing to send; add the requests your users send, "
            "e.g.\n  x-chaos:\n    workload:\n"
            '      - {service: front, request: "GET /", rate: 20, budget_ms: 2000}\n'
            "(optional per request: body, headers, statuses, name), or give the "
            "exploration a model of your own with a `chaos_model` fixture in conftest.py"
        )
    root = config.rootpath
    nodeid = str(compose.relative_to(root) if compose.is_relative_to(root) else compose)
    collector = ComposeExploration.from_parent(session, path=compose, nodeid=nodeid)
    items = [item for item in collector.collect() if isinstance(item, pytest.Item)]
    # Told as any collected file is, so that "collected N items" counts it.
    report = pytest.CollectReport(collector.nodeid, "passed", None, list(items))
    collector.ihook.pytest_collectreport(report=report)
    return items


def _check_against_topology(
    config: pytest.Config, settings: Settings, session: ChaosSession
) -> None:
    """Options that cannot apply to this system are usage errors before anything starts;
    what the compose file says that the harness ignores is a warning in pytest's summary."""
    assert settings.compose is not None
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always", TopologyWarning)
            topology = load_topology(settings.compose, warned=session.warned)
    except ChaosError as exc:
        raise pytest.UsageError(f"chaos-harness: {exc}") from None
    for warning in seen:
        if isinstance(warning.message, Warning):
            config.issue_config_time_warning(warning.message, stacklevel=2)
    if settings.bugs and topology.bugs is None:
        raise pytest.UsageError(
            f"chaos-harness: --chaos-bugs names {', '.join(settings.bugs)}, but "
            f"{topology.path} declares no seeded bugs (`x-chaos: bugs: {{env: VAR, names: "
            "[...]}`); drop --chaos-bugs"
        )
    if settings.race and topology.race_build_args is None:
        raise pytest.UsageError(
            f"chaos-harness: --chaos-race, but {topology.path} declares no race-detector "
            "build; add `x-chaos: race: {build_args: {NAME: VALUE}}` or drop --chaos-race"
        )
    if topology.bugs is None:
        return
    known = topology.bugs.names
    unknown = [name for name in settings.bugs if name not in known]
    if unknown:
        raise pytest.UsageError(
            f"chaos-harness: --chaos-bugs names unknown bug(s) {', '.join(unknown)}; "
            f"the {len(known)} known names are: {', '.join(known)}"
        )
