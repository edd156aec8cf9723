"""Allure output: a step for each fault window, attachments, labels, environment.properties.

Labels and fault steps go through ``allure_commons``' hooks, which do nothing unless
allure-pytest is recording (``--alluredir``). What costs real work (a history serialised to
JSONL, a latency plot, service logs read back, versions asked of Docker and Toxiproxy) is
done only when :func:`recording` says a results directory was given, so a run without
Allure pays nothing for it.

Per chaos test (:class:`TestArtifacts`, driven by the ``chaos`` fixture): each history of
``chaos.load(...)`` as JSONL, one latency-over-time PNG with the fault windows shaded, and
what each service logged during the test. Per session: ``environment.properties`` in the
results directory (:func:`write_environment_properties`), and the run's own report-level
attachments (:func:`write_run_globals`): the invariant summary, the exploration's coverage
and the run record (JSON) that :mod:`harness.merge` adds up over shards. Allure 3 reads
them from a ``*-globals.json`` file and shows them on the report's front page (Global
attachments; a shard's engine error under Global errors).

Under ``--chaos-shard`` each test gets the shard as a parameter, so that the same test run
by two shards is two results (not a retry of one another) with a history each, and every
test that broke an invariant gets the label ``invariant`` (the first it broke), which the
merged report's categories group failures by.
"""

from __future__ import annotations

import json
import logging
import platform
import uuid
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import allure
import pytest
from allure_commons import plugin_manager
from allure_commons.types import AttachmentType, Severity

from harness.allure_files import (
    COVERAGE_NAME,
    INVARIANT_LABEL,
    RECORD_NAME,
    SUMMARY_NAME,
    format_properties,
    write_globals,
)
from harness.history import History

if TYPE_CHECKING:
    from faults.base import Fault
    from harness.checks.verdict import Verdict
    from harness.environment import Environment
    from harness.settings import Settings
    from harness.summary import RunSummary

__all__ = [
    "AllureListener",
    "TestArtifacts",
    "attach_json",
    "attach_text",
    "describe_environment",
    "environment_properties",
    "format_properties",
    "label_faults",
    "label_invariant",
    "label_shard",
    "label_test",
    "note_environment",
    "recording",
    "title_shard",
    "write_environment_properties",
    "write_run_globals",
]


log = logging.getLogger("chaos-harness")

# A service's log excerpt keeps at most this many of its last lines.
MAX_LOG_LINES = 2000
# JSONL goes out as text/plain with a .jsonl name: Allure (2 and 3) previews text/plain
# inline, while application/x-ndjson would only be offered as a download.
JSONL_MIME = "text/plain"
PNG_MIME = "image/png"
TEXT_MIME = "text/plain"


class AllureListener:
    """A listener (see :mod:`harness.events`) that writes what a running system tells it
    into the current Allure result: an Allure step per fault window (opened when the fault
    goes on, closed when it is healed) and the evidence of every verdict that did not pass.
    """

    def __init__(self) -> None:
        self._open: dict[int, str] = {}

    def on_verdict(self, verdict: Verdict) -> None:
        if verdict.passed:
            return
        for name, text in verdict.evidence.items():
            attach_text(f"{verdict.check}: {name}", text)

    def on_fault(self, fault: Fault, active: bool) -> None:
        key = id(fault)
        if active and key not in self._open:
            step = uuid.uuid4().hex
            self._open[key] = step
            # Allure parameters are strings; a 0 or a None would otherwise be dropped.
            params = {k: _param(v) for k, v in fault.to_json().items() if k != "kind"}
            plugin_manager.hook.start_step(
                uuid=step, title=f"fault: {fault.describe()}", params=params
            )
            attach_json(f"fault {fault.kind}", fault.to_json())
        elif not active and key in self._open:
            plugin_manager.hook.stop_step(
                uuid=self._open.pop(key), exc_type=None, exc_val=None, exc_tb=None
            )

    def close_all(self) -> None:
        for step in reversed(list(self._open.values())):
            plugin_manager.hook.stop_step(uuid=step, exc_type=None, exc_val=None, exc_tb=None)
        self._open.clear()


