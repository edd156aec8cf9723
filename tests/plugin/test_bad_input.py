"""End to end: bad input gives one clear paragraph, before anything starts, and leaves nothing.

Input the harness can judge without starting anything (the compose file, option values,
bug names) is a usage error at configuration time: pytest exits with code 4 and one
``ERROR: chaos-harness: ...`` paragraph, no test runs. What can only fail on the way up (no
engine, an image that does not build, a service that never gets healthy) fails the tests
that need the system with the harness's message and no traceback through its code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runs import INI, Run, compose_one

USES_CHAOS = """
def test_needs_the_system(chaos):
    raise AssertionError("must not run: the system cannot start")


def test_does_not_need_it():
    pass
"""

HARNESS_SOURCE = str(Path(__file__).resolve().parents[2] / "harness")


def _assert_usage_error(result: pytest.RunResult, *patterns: str) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    text = result.stderr.str().strip()
    assert text.startswith("ERROR: chaos-harness: "), text
    assert "\n\n" not in text, f"more than one paragraph:\n{text}"
    result.stderr.fnmatch_lines(list(patterns))
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert "collected" not in result.stdout.str()


COMPOSE_ERRORS = {
    "bad-yaml": (
        "services:\n  inventory: [build\n",
        ["*compose.yml is not valid YAML*"],
    ),
    "refused-key": (
        "services:\n  inventory:\n    image: x\n    network_mode: host\n",
        ["*services.inventory in */compose.yml: `network_mode` is refused: it takes the *"],
    ),
    "misspelt-key": (
        "services:\n  inventory:\n    image: x\n    enviroment: {A: b}\n",
        ["*services.inventory in */compose.yml uses the key 'enviroment'*(did you mean 'env*"],
    ),
    "read-write-bind-mount": (
        "services:\n  inventory: {image: x, ports: [80], volumes: ['./data:/data']}\n",
        ["*'./data:/data' is a read-write bind mount; chaos-harness mounts host folders *"],
    ),
    "port-beyond-loopback": (
        "services:\n  inventory: {image: x, ports: ['0.0.0.0:80:80']}\n",
        ["*'0.0.0.0:80:80' publishes on 0.0.0.0; chaos-harness publishes every port on 127*"],
    ),
    "missing-required-variable": (
        "services:\n  inventory: {image: 'shop:${TAG:?set TAG to the release}', ports: [80]}\n",
        ["*services.inventory.image in */compose.yml needs the variable TAG: set TAG to the *"],
    ),
    "absolute-prebuild-glob": (
        "services:\n  inventory: {image: x, ports: [80]}\n"
        "x-chaos:\n  prebuild: {command: [make], inputs: ['/src/**/*.go']}\n",
        ["*x-chaos.prebuild.inputs in */compose.yml: '/src/**/*.go' must be a glob relative*"],
    ),
    "unknown-depends-on": (
        "services:\n  inventory:\n    image: x\n    ports: [8080]\n    depends_on: [database]\n",
        ["*service 'inventory' in */compose.yml depends on 'database', which is not a service*"],
    ),
    "unknown-link-upstream": (
        "services:\n  toxiproxy: {image: x, ports: [8474]}\n  gateway: {image: x, ports: [80]}\n"
        "x-chaos:\n  toxiproxy: {service: toxiproxy}\n"
        "  links:\n    gateway->inventory: {listen: 18081, upstream: 'inventory:8080'}\n",
        ["*x-chaos.links.gateway->inventory.upstream in */compose.yml must be SERVICE:PORT*"],
    ),
    "unknown-x-chaos-service": (
        "services:\n  inventory: {image: x, ports: [80]}\n"
        "x-chaos:\n  services:\n    invntory: {port: 8080}\n",
        ["*x-chaos.services names 'invntory' in */compose.yml, which is not a service*"],
    ),
}


@pytest.mark.parametrize("case", sorted(COMPOSE_ERRORS))
def test_malformed_compose_file_is_a_usage_error_naming_key_and_file(
    harness: Run, case: str
) -> None:
    compose, patterns = COMPOSE_ERRORS[case]
    harness.setup(USES_CHAOS, compose)

    result = harness.run()

    _assert_usage_error(result, *patterns)
    harness.assert_nothing_left()


def test_unknown_bug_name_is_a_usage_error_listing_the_known_names(harness: Run) -> None:
    harness.setup(USES_CHAOS, compose_one(harness.context))

    result = harness.run("--chaos-bugs=leak-on-timeout,no-such-bug")

    _assert_usage_error(
        result,
        "*--chaos-bugs names unknown bug(s) no-such-bug; "
        "the 2 known names are: leak-on-timeout, no-deadline",
    )
    harness.assert_nothing_left()


CLI_ERRORS = {
    "startup-timeout": ("--chaos-startup-timeout=soon", "'soon' is not a number of seconds"),
    "backend": ("--chaos-backend=podman", "'podman' is not a backend; use auto, docker or local"),
    "seed": ("--chaos-seed=-3", "'-3' is not a seed; use a whole number, 'random' or 'last'"),
    "bugs": ("--chaos-bugs=a b", "a b is not a bug name*"),
}


@pytest.mark.parametrize("case", sorted(CLI_ERRORS))
def test_bad_option_on_the_command_line_names_the_flag(harness: Run, case: str) -> None:
    arg, message = CLI_ERRORS[case]
    harness.setup(USES_CHAOS, compose_one(harness.context))

    result = harness.run(arg)

    flag = arg.split("=")[0]
    _assert_usage_error(result, f"ERROR: chaos-harness: {flag}: {message}")
    harness.assert_nothing_left()


INI_ERRORS = {
    "startup-timeout": ("chaos_startup_timeout = 0", "0 must be more than 0 and at most 3600*"),
    "keep-on-failure": ("chaos_keep_on_failure = perhaps", "'perhaps' is not true or false"),
    "backend": ("chaos_backend = kubernetes", "'kubernetes' is not a backend*"),
}


@pytest.mark.parametrize("case", sorted(INI_ERRORS))
def test_bad_option_in_the_ini_file_names_the_key_and_file(harness: Run, case: str) -> None:
    line, message = INI_ERRORS[case]
    key = line.split(" = ")[0]
    ini = "\n".join(row for row in INI.splitlines() if not row.startswith(key)) + f"\n{line}\n"
    harness.setup(USES_CHAOS, compose_one(harness.context), ini=ini)

    result = harness.run()

    where = f"ini key {key} in {harness.path / 'pytest.ini'}"
    _assert_usage_error(result, f"ERROR: chaos-harness: {where}: {message}")
    harness.assert_nothing_left()


def _assert_start_failed(result: pytest.RunResult, *patterns: str) -> None:
    """The tests needing the system error with the harness's message; the others run."""
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_needs_the_system*", *patterns])
    assert "must not run" not in result.stdout.str()
    assert HARNESS_SOURCE not in result.stdout.str(), "a traceback through the harness's code"
    assert "During handling of the above exception" not in result.stdout.str()


