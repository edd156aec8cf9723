"""The pytest plugin: options, ini keys, markers, fixtures and hooks. The work lives elsewhere."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from harness import progress, summary
from harness.backends.base import Backend
from harness.environment import Environment
from harness.errors import ChaosError, ConfigError
from harness.labels import new_session_id
from harness.report import (
    FaultSteps,
    note_environment,
    recording,
    write_environment_properties,
)
from harness.selection import split_nightly
from harness.settings import Settings, add_options, resolve_settings
from harness.testscope import chaos_test
from harness.topology import Topology, load_topology

_settings_key = pytest.StashKey[Settings]()
_backend_key = pytest.StashKey[str]()
_fallback_key = pytest.StashKey[str]()
_live: set[Environment] = set()

MARKERS = (
    "pitfall(id): the row of the pitfall catalog a test is aimed at (its Allure story)",
    "nightly: a long run (soak, exploration with the nightly profile); select with -m nightly",
)


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
        settings = _replace_seed(settings, int(worker_input["chaos_seed"]))
    if settings.compose is not None:
        # Reads the compose file now: a malformed one is a usage error before anything starts.
        _check_bug_names(settings)
    config.stash[_settings_key] = settings
    progress.configure(config)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # A terminated run cleans up like an interrupted one instead of dying on the spot.
        signal.signal(signal.SIGTERM, _interrupt)


def pytest_configure_node(node: Any) -> None:  # pytest-xdist hook, only called with xdist
    node.workerinput["chaos_seed"] = node.config.stash[_settings_key].seed


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash[_settings_key]
    compose = settings.compose or "none (set --chaos-compose or the chaos_compose ini key)"
    bugs = ",".join(settings.bugs) or "none (correct build)"
    backend = _backend_name(config)
    why = config.stash.get(_fallback_key, "")
    return [
        f"chaos-harness: backend {backend}{f' ({why})' if why else ''}, seed {settings.seed}, "
        f"bugs {bugs}, compose {compose}"
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    nightly = [item.get_closest_marker("nightly") is not None for item in items]
    kept, dropped = split_nightly(items, nightly, str(config.option.markexpr or ""))
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    settings = config.stash.get(_settings_key, None)
    if settings is None:
        return
    report = str(config.option.allure_report_dir) if recording(config) else None
    summary.write_terminal(terminalreporter, seed=settings.seed, bugs=settings.bugs, report=report)


def pytest_unconfigure(config: pytest.Config) -> None:
    progress.unconfigure()


def pytest_sessionfinish(session: pytest.Session) -> None:
    # Backstop: fixtures normally tear environments down; this catches what they could not.
    settings = session.config.stash.get(_settings_key, None)
    if settings is not None:
        write_environment_properties(session.config, settings)
    if settings is not None and settings.keep_on_failure and session.testsfailed:
        return
    for env in list(_live):
        env.down()
        _live.discard(env)


# -- fixtures: each one can be overridden in a conftest.py ---------------------------------


@pytest.fixture(scope="session")
def chaos_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved settings of this run."""
    return pytestconfig.stash[_settings_key]


@pytest.fixture(scope="session")
def chaos_topology(chaos_settings: Settings) -> Topology:
    """The system under test, read from the compose file."""
    if chaos_settings.compose is None:
        raise pytest.fail.Exception(
            "chaos-harness: no compose file is set; pass --chaos-compose=FILE or set the "
            "chaos_compose ini key",
            pytrace=False,
        )
    return load_topology(chaos_settings.compose)


@pytest.fixture(scope="session")
def chaos_environment_factory(
    request: pytest.FixtureRequest, chaos_settings: Settings, chaos_topology: Topology
) -> Iterator[Callable[..., Environment]]:
    """Starts running systems on demand: ``factory(race=True)``, ``factory(bugs=("x",))``.

    Each takes the session's settings with the given fields replaced; all are removed at
    the end of the session (or kept, with --chaos-keep-on-failure, after a failure).
    """
    started: list[tuple[Environment, FaultSteps]] = []

    def start(**overrides: Any) -> Environment:
        settings = replace(chaos_settings, **overrides)
        env, steps = _start_environment(request.config, settings, chaos_topology)
        started.append((env, steps))
        return env

    try:
        yield start
    finally:
        keep = chaos_settings.keep_on_failure and request.session.testsfailed > 0
        for env, steps in reversed(started):
            steps.close_all()
            if keep:
                _print_kept(request.config, env)
            else:
                env.down()
            _live.discard(env)