def _param(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def label_test(item: pytest.Item) -> None:
    """Epic: the suite module (one per invariant family); story: the pitfall it aims at.

    Severity: critical for a test aimed at a pitfall, normal otherwise, unless the test
    states its own with ``@allure.severity``.
    """
    module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""  # type: ignore[attr-defined]
    if module.startswith("test_"):
        allure.dynamic.epic(module.removeprefix("test_").replace("_", " "))
    marker = item.get_closest_marker("pitfall")
    if marker is not None and marker.args:
        allure.dynamic.story(str(marker.args[0]))
        allure.dynamic.tag(str(marker.args[0]))
    if not _has_own_severity(item):
        pitfall = marker is not None and bool(marker.args)
        allure.dynamic.severity(Severity.CRITICAL if pitfall else Severity.NORMAL)


def _has_own_severity(item: pytest.Item) -> bool:
    return any(
        mark.kwargs.get("label_type") == "severity" for mark in item.iter_markers("allure_label")
    )


def label_faults(faults: Iterable[Fault]) -> None:
    """Feature: every kind of fault the test applied."""
    for kind in sorted({fault.kind for fault in faults}):
        allure.dynamic.feature(kind)


class _Shown:
    """A parameter value shown as it is: allure-pytest puts quotes around a string's."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def label_shard(shard: str) -> None:
    """The shard as a parameter (its own history) and a label (to filter by)."""
    allure.dynamic.parameter("shard", _Shown(shard))
    allure.dynamic.label("shard", shard)


def title_shard(name: str, shard: str) -> None:
    """The test's title with its shard: a merged report lists each test once per shard."""
    allure.dynamic.title(f"{name} [shard {shard}]")


def label_invariant(check: str) -> None:
    """The invariant a failing test broke first: what the report's categories group by."""
    allure.dynamic.label(INVARIANT_LABEL, check)


def attach_text(name: str, text: str) -> None:
    allure.attach(text, name=name, attachment_type=AttachmentType.TEXT)


def attach_json(name: str, value: Any) -> None:
    allure.attach(
        json.dumps(value, indent=2, sort_keys=True, default=str),
        name=name,
        attachment_type=AttachmentType.JSON,
    )


# -- is anything recording? --------------------------------------------------------------


def recording(config: pytest.Config) -> bool:
    """True when allure-pytest writes results (``--alluredir``) in this process."""
    return bool(getattr(config.option, "allure_report_dir", None))


def _attach(config: pytest.Config, body: str | bytes, name: str, mime: str, extension: str) -> None:
    """Attach to the current test's result itself, not to the fixture step running now.

    Called from a fixture's teardown, ``allure.attach`` would file the attachment under
    that teardown; the test's own result is where a reader looks for the plot.
    """
    listener = config.pluginmanager.get_plugin("allure_listener")
    reporter = getattr(listener, "allure_logger", None)
    test = reporter.get_test(None) if reporter is not None else None
    if reporter is None or test is None:
        allure.attach(body, name=name, attachment_type=mime, extension=extension)
        return
    reporter.attach_data(
        uuid.uuid4(),
        body,
        name=name,
        attachment_type=mime,
        extension=extension,
        parent_uuid=test.uuid,
    )


def history_jsonl(history: History) -> str:
    """The history as :meth:`History.to_jsonl` writes it, as a string."""
    return "".join(json.dumps(op.to_dict(), separators=(",", ":")) + "\n" for op in history)


# -- per test ----------------------------------------------------------------------------


class TestArtifacts:
    """What a chaos test's Allure result gets: histories, a latency plot, log excerpts.

    Made at the start of the test (it bookmarks each service's log), finished at its end;
    both do nothing at all unless Allure is recording.
    """

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self, item: pytest.Item, env: Environment) -> None:
        self.config = item.config
        self.title = item.nodeid
        self.env = env
        self.enabled = recording(item.config)
        self.log_marks: dict[str, int | None] = {}
        if self.enabled:
            for name in env.topology.services:
                self.log_marks[name] = _guarded(f"log mark of {name}", env.log_mark, name)

    def finish(self) -> None:
        """Attach everything; a part that cannot be made is skipped with a warning."""
        if not self.enabled:
            return
        _guarded("latency plot", self.attach_plot)  # first: what a reader looks at first
        _guarded("history attachments", self.attach_histories)
        _guarded("log excerpts", self.attach_logs)

    def attach_histories(self) -> None:
        for number, recorded in enumerate(self.env.timeline.histories, start=1):
            _attach(
                self.config,
                history_jsonl(recorded.history),
                f"history {number}: {recorded.label}",
                JSONL_MIME,
                "jsonl",
            )

    def attach_plot(self) -> None:
        if not self.env.timeline.histories:
            return  # nothing to draw, and nothing rendered
        from harness.plot import render_latency_plot

        png = render_latency_plot(self.env.timeline, title=self.title)
        if png is not None:
            _attach(self.config, png, "latency over time", PNG_MIME, "png")

    def attach_logs(self) -> None:
        for name, mark in self.log_marks.items():
            if mark is None:
                text = self.env.logs(name, tail=200)
                title = f"log {name} (last 200 lines)"
            else:
                text = self.env.logs_since(name, mark)
                title = f"log {name} (during the test)"
            lines = text.splitlines()
            if len(lines) > MAX_LOG_LINES:
                cut = len(lines) - MAX_LOG_LINES
                text = f"[{cut} earlier lines cut]\n" + "\n".join(lines[cut:]) + "\n"
            if text.strip():
                _attach(self.config, text, title, TEXT_MIME, "txt")


