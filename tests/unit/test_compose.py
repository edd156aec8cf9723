"""Unit tests for harness.compose and harness.variables: the compose dialect, read as
``docker compose`` reads it.

Each form a real project writes is read into the value the backends use; each refusal says
which key, which file and why; everything the harness leaves out is listed in one warning
per file.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.backends.local import LocalBackend
from harness.compose import (
    BindMount,
    Build,
    ComposeProject,
    ComposeService,
    Healthcheck,
    TmpfsMount,
    VolumeMount,
    parse_duration,
    read_compose,
)
from harness.errors import TopologyError, TopologyWarning
from harness.labels import new_session_id
from harness.topology import load_topology


def write(folder: Path, doc: object, name: str = "compose.yml") -> Path:
    path = folder / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
    return path


def read(
    folder: Path, doc: object, env: dict[str, str] | None = None, *, quiet: bool = True
) -> ComposeProject:
    """Read a compose document; with ``quiet``, fail on any warning, else ignore the file's
    warning (:func:`warned` checks it)."""
    path = write(folder, doc)
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("error")
        else:
            warnings.simplefilter("ignore", TopologyWarning)
        return read_compose(path, env or {})


def one(folder: Path, spec: dict[str, Any], env: dict[str, str] | None = None) -> ComposeService:
    """The service `app` with ``spec`` (plus an image and a port unless given)."""
    full = {"image": "app:1", "ports": ["8080"], **spec}
    return read(folder, {"services": {"app": full}, "volumes": {"data": {}}}, env).services["app"]


def refused(folder: Path, doc: object, env: dict[str, str] | None = None) -> str:
    path = write(folder, doc)
    with pytest.raises(TopologyError) as info:
        read_compose(path, env or {})
    message = str(info.value)
    assert str(path) in message, message
    return message


def warned(folder: Path, doc: object, env: dict[str, str] | None = None) -> str:
    """The one TopologyWarning reading ``doc`` gives."""
    path = write(folder, doc)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_compose(path, env or {})
    ours = [w for w in caught if issubclass(w.category, TopologyWarning)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    return str(ours[0].message)


def app(spec: dict[str, Any]) -> dict[str, Any]:
    return {"services": {"app": {"image": "app:1", "ports": ["8080"], **spec}}}


# -- interpolation ----------------------------------------------------------------------------


def test_every_interpolation_form_takes_the_shell_first_then_dot_env(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FROM_FILE=file\nBOTH=file\nEMPTY=\n")
    env = {"BOTH": "shell", "SHELL_ONLY": "sh"}
    environment = {
        "A": "${FROM_FILE}",
        "B": "$BOTH",  # the shell wins over .env
        "C": "${MISSING:-fallback}",
        "D": "${EMPTY:-for-empty}",
        "E": "${EMPTY-only-if-unset}",
        "F": "${MISSING-unset}",
        "G": "${SHELL_ONLY:+set}${MISSING:+never}",
        "H": "${EMPTY+defined}",
        "I": "cost: $$5 and $${NOT}",
        "J": "${MISSING:-${SHELL_ONLY}-nested}",
        "K": "${BOTH:?never raised}",
        "L": "${EMPTY?only if unset}",
        "M": "pre-${FROM_FILE}_$SHELL_ONLY.post",
    }

    service = one(tmp_path, {"environment": environment}, env)

    assert service.environment == {
        "A": "file",
        "B": "shell",
        "C": "fallback",
        "D": "for-empty",
        "E": "",
        "F": "unset",
        "G": "set",
        "H": "defined",
        "I": "cost: $5 and ${NOT}",
        "J": "sh-nested",
        "K": "shell",
        "L": "",
        "M": "pre-file_sh.post",
    }


def test_interpolation_reaches_every_string_but_not_keys_or_x_chaos(tmp_path: Path) -> None:
    doc = {
        "services": {
            "app": {
                "image": "registry/app:${TAG:-1.0}",
                "ports": ["${PORT}"],
                "command": ["serve", "--name=${NAME}"],
                "environment": {"${KEY}": "v"},
            }
        },
        "x-chaos": {"services": {"app": {"local": {"command": ["run", "${NAME}"]}}}},
    }

    project = read(tmp_path, doc, {"PORT": "9000", "NAME": "shop", "KEY": "k"})

    service = project.services["app"]
    assert (service.image, service.ports) == ("registry/app:1.0", (9000,))
    assert service.command == ("serve", "--name=shop")
    assert service.environment == {"${KEY}": "v"}
    assert project.chaos == {"services": {"app": {"local": {"command": ["run", "${NAME}"]}}}}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${DB_PASSWORD:?set the database password}", "set the database password"),
        ("${DB_PASSWORD?}", "it must be set"),
    ],
)
def test_missing_required_variable_names_it_the_file_and_the_message(
    tmp_path: Path, value: str, message: str
) -> None:
    text = refused(tmp_path, app({"environment": {"PASSWORD": value}}))

    assert text == (
        f"services.app.environment.PASSWORD in {tmp_path / 'compose.yml'} needs the variable "
        f"DB_PASSWORD: {message}. Set DB_PASSWORD in the environment or in {tmp_path / '.env'}"
    )


def test_empty_required_variable_is_refused_only_with_the_colon(tmp_path: Path) -> None:
    assert "needs the variable X" in refused(tmp_path, app({"user": "${X:?}"}), {"X": ""})
    assert one(tmp_path, {"user": "${X?}"}, {"X": ""}).user == ""


@pytest.mark.parametrize("value", ["price $ 5", "${UNCLOSED", "${1X}", "${X:bad}", "$"])
def test_malformed_interpolation_is_refused_saying_how_to_escape(
    tmp_path: Path, value: str
) -> None:
    text = refused(tmp_path, app({"working_dir": value}))

    assert f"services.app.working_dir in {tmp_path / 'compose.yml'}: " in text
    assert "is not a valid interpolation" in text
    assert "$$ for a literal $" in text


def test_unset_variable_becomes_empty_with_a_warning_naming_it_and_where(tmp_path: Path) -> None:
    text = warned(tmp_path, app({"environment": {"URL": "http://${HOST}:80"}}))

    assert (
        "variables not set, replaced by empty strings as compose does: "
        "HOST (services.app.environment.URL)"
    ) in text


def test_yaml_is_read_as_compose_reads_it(tmp_path: Path) -> None:
    # PyYAML's YAML 1.1 would read `on` as True and 8080:50 as a base-60 number.
    text = (
        "services:\n  app:\n    image: app:1\n    ports: [8080:50]\n"
        "    environment: {DEBUG: on, FLAG: true, MODE: 0o17}\n"
        "    x-base: &base {A: 1}\n"
        "  other:\n    image: app:1\n    ports: [81]\n    environment:\n      <<: *base\n"
    )

    project = read(tmp_path, text)

    assert project.services["app"].ports == (50,)
    assert project.services["app"].environment == {"DEBUG": "on", "FLAG": "true", "MODE": "15"}
    assert project.services["other"].environment == {"A": "1"}


# -- env files --------------------------------------------------------------------------------


def test_env_file_lines_are_read_as_compose_reads_them(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text(
        "# a comment\n"
        "\n"
        "PLAIN=value\n"
        "export EXPORTED=yes\n"
        "SPACED = around  # an inline comment\n"
        "HASH=a#b\n"
        "SINGLE='literal ${PLAIN} $$'\n"
        'DOUBLE="line one\\nline \\"two\\""\n'
        'MULTI="first\n'
        'second"\n'
        "REF=${PLAIN}-${FROM_SHELL}\n"
        "PASSED\n"
        "NOT_PASSED\n"
        "EMPTY=\n"
    )

    service = one(tmp_path, {"env_file": "app.env"}, {"FROM_SHELL": "sh", "PASSED": "p"})

    assert service.environment == {
        "PLAIN": "value",
        "EXPORTED": "yes",
        "SPACED": "around",
        "HASH": "a#b",
        "SINGLE": "literal ${PLAIN} $$",
        "DOUBLE": 'line one\nline "two"',
        "MULTI": "first\nsecond",
        "REF": "value-sh",
        "PASSED": "p",
        "EMPTY": "",
    }


def test_environment_wins_over_env_files_and_later_files_over_earlier(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "base.env").write_text("A=base\nB=base\nC=base\n")
    (tmp_path / "conf" / "local.env").write_text("B=local\nC=local\n")
    env_file = [
        "conf/base.env",
        {"path": "conf/local.env", "required": True},
        {"path": "conf/absent.env", "required": False},
    ]

    service = one(tmp_path, {"env_file": env_file, "environment": ["C=environment", "D"]})

    assert service.environment == {"A": "base", "B": "local", "C": "environment"}


def test_missing_env_file_is_refused_naming_it(tmp_path: Path) -> None:
    text = refused(tmp_path, app({"env_file": ["missing.env"]}))

    assert text == (
        f"services.app.env_file in {tmp_path / 'compose.yml'}: the env file missing.env "
        f"({tmp_path / 'missing.env'}) does not exist; create it, fix the path, or mark it "
        "{path: ..., required: false}"
    )


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("GOOD=1\nnot a line\n", "app.env:2: 'not a line' is not KEY=VALUE"),
        ("A='never closed\n", "app.env:1: the ' quote of A never closes"),
        ('A="x" trailing\n', "app.env:1: 'trailing' follows the quoted value of A"),
        ("A=${B:?B is needed}\n", "line 1 (A) in {env} needs the variable B: B is needed"),
    ],
)
def test_malformed_env_file_names_the_file_and_the_line(
    tmp_path: Path, content: str, fragment: str
) -> None:
    (tmp_path / "app.env").write_text(content)

    text = refused(tmp_path, app({"env_file": "app.env"}))

    assert text.startswith(f"services.app.env_file in {tmp_path / 'compose.yml'}: ")
    assert fragment.format(env=tmp_path / "app.env") in text
    assert str(tmp_path / "app.env") in text


# -- command and entrypoint -------------------------------------------------------------------


def test_command_and_entrypoint_strings_are_split_like_a_shell(tmp_path: Path) -> None:
    service = one(
        tmp_path,
        {"entrypoint": "/bin/tini -- /app", "command": "serve --name 'two words' \"a b\""},
    )

    assert service.entrypoint == ("/bin/tini", "--", "/app")
    assert service.command == ("serve", "--name", "two words", "a b")
    listed = one(tmp_path, {"entrypoint": ["/app", 1], "command": []})
    assert (listed.entrypoint, listed.command) == (("/app", "1"), ())
    assert one(tmp_path, {"entrypoint": []}).entrypoint == ()  # resets the image's
    assert "cannot be split" in refused(tmp_path, app({"command": "echo 'unclosed"}))


# -- ports and expose -------------------------------------------------------------------------

PORTS: dict[str, tuple[object, tuple[int, ...]]] = {
    "container port": ("8080", (8080,)),
    "a number": (9090, (9090,)),
    "published:container": ("18080:8080", (8080,)),
    "loopback address": ("127.0.0.1:18080:8080", (8080,)),
    "localhost": ("localhost:18080:8080", (8080,)),
    "empty address": (":18080:8080", (8080,)),
    "IPv6 loopback": ("[::1]:18080:8080", (8080,)),
    "protocol": ("8080/tcp", (8080,)),
    "ranges": ("8080-8082:9080-9082", (9080, 9081, 9082)),
    "container range": ("7000-7001/tcp", (7000, 7001)),
    "long syntax": (
        {"target": 80, "published": "8080", "host_ip": "127.0.0.1", "protocol": "tcp"},
        (80,),
    ),
    "long syntax, published range": ({"target": 80, "published": "8000-8010"}, (80,)),
}


@pytest.mark.parametrize("case", sorted(PORTS))
def test_every_port_form_gives_its_container_ports(tmp_path: Path, case: str) -> None:
    raw, expected = PORTS[case]

    assert one(tmp_path, {"ports": [raw]}).ports == expected


def test_udp_ports_are_left_out_with_a_note(tmp_path: Path) -> None:
    doc = app({"ports": ["8080", "5353:53/udp", {"target": 514, "protocol": "udp"}]})

    text = warned(tmp_path, doc)

    assert (
        "the UDP port 5353:53/udp of service app is not published: the harness publishes "
        "and proxies TCP only"
    ) in text
    assert "the UDP port {'target': 514, 'protocol': 'udp'} of service app" in text
    assert read(tmp_path, doc, quiet=False).services["app"].ports == (8080,)


@pytest.mark.parametrize(
    "raw",
    [
        "0.0.0.0:8080:8080",
        "192.168.1.5:80:80",
        "[::]:80:80",
        {"target": 80, "host_ip": "0.0.0.0"},
    ],
)
def test_a_port_published_beyond_loopback_is_refused_with_the_reason(
    tmp_path: Path, raw: object
) -> None:
    text = refused(tmp_path, app({"ports": [raw]}))

    assert "chaos-harness publishes every port on 127.0.0.1 only, at ports it picks" in text
    assert "remove the address (or write 127.0.0.1)" in text


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("http", "is not a port between 1 and 65535"),
        ("0", "is not a port between 1 and 65535"),
        ("8082-8080", "runs backwards"),
        ("8080/sctp2", "is not tcp or udp"),
        ("1:2:3:4", "write an IPv6 host address in brackets"),
        ({"published": 80}, "needs `target:`"),
        ({"target": 80, "mode": "host", "bogus": 1}, "uses the key 'bogus'"),
    ],
)
def test_malformed_port_is_refused(tmp_path: Path, raw: object, fragment: str) -> None:
    text = refused(tmp_path, app({"ports": [raw]}))

    assert text.startswith(f"services.app.ports in {tmp_path / 'compose.yml'}")
    assert fragment in text


def test_expose_takes_ports_and_ranges(tmp_path: Path) -> None:
    service = one(tmp_path, {"ports": [], "expose": ["3000", 4000, "5000-5001/tcp"]})

    assert (service.ports, service.expose) == ((), (3000, 4000, 5000, 5001))


# -- volumes ----------------------------------------------------------------------------------


def test_every_volume_form_becomes_its_mount(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.yml").write_text("a: 1\n")
    volumes = [
        "data:/var/lib/app",
        "data:/srv/readonly:ro",
        "/cache",
        "./conf:/etc/app:ro",
        "./conf/app.yml:/etc/app.yml:ro,z",
        {"type": "bind", "source": "./conf", "target": "/etc/long", "read_only": True},
        {"type": "volume", "source": "data", "target": "/long", "read_only": True},
        {"type": "volume", "target": "/anonymous"},
        {"type": "tmpfs", "target": "/run", "tmpfs": {"size": 1048576, "mode": 0o1777}},
    ]

    service = one(tmp_path, {"volumes": volumes, "tmpfs": ["/tmp", "/var/run:size=64m"]})

    assert service.volumes == (
        VolumeMount(volume="data", target="/var/lib/app"),
        VolumeMount(volume="data", target="/srv/readonly", read_only=True),
        VolumeMount(volume="data", target="/long", read_only=True),
    )
    assert service.anonymous_volumes == ("/cache", "/anonymous")
    assert service.binds == (
        BindMount(source=tmp_path / "conf", target="/etc/app"),
        BindMount(source=tmp_path / "conf" / "app.yml", target="/etc/app.yml"),
        BindMount(source=tmp_path / "conf", target="/etc/long"),
    )
    assert service.tmpfs == (
        TmpfsMount(target="/run", options="size=1048576,mode=1777"),
        TmpfsMount(target="/tmp"),
        TmpfsMount(target="/var/run", options="size=64m"),
    )
    assert one(tmp_path, {"tmpfs": "/scratch"}).tmpfs == (TmpfsMount(target="/scratch"),)


def test_read_write_bind_mount_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    short = refused(tmp_path, app({"volumes": ["./data:/data"]}))
    long = refused(
        tmp_path, app({"volumes": [{"type": "bind", "source": "./data", "target": "/data"}]})
    )

    for text in (short, long):
        assert "is a read-write bind mount; chaos-harness mounts host folders read-only only" in (
            text
        )
        assert "a run must not write into your folders" in text
        assert "must be able to remove everything a run created" in text
    assert "'./data:/data' is a read-write bind mount" in short
    assert "./data:/data:rw" not in short
    assert "is a read-write" in refused(tmp_path, app({"volumes": ["./data:/data:rw"]}))


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("./absent:/etc/app:ro", f"mounts {{tmp}}{'/absent'}, which does not exist"),
        ("stock:/data", "names the volume 'stock', which is not declared"),
        ("data:relative", "the target 'relative' must be an absolute path"),
        ("a:b:c:d", "must be [SOURCE:]TARGET[:MODE]"),
        ({"type": "image", "source": "x", "target": "/x"}, "type 'image' is not supported"),
        ({"type": "bind", "target": "/x", "read_only": True}, "needs `source:`"),
        (5, "must be a string or a mapping"),
    ],
)
def test_malformed_volume_is_refused(tmp_path: Path, raw: object, fragment: str) -> None:
    text = refused(tmp_path, {**app({"volumes": [raw]}), "volumes": {"data": {}}})

    assert text.startswith(f"services.app.volumes in {tmp_path / 'compose.yml'}: ")
    assert fragment.format(tmp=tmp_path) in text


def test_top_level_volume_options_are_ignored_with_a_warning(tmp_path: Path) -> None:
    doc = {**app({"volumes": ["data:/data"]}), "volumes": {"data": {"external": True}}}

    text = warned(tmp_path, doc)

    assert "volumes.data.external (top level)" in text


# -- networks ---------------------------------------------------------------------------------


def test_network_aliases_are_kept_and_more_networks_are_merged_with_one_note(
    tmp_path: Path,
) -> None:
    doc = {
        "services": {
            "api": {
                "image": "api:1",
                "ports": [80],
                "networks": {
                    "front": {"aliases": ["api.local", "shop-api"]},
                    "back": {"aliases": ["internal-api"], "ipv4_address": "10.0.0.5"},
                },
            },
            "db": {"image": "db:1", "ports": [5432], "networks": ["back"]},
            "cache": {"image": "c:1", "ports": [6379], "networks": ["default"]},
        },
        "networks": {"front": {}, "back": {"internal": True}},
    }

    text = warned(tmp_path, doc)
    project = read(tmp_path, doc, quiet=False)

    assert project.services["api"].aliases == ("api.local", "shop-api", "internal-api")
    assert project.services["db"].aliases == ()
    assert text.count("are merged into the harness's one session network") == 1
    assert "networks front, back are merged into the harness's one session network, so " in text
    assert "networks.back.ipv4_address (service api)" in text
    assert "networks.back.internal (top level)" in text


def test_one_network_is_no_news(tmp_path: Path) -> None:
    doc = {**app({"networks": {"shop": {"aliases": ["app.shop"]}}}), "networks": {"shop": None}}

    assert read(tmp_path, doc).services["app"].aliases == ("app.shop",)


def test_undeclared_network_is_refused(tmp_path: Path) -> None:
    text = refused(tmp_path, app({"networks": ["backend"]}))

    assert "the network 'backend' is not declared under the top-level `networks:`" in text


# -- dependencies and profiles ----------------------------------------------------------------


def test_depends_on_long_form_with_conditions(tmp_path: Path) -> None:
    doc = {
        "services": {
            "db": {"image": "db:1", "ports": [5432]},
            "cache": {"image": "c:1", "ports": [6379]},
            "app": {
                "image": "app:1",
                "ports": [80],
                "depends_on": {
                    "db": {"condition": "service_healthy", "restart": True},
                    "cache": {"condition": "service_started"},
                    "metrics": {"condition": "service_started", "required": False},
                },
            },
        }
    }

    assert read(tmp_path, doc).services["app"].depends_on == ("db", "cache")
    doc["services"]["app"]["depends_on"]["db"]["condition"] = "healthy"
    assert "'healthy' is not one of service_completed_successfully, service_healthy" in (
        refused(tmp_path, doc)
    )


def test_profiles_leave_services_out_unless_compose_profiles_names_one(tmp_path: Path) -> None:
    doc = {
        "services": {
            "app": {"image": "app:1", "ports": [80]},
            "debug": {"image": "dbg:1", "ports": [81], "profiles": ["debug", "dev"]},
            "docs": {"image": "docs:1", "ports": [82], "profiles": ["docs"]},
        }
    }

    assert list(read(tmp_path, doc).services) == ["app"]
    assert read(tmp_path, doc).left_out == ("debug", "docs")
    assert list(read(tmp_path, doc, {"COMPOSE_PROFILES": "dev, other"}).services) == [
        "app",
        "debug",
    ]
    assert list(read(tmp_path, doc, {"COMPOSE_PROFILES": "*"}).services) == [
        "app",
        "debug",
        "docs",
    ]
    (tmp_path / ".env").write_text("COMPOSE_PROFILES=docs\n")
    assert list(read(tmp_path, doc).services) == ["app", "docs"]


def test_depending_on_a_service_its_profiles_leave_out_says_what_to_do(tmp_path: Path) -> None:
    doc = {
        "services": {
            "app": {"image": "app:1", "ports": [80], "depends_on": ["debug"]},
            "debug": {"image": "dbg:1", "ports": [81], "profiles": ["debug"]},
        }
    }

    text = refused(tmp_path, doc)

    assert "service 'app' in" in text
    assert "depends on 'debug', which its profiles leave out" in text
    assert "add one of 'debug''s profiles to COMPOSE_PROFILES" in text


# -- healthcheck ------------------------------------------------------------------------------


def test_healthcheck_forms(tmp_path: Path) -> None:
    full = one(
        tmp_path,
        {
            "healthcheck": {
                "test": ["CMD", "/app", "health"],
                "interval": "1m30s",
                "timeout": "500ms",
                "start_period": "10s",
                "start_interval": "1s",
                "retries": 5,
            }
        },
    )
    assert full.healthcheck == Healthcheck(
        test=("CMD", "/app", "health"),
        interval_s=90.0,
        timeout_s=0.5,
        start_period_s=10.0,
        start_interval_s=1.0,
        retries=5,
    )
    shell = one(tmp_path, {"healthcheck": {"test": "curl -f localhost", "interval": "1s"}})
    assert shell.healthcheck == Healthcheck(test=("CMD-SHELL", "curl -f localhost"), interval_s=1)
    disabled = one(tmp_path, {"healthcheck": {"disable": True}})
    assert disabled.healthcheck == Healthcheck(test=("NONE",))
    assert disabled.healthcheck.disabled
    none = one(tmp_path, {"healthcheck": {"test": ["NONE"]}})
    assert none.healthcheck == Healthcheck(test=("NONE",))
    timings_only = one(tmp_path, {"healthcheck": {"interval": "2s"}})  # the image's command
    assert timings_only.healthcheck == Healthcheck(test=(), interval_s=2.0)


def test_a_slow_first_healthcheck_is_noted(tmp_path: Path) -> None:
    text = warned(tmp_path, app({"healthcheck": {"test": ["CMD", "/app", "health"]}}))

    assert "a healthcheck runs its first check one interval (30 s) after the start" in text
    assert "set healthcheck.start_interval (e.g. 1s)" in text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("1s", 1.0), ("1m30s", 90.0), ("1.5h", 5400.0), ("250ms", 0.25), ("10us", 1e-5)],
)
def test_durations_are_read_as_go_reads_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5", "1 s", "s", "", "1d", True])
def test_not_a_duration(text: object) -> None:
    assert parse_duration(text) is None


# -- the rest of the honoured keys ------------------------------------------------------------


def test_process_and_host_settings_are_carried(tmp_path: Path) -> None:
    service = one(
        tmp_path,
        {
            "user": 1000,
            "working_dir": "/srv",
            "hostname": "app-1",
            "stop_signal": "SIGINT",
            "stop_grace_period": "1m",
            "labels": ["team=shop", "tier=web"],
            "read_only": True,
            "init": True,
            "cap_add": ["net_bind_service", "CAP_CHOWN"],
            "cap_drop": ["ALL"],
            "extra_hosts": ["db.local:10.0.0.2", "v6=::1", "gw:host-gateway"],
        },
    )

    assert (service.user, service.working_dir, service.hostname) == ("1000", "/srv", "app-1")
    assert (service.stop_signal, service.stop_grace_period_s) == ("SIGINT", 60.0)
    assert service.labels == {"team": "shop", "tier": "web"}
    assert (service.read_only, service.init) == (True, True)
    assert service.cap_add == ("NET_BIND_SERVICE", "CHOWN")
    assert service.extra_hosts == (
        ("db.local", "10.0.0.2"),
        ("v6", "::1"),
        ("gw", "host-gateway"),
    )
    mapped = one(tmp_path, {"extra_hosts": {"a": "1.2.3.4", "b": ["5.6.7.8", "::2"]}})
    assert mapped.extra_hosts == (("a", "1.2.3.4"), ("b", "5.6.7.8"), ("b", "::2"))
    assert one(tmp_path, {"labels": {"n": 1}}).labels == {"n": "1"}


def test_build_target_and_list_args_are_honoured(tmp_path: Path) -> None:
    build = {"context": "src", "target": "prod", "args": ["VERSION=2", "FROM_SHELL", "ABSENT"]}

    service = one(tmp_path, {"image": None, "build": build}, {"FROM_SHELL": "x"})

    assert service.build == Build(
        context=tmp_path / "src", args={"VERSION": "2", "FROM_SHELL": "x"}, target="prod"
    )


def test_restart_is_ignored_with_a_note_saying_who_decides(tmp_path: Path) -> None:
    text = warned(tmp_path, app({"restart": "unless-stopped"}))

    assert (
        "restart is ignored: the harness decides when a service comes back: a killed "
        "service stays down until its fault heals (service app)"
    ) in text


# -- refused keys -----------------------------------------------------------------------------

REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "network_mode": ({"network_mode": "host"}, "takes the service off the harness's session"),
    "privileged": ({"privileged": True}, "`privileged: true` is refused: a privileged"),
    "container_name": ({"container_name": "shop-app"}, "the harness names containers per"),
    "pid": ({"pid": "host"}, "sharing a process namespace"),
    "ipc": ({"ipc": "host"}, "`ipc: host` is refused"),
    "userns_mode": ({"userns_mode": "host"}, "changes the user namespace"),
    "devices": ({"devices": ["/dev/fuse"]}, "host devices are outside"),
    "extends": ({"extends": {"service": "base"}}, "inline the extended service's keys here"),
    "cap_add ALL": ({"cap_add": ["ALL"]}, "ALL is refused: it gives back every capability"),
    "cap_add SYS_ADMIN": ({"cap_add": ["cap_sys_admin"]}, "cap_sys_admin is refused"),
    "cap_add NET_ADMIN": ({"cap_add": ["NET_ADMIN"]}, "where the harness injects network"),
    "build dockerfile_inline": (
        {"build": {"context": ".", "dockerfile_inline": "FROM scratch"}},
        "`dockerfile_inline` is not supported: write the Dockerfile to a file",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_key_that_changes_what_the_harness_controls_is_refused_with_why(
    tmp_path: Path, case: str
) -> None:
    spec, reason = REFUSED[case]

    text = refused(tmp_path, app(spec))

    assert text.startswith("services.app")
    assert reason in text


def test_harmless_values_of_refusable_keys_are_accepted(tmp_path: Path) -> None:
    assert one(tmp_path, {"privileged": False, "cap_drop": ["NET_RAW"]}).cap_add == ()
    assert "ipc (service app)" in warned(tmp_path, app({"ipc": "private"}))


def test_include_is_refused_saying_to_inline(tmp_path: Path) -> None:
    text = refused(tmp_path, {"include": ["other.yml"], **app({})})

    assert "uses `include`, which chaos-harness does not follow" in text
    assert "inline the included services here" in text


def test_top_level_name_version_and_extensions_are_accepted(tmp_path: Path) -> None:
    doc = {"name": "shop", "version": "3.8", "x-common": {"a": 1}, **app({"x-note": "hi"})}

    assert list(read(tmp_path, doc).services) == ["app"]


# -- the one warning per file -----------------------------------------------------------------


def test_ignored_keys_are_listed_in_one_warning_per_file(tmp_path: Path) -> None:
    doc = {
        "services": {
            name: {
                "image": "x:1",
                "ports": [port],
                "logging": {"driver": "json-file"},
                "deploy": {"resources": {"limits": {"cpus": "0.5"}}},
                **({"mem_limit": "512m"} if name == "db" else {}),
            }
            for name, port in (("api", 80), ("db", 5432), ("cache", 6379))
        },
        "secrets": {"token": {"file": "./token"}},
    }

    text = warned(tmp_path, doc)

    assert text.startswith(f"chaos-harness runs {tmp_path / 'compose.yml'} with parts of it")
    assert "logging (services api, db, cache)" in text
    assert "deploy (services api, db, cache)" in text
    assert "mem_limit (service db)" in text
    assert "secrets (top level)" in text
    assert text.count("logging") == 1


def test_the_same_file_warns_once_per_run(tmp_path: Path) -> None:
    # A run keeps one set of the warnings given (the plugin's is on its session) and passes
    # it to every read; a read without it, or with another run's set, warns again.
    path = write(tmp_path, app({"logging": {"driver": "none"}}))
    run: set[tuple[str, str]] = set()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_topology(path, environ={}, warned=run)
        load_topology(path, environ={}, warned=run)
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        load_topology(path, environ={}, warned=set())
        load_topology(path, environ={})

    assert [w.category for w in caught] == [TopologyWarning]
    assert [w.category for w in again] == [TopologyWarning, TopologyWarning]
    assert str(again[0].message) == str(caught[0].message)


def test_unknown_top_level_key_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    text = refused(tmp_path, {"service": {}, **app({})})

    assert "top level in" in text
    assert "uses the key 'service', which is not a compose key chaos-harness knows" in text
    assert "(did you mean 'services'?)" in text


def test_local_backend_says_once_what_a_host_process_cannot_have(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    doc = {
        "services": {
            "api": {
                "image": "api:1",
                "ports": [80],
                "healthcheck": {"test": ["CMD", "/api", "health"], "interval": "1s"},
                "volumes": ["./conf:/etc/api:ro", "/cache"],
                "extra_hosts": ["db.test:10.0.0.2"],
            },
            "web": {"image": "web:1", "ports": [81]},  # nothing it would miss
        },
        "x-chaos": {
            "services": {
                "api": {"health": "/ready", "local": {"command": ["./api"]}},
                "web": {"local": {"command": ["./web"]}},
            }
        },
    }
    topology = load_topology(write(tmp_path, doc), environ={})
    run: set[tuple[str, str]] = set()
    caught: list[warnings.WarningMessage] = []
    for _ in range(2):  # a second environment of the same run says nothing new
        backend = LocalBackend(new_session_id(), warned=run)
        try:
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                backend.prepare(topology, {})
            caught += seen
        finally:
            backend.down()

    assert [str(w.message) for w in caught] == [
        f"the local backend runs the services of {tmp_path / 'compose.yml'} as host "
        "processes, without what only a container has:\n"
        "  - api: its healthcheck (readiness is GET /ready instead); mounts at /etc/api, "
        "/cache; extra_hosts db.test"
    ]
