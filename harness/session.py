"""The run-wide state of one pytest process: settings, running systems, summary, progress.

One :class:`ChaosSession` is made in ``pytest_configure`` and registered with pytest as the
plugin ``chaos-session`` (the way pytest-xdist registers its ``dsession``), so it is found
with :meth:`ChaosSession.of` and its hook methods (the closing summary, the clean-up
backstop) run like any plugin's. Every environment it starts has the session's summary,
progress lines and the Allure reporter among its listeners (:mod:`harness.events`).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pytest

from harness.backends.base import Backend
from harness.compose import Warned
from harness.environment import Environment
from harness.errors import ChaosError, ConfigError, EngineUnavailableError
from harness.labels import new_session_id
from harness.progress import Progress
from harness.report import (
    AllureListener,
    note_environment,
    recording,
    write_environment_properties,
    write_run_globals,
)
from harness.settings import Settings
from harness.summary import RunSummary, render_summary, write_terminal
from harness.topology import Topology

__all__ = ["ChaosSession"]


class ChaosSession:
    """Settings, the environments started, and the listeners that outlive one test."""

    plugin_name = "chaos-session"

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.summary = RunSummary()
        self.progress = Progress(config)
        self.environments: list[Environment] = []  # running now, latest last
        self._backend: str | None = None
        self.backend_fallback = ""  # why "auto" chose the local backend, if it did
        self.system = ""  # what ran, for the summary: which seeded bugs, if it has any
        self.warned: Warned = set()  # warnings about the compose file already given
        self.errors: list[str] = []  # what ended the run early (an engine that is gone)
        worker: dict[str, Any] | None = getattr(config, "workerinput", None)
        self.worker = str(worker["workerid"]) if worker else None  # an xdist worker's ID

    @classmethod
    def of(cls, config: pytest.Config) -> ChaosSession:
        session = config.pluginmanager.get_plugin(cls.plugin_name)
        if not isinstance(session, ChaosSession):
            raise pytest.UsageError(
                "chaos-harness: its session is not registered; is the plugin disabled "
                "(-p no:chaos)?"
            )
        return session

    # -- environments ------------------------------------------------------------------

    def start_environment(self, topology: Topology, **overrides: Any) -> Environment:
        """Start the system with the session's settings, ``overrides`` replacing fields."""
        settings = replace(self.settings, **overrides)
        try:
            backend = self._make_backend(settings, topology)
        except EngineUnavailableError as exc:
            # No test of this run can start a system: end it here, once, saying why (the
            # report's Global errors and a merge over shards show it too). An xdist worker
            # that exits looks like a crash to its controller: there each test fails with it.
            shard = f"shard {self._shard}" if self._shard else ""
            where = ", ".join(w for w in (shard, self.worker) if w)
            paragraph = f"chaos-harness{f' ({where})' if where else ''}: {exc}"
            if paragraph not in self.errors:
                self.errors.append(paragraph)
            if self.worker is None:
                pytest.exit(paragraph, returncode=pytest.ExitCode.TESTS_FAILED)
            raise pytest.fail.Exception(paragraph, pytrace=False) from None
        except ChaosError as exc:
            raise pytest.fail.Exception(f"chaos-harness: {exc}", pytrace=False) from None
        service_env = {}
        if settings.bugs and topology.bugs is not None:
            service_env[topology.bugs.env] = ",".join(settings.bugs)
        env = Environment(
            topology,
            backend,
            service_env=service_env,
            startup_timeout_s=settings.startup_timeout_s,
            seed=settings.seed,
        )
        for listener in (AllureListener(), self.summary, self.progress):
            env.events.subscribe(listener)
        self.environments.append(env)
        self.summary.environments += 1
        self.system = describe_system(topology, settings.bugs)
        env.events.progress(f"starting {', '.join(topology.services)} ({backend.name})")
        try:
            try:
                env.start()
            except BaseException:
                env.down()
                raise
            env.events.progress("system ready")
            self.system = describe_system(topology, settings.bugs, env.source.describe())
        except ChaosError as exc:
            self.environments.remove(env)
            # The harness's own message is the whole story; a traceback through it is noise.
            raise pytest.fail.Exception(f"chaos-harness: {exc}", pytrace=False) from None
        note_environment(self.config, env)
        return env

    def stop_environment(self, env: Environment, *, keep: bool = False) -> None:
        """Remove a system (or, with ``keep``, leave it running and say how to reach it)."""
        for listener in env.events.listeners:
            if isinstance(listener, AllureListener):
                listener.close_all()
        if keep:
            self._print_kept(env)
        else:
            env.down()
        if env in self.environments:
            self.environments.remove(env)

    # -- pytest hooks (this object is a registered plugin) -----------------------------

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        report = str(self.config.option.allure_report_dir) if recording(self.config) else None
        write_terminal(
            terminalreporter,
            self.summary,
            seed=self.settings.seed,
            system=self.system,
            report=report,
            shard=self._shard,
        )

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Backstop: fixtures normally tear environments down; this catches what they could not.
        write_environment_properties(self.config, self.settings)
        report = str(self.config.option.allure_report_dir) if recording(self.config) else None
        lines = render_summary(
            self.summary,
            seed=self.settings.seed,
            system=self.system,
            report=report,
            shard=self._shard,
        )
        write_run_globals(self.config, self.record(), self.summary, lines, self.errors)
        if self.settings.keep_on_failure and session.testsfailed:
            return
        for env in reversed(list(self.environments)):
            self.stop_environment(env)

    @property
    def engine(self) -> str | None:
        """The DOCKER_HOST address --chaos-engines gives this xdist worker, if any."""
        return dict(self.settings.engines).get(self.worker) if self.worker else None

    @property
    def _shard(self) -> str:
        return str(self.settings.shard) if self.settings.shard.sharded else ""

    def record(self) -> dict[str, Any]:
        """What this run did, as plain JSON: what :mod:`harness.merge` adds up over shards."""
        return {
            "shard": str(self.settings.shard),
            "seed": self.settings.seed,
            "system": self.system,
            "bugs": list(self.settings.bugs),
            "docker_host": self.engine or os.environ.get("DOCKER_HOST", ""),
            "summary": self.summary.to_json(),
            "errors": list(self.errors),
        }

    # -- backends ------------------------------------------------------------------------

    @property
    def backend_name(self) -> str:
        """docker or local; ``auto`` is decided once, by whether an engine answers."""
        if self._backend is None:
            choice: str = self.settings.backend
            if choice == "auto" and (self.engine or os.environ.get("DOCKER_HOST")):
                # An engine named on purpose is the one to use: if it does not answer, the
                # run says so rather than quietly running host processes instead.
                choice = "docker"
            elif choice == "auto":
                from harness.backends.engine import connect_engine

                try:
                    connect_engine(self.engine).close()
                    choice = "docker"
                except ChaosError:
                    choice = "local"
                    self.backend_fallback = (
                        "no Docker engine answered, so services run as host processes"
                    )
            self._backend = choice
        return self._backend

    def _make_backend(self, settings: Settings, topology: Topology) -> Backend:
        if settings.race and topology.race_build_args is None:
            raise ConfigError(
                f"--chaos-race: {topology.path} declares no race-detector build; add "
                "`x-chaos: race: {build_args: {NAME: VALUE}}` with the build args that "
                "select it, or drop --chaos-race"
            )
        if self.backend_name == "docker":
            from harness.backends.docker import DockerBackend
            from harness.backends.engine import connect_engine
            from harness.reaper import reap_docker

            engine = connect_engine(self.engine)
            reap_docker(engine.client)
            build_args = dict(topology.race_build_args or {}) if settings.race else {}
            return DockerBackend(new_session_id(), engine, build_args=build_args)
        from harness.backends.local import LocalBackend, reap_local

        if settings.race:
            raise ConfigError(
                "--chaos-race needs the docker backend (the race builds run in containers); "
                "start a Docker engine or drop --chaos-race"
            )
        reap_local()
        return LocalBackend(new_session_id(), warned=self.warned)

    def _print_kept(self, env: Environment) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        session = env.backend.session
        lines = [f"chaos-harness kept session {session} running (--chaos-keep-on-failure):"]
        for name in env.topology.services:
            try:
                lines.append(f"  {name}: {env.url(name)}")
            except ChaosError:
                lines.append(f"  {name}: not running")
        label = f"label=chaos-harness.session={session}"
        lines.append(
            f"  remove it with: docker ps -aq --filter {label} | xargs -r docker rm -f -v; "
            f"docker network ls -q --filter {label} | xargs -r docker network rm; "
            f"docker volume ls -q --filter {label} | xargs -r docker volume rm"
        )
        lines.append("  (the next chaos-harness run on this machine also removes it)")
        if reporter is not None:
            reporter.write_line("\n".join(lines))


def describe_system(topology: Topology, bugs: tuple[str, ...], source: str = "") -> str:
    """What ran, in the summary's words: never "correct" for a system that has no seeded
    bugs; with ``source``, the sources it was built from (commit, build inputs)."""
    if topology.bugs is None:
        text = f"system: {topology.path.name}, as its compose file builds it"
    elif bugs:
        text = f"seeded bugs on: {', '.join(bugs)}"
    else:
        text = "seeded bugs on: none"
    return f"{text}; source: {source}" if source else text