def _guarded(what: str, call: Any, *args: Any) -> Any:
    """Run one report part; a report must never turn a test's outcome into an error."""
    try:
        return call(*args)
    except Exception as exc:
        log.warning("chaos-harness: Allure %s skipped: %s: %s", what, type(exc).__name__, exc)
        return None


# -- per session: environment.properties ---------------------------------------------------

_environment_key = pytest.StashKey[dict[str, str]]()


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_properties(
    settings: Settings, described: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The report's environment: versions, settings and, once a system ran, what it ran."""
    properties = {
        "chaos-harness": _version("chaos-harness"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "pytest": pytest.__version__,
        "allure-pytest": _version("allure-pytest"),
        "backend": settings.backend,
        "seed": str(settings.seed),
        "bugs": ",".join(settings.bugs) or "none",
        "compose": str(settings.compose) if settings.compose else "none",
        "race": "yes" if settings.race else "no",
        "shard": str(settings.shard) if settings.shard.sharded else "none (the whole run)",
    }
    properties.update(described or {})
    return properties


def describe_environment(env: Environment) -> dict[str, str]:
    """What only a running system can tell: its backend, engine, Toxiproxy and images."""
    described = {"backend": env.backend.name}
    client = getattr(env.backend, "client", None)
    if client is not None:  # the docker backend
        engine = _guarded("Docker engine version", client.version) or {}
        described["docker-engine"] = str(engine.get("Version", "unknown"))
        described.update(_guarded("image IDs", _images, client, env.backend.session) or {})
    versions = _guarded("Toxiproxy version", env.toxiproxy_versions)
    if versions:
        described["toxiproxy"] = ", ".join(sorted(set(versions)))
    source = _guarded("source state", lambda: env.source)
    if source is not None:
        described["source.commit"] = source.revision
        described["source.build-inputs"] = source.inputs
    return described


def _images(client: Any, session: str) -> dict[str, str]:
    from harness.labels import SESSION_LABEL

    found: dict[str, str] = {}
    for container in client.containers.list(
        all=True, filters={"label": f"{SESSION_LABEL}={session}"}
    ):
        link = container.labels.get("chaos-harness.link")
        service = container.labels.get("chaos-harness.service") or (
            f"link.{link}" if link else container.name
        )
        tag = container.attrs.get("Config", {}).get("Image", "?")
        image = container.attrs.get("Image", "?")
        found[f"image.{service}"] = f"{tag} {image}"
    return dict(sorted(found.items()))


def note_environment(config: pytest.Config, env: Environment) -> None:
    """Remember what the running system is, for environment.properties at session end."""
    if recording(config):
        config.stash[_environment_key] = _guarded("environment", describe_environment, env) or {}


def write_environment_properties(config: pytest.Config, settings: Settings) -> Path | None:
    """Write ``environment.properties`` into the results directory, if there is one.

    A pytest-xdist controller writes nothing: its workers, which ran the system, do.
    """
    if not recording(config) or config.pluginmanager.has_plugin("dsession"):
        return None
    directory = Path(str(config.option.allure_report_dir))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "environment.properties"
    described = config.stash.get(_environment_key, None)
    path.write_text(format_properties(environment_properties(settings, described)), "utf-8")
    return path


def write_run_globals(
    config: pytest.Config,
    record: Mapping[str, Any],
    summary: RunSummary,
    summary_lines: list[str],
    errors: list[str],
) -> Path | None:
    """Write the run's report-level attachments (summary, coverage, the run record) and
    its errors into the results directory as Allure 3 globals, if Allure is recording and
    a chaos system ran or could not be started.

    A pytest-xdist controller writes nothing: each worker writes its own (they add up in
    :mod:`harness.merge`).
    """
    if not recording(config) or config.pluginmanager.has_plugin("dsession"):
        return None
    if not summary.active and not errors:
        return None
    from harness.summary import render_coverage

    directory = Path(str(config.option.allure_report_dir))
    directory.mkdir(parents=True, exist_ok=True)
    return write_globals(
        directory,
        [
            (SUMMARY_NAME, "\n".join(summary_lines) + "\n", TEXT_MIME, "txt"),
            (
                COVERAGE_NAME,
                "\n".join(render_coverage(summary.explorations)) + "\n",
                TEXT_MIME,
                "txt",
            ),
            (
                RECORD_NAME,
                json.dumps(record, indent=2, sort_keys=True, default=str),
                "application/json",
                "json",
            ),
        ],
        errors,
    )