def test_unreachable_engine_fails_with_one_paragraph_saying_what_to_do(
    harness: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.setup(USES_CHAOS, compose_one(harness.context))

    with monkeypatch.context() as patch:
        patch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
        result = harness.run("--chaos-backend=docker")

    # No test of the run could start a system: the run ends at the first that needs one,
    # once, with the paragraph (a shard's report and a merge show it as a global error).
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*chaos-harness: the Docker engine at unix:///nonexistent.sock (DOCKER_HOST*"
            "did not answer*Check it: does the socket exist and may this user open it*"
        ]
    )
    assert "must not run" not in result.stdout.str()
    assert HARNESS_SOURCE not in result.stdout.str(), "a traceback through the harness's code"
    harness.assert_nothing_left()


def test_image_that_fails_to_build_names_service_dockerfile_and_build_output(
    harness: Run,
) -> None:
    broken = harness.path / "broken"
    broken.mkdir()
    (broken / "Dockerfile").write_text("FROM scratch\nCOPY no-such-file /app\n")
    compose = "services:\n  broken:\n    build: broken\n    ports: ['8080']\n"
    harness.setup(USES_CHAOS, compose)

    result = harness.run()

    _assert_start_failed(
        result,
        f"*the image of service 'broken' failed to build from {broken / 'Dockerfile'}*",
        "*COPY no-such-file /app*",
    )
    harness.assert_nothing_left()


def test_service_never_healthy_fails_with_its_last_log_lines(harness: Run) -> None:
    harness.setup(USES_CHAOS, compose_one(harness.context, health="/no-such-health-path"))

    result = harness.run("--chaos-startup-timeout=3")

    _assert_start_failed(
        result,
        "*service 'inventory' was not ready after 3.* s (GET /no-such-health-path answered 404)*",
        "*last log lines of 'inventory':",
        '*"service":"inventory"*',
    )
    assert len(harness.recorded("pids")) == 1
    harness.assert_nothing_left()


def test_service_that_never_listens_on_its_port_is_not_taken_for_ready(harness: Run) -> None:
    # Nothing listens on 9999 in the container, but Docker's port proxy accepts connections
    # to its published port anyway: readiness must not be fooled by that.
    compose = compose_one(harness.context).replace(
        "inventory: {port: 8080, health: /healthz, metrics: /metrics}", "inventory: {port: 9999}"
    )
    assert "port: 9999" in compose
    harness.setup(USES_CHAOS, compose)

    result = harness.run("--chaos-startup-timeout=3")

    _assert_start_failed(
        result,
        "*service 'inventory' was not ready after 3.* s (port * accepted a connection and "
        "closed it at once)*",
    )
    harness.assert_nothing_left()