@pytest.fixture(scope="session")
def chaos_environment(chaos_environment_factory: Callable[..., Environment]) -> Environment:
    """The running system, started once per session (per xdist worker)."""
    return chaos_environment_factory()


@pytest.fixture
def chaos(request: pytest.FixtureRequest, chaos_environment: Environment) -> Iterator[Environment]:
    """The running system, healed and healthy at the start of the test, checked at its end."""
    with chaos_test(request, chaos_environment) as env:
        yield env


# -- helpers ---------------------------------------------------------------------------------


def _start_environment(
    config: pytest.Config, settings: Settings, topology: Topology
) -> tuple[Environment, FaultSteps]:
    try:
        backend = _make_backend(config, settings)
    except ChaosError as exc:
        raise pytest.fail.Exception(f"chaos-harness: {exc}", pytrace=False) from None
    service_env = {"CHAOS_BUGS": ",".join(settings.bugs)} if settings.bugs else {}
    env = Environment(
        topology,
        backend,
        service_env=service_env,
        startup_timeout_s=settings.startup_timeout_s,
        seed=settings.seed,
    )
    steps = FaultSteps()
    env.fault_listeners += [steps, summary.note_fault, progress.on_fault]
    _live.add(env)
    summary.note_environment()
    progress.say(f"starting {', '.join(topology.services)} ({backend.name})")
    try:
        with _cleanup_on_failure(env):
            env.start()
        progress.say("system ready")
    except ChaosError as exc:
        _live.discard(env)
        # The harness's own message is the whole story; a traceback through it is noise.
        raise pytest.fail.Exception(f"chaos-harness: {exc}", pytrace=False) from None
    note_environment(config, env)
    return env, steps


class _cleanup_on_failure:
    def __init__(self, env: Environment) -> None:
        self.env = env

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is not None:
            self.env.down()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _replace_seed(settings: Settings, seed: int) -> Settings:
    return replace(settings, seed=seed)


def _check_bug_names(settings: Settings) -> None:
    assert settings.compose is not None
    try:
        known = load_topology(settings.compose).known_bugs
    except ChaosError as exc:
        raise pytest.UsageError(f"chaos-harness: {exc}") from None
    if known is None:
        return
    unknown = [name for name in settings.bugs if name not in known]
    if unknown:
        raise pytest.UsageError(
            f"chaos-harness: --chaos-bugs names unknown bug(s) {', '.join(unknown)}; "
            f"the {len(known)} known names are: {', '.join(known)}"
        )


def _backend_name(config: pytest.Config) -> str:
    if _backend_key not in config.stash:
        choice: str = config.stash[_settings_key].backend
        if choice == "auto":
            from harness.backends.docker import docker_client

            try:
                docker_client().close()
                choice = "docker"
            except ChaosError:
                choice = "local"
                config.stash[_fallback_key] = (
                    "no Docker engine answered, so services run as host processes"
                )
        config.stash[_backend_key] = choice
    return config.stash[_backend_key]


def _make_backend(config: pytest.Config, settings: Settings) -> Backend:
    name = _backend_name(config)
    if name == "docker":
        from harness.backends.docker import DockerBackend, docker_client
        from harness.reaper import reap_docker

        client = docker_client()
        reap_docker(client)
        return DockerBackend(new_session_id(), client, race=settings.race)
    from harness.backends.local import LocalBackend, reap_local

    if settings.race:
        raise ConfigError(
            "--chaos-race needs the docker backend (the race builds run in containers); "
            "start a Docker engine or drop --chaos-race"
        )
    reap_local()
    return LocalBackend(new_session_id())


def _print_kept(config: pytest.Config, env: Environment) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"chaos-harness kept session {env.backend.session} running (--chaos-keep-on-failure):"]
    for name in env.topology.services:
        try:
            lines.append(f"  {name}: {env.url(name)}")
        except ChaosError:
            lines.append(f"  {name}: not running")
    label = f"label=chaos-harness.session={env.backend.session}"
    lines.append(
        f"  remove it with: docker ps -aq --filter {label} | xargs -r docker rm -f -v; "
        f"docker network ls -q --filter {label} | xargs -r docker network rm; "
        f"docker volume ls -q --filter {label} | xargs -r docker volume rm"
    )
    lines.append("  (the next chaos-harness run on this machine also removes it)")
    if reporter is not None:
        reporter.write_line("\n".join(lines))