def test_service_that_exits_at_start_fails_with_exit_code_and_its_log(harness: Run) -> None:
    # The compose file claims a bug the service does not know: the service exits 2 at start.
    compose = compose_one(harness.context).replace(
        "names: [leak-on-timeout, no-deadline]", "names: [leak-on-timeout, made-up-bug]"
    )
    harness.setup(USES_CHAOS, compose)

    result = harness.run("--chaos-bugs=made-up-bug")

    _assert_start_failed(
        result,
        "*service 'inventory' exited during start-up (status exited, exit code 2)*",
        "*last log lines of 'inventory':",
        '*CHAOS_BUGS: unknown bug "made-up-bug"; known bugs: leak-on-timeout, *',
    )
    harness.assert_nothing_left()


def test_help_works_even_when_settings_and_compose_file_are_bad(harness: Run) -> None:
    ini = INI.replace("chaos_startup_timeout = 60", "chaos_startup_timeout = never")
    harness.setup(USES_CHAOS, "services: [\n", ini=ini)

    shown = harness.run("--help")

    assert shown.ret == pytest.ExitCode.OK, shown.stderr.str()
    shown.stdout.fnmatch_lines(
        [
            "chaos-harness: fault injection against real services:",
            "*--chaos-compose=FILE*",
            "*--chaos-seed=SEED*",
        ]
    )
    assert "chaos_startup_timeout" in shown.stdout.str()  # the ini keys are listed too
    harness.assert_nothing_left()


def test_chaos_test_without_a_compose_file_says_how_to_set_one(harness: Run) -> None:
    ini = "\n".join(row for row in INI.splitlines() if not row.startswith("chaos_compose"))
    harness.setup(USES_CHAOS, None, ini=ini + "\n")

    result = harness.run()

    result.stdout.fnmatch_lines(["chaos-harness: backend docker, * compose none (set --chaos-*"])
    _assert_start_failed(
        result,
        "*no compose file is set; pass --chaos-compose=FILE or set the chaos_compose ini key*",
    )
    harness.assert_nothing_left()


def test_compose_healthcheck_that_fails_makes_the_service_unhealthy_at_once(harness: Run) -> None:
    # The check runs a second inventory in the container: it cannot listen on the port the
    # first one holds, so it exits 1, which is a failed check with real output.
    compose = compose_one(harness.context).replace(
        "    volumes:",
        "    healthcheck: {test: [CMD, /app], interval: 200ms, retries: 2}\n    volumes:",
    )
    harness.setup(USES_CHAOS, compose)

    result = harness.run("--chaos-startup-timeout=60")

    _assert_start_failed(
        result,
        "*service 'inventory' is unhealthy: its healthcheck failed; last check: exit code 1, "
        "output *listen failed*; it ran `/app`; read its last log lines below, and check the "
        "healthcheck in the compose file*",
    )
    assert "was not ready after" not in result.stdout.str()  # it did not wait 60 s
    harness.assert_nothing_left()


def test_image_that_is_not_on_the_engine_names_it_and_says_how_to_get_it(harness: Run) -> None:
    compose = "services:\n  db:\n    image: chaos-harness-test/absent:1\n    ports: ['5432']\n"
    harness.setup(USES_CHAOS, compose)

    result = harness.run()

    _assert_start_failed(
        result,
        "*service 'db' uses the image 'chaos-harness-test/absent:1', which is not on this Docker "
        "engine, and pulling it failed (*). Put it on the engine first: `docker pull "
        "chaos-harness-test/absent:1` where a registry is reachable (or `docker save` it there "
        "and `docker load -i FILE` here), or give the service a `build:` section*",
    )
    harness.assert_nothing_left()


LOCAL_SILENT = """\
services:
  quiet:
    image: unused
    ports: ["8080"]
x-chaos:
  services:
    quiet: {{local: {{command: {command}}}}}
"""


@pytest.mark.parametrize(
    ("command", "pattern"),
    [
        (
            '["sleep", "30"]',
            "*service 'quiet' was not ready after 3.* s (port * not accepting connections: *); "
            "it ran `sleep 30` and printed nothing; check that it starts the service and that "
            "the service becomes ready as said above, or raise --chaos-startup-timeout if it is "
            "only slow*",
        ),
        (
            '["sh", "-c", "exit 3"]',
            "*service 'quiet' exited during start-up (status exited, exit code 3); it ran "
            "`sh -c 'exit 3'` and printed nothing; run it by hand to see why*",
        ),
    ],
)
def test_local_service_that_printed_nothing_is_said_to_have_printed_nothing(
    harness: Run, command: str, pattern: str
) -> None:
    harness.setup(USES_CHAOS, LOCAL_SILENT.format(command=command))

    result = harness.run("--chaos-backend=local", "--chaos-startup-timeout=3")

    _assert_start_failed(result, pattern)
    assert "last log lines" not in result.stdout.str()
    harness.assert_nothing_left()
