"""Unit tests for harness.settings: each parser, and where a value comes from.

A value comes from the command line, else the ini file, else the default; a bad value is a
usage error naming where it came from; relative compose paths start at the folder of the
place that named them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.settings import (
    OPTIONS,
    _backend,
    _bool,
    _names,
    _positive_seconds,
    _seed,
    resolve_settings,
)

# -- parsers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["auto", "docker", "local"])
def test_backend_accepts_the_three_names(text: str) -> None:
    assert _backend(text) == text


@pytest.mark.parametrize("text", ["", "Docker", "podman", " docker"])
def test_backend_refuses_anything_else_naming_the_choices(text: str) -> None:
    with pytest.raises(ValueError, match="is not a backend; use auto, docker or local"):
        _backend(text)


def test_names_split_on_commas_and_drop_blanks() -> None:
    assert _names("") == ()
    assert _names("leak-on-timeout") == ("leak-on-timeout",)
    assert _names(" no_deadline , leak-on-timeout,,") == ("no_deadline", "leak-on-timeout")


@pytest.mark.parametrize("text", ["a b", "leak;rm", "x/y", "ünïcode?"])
def test_names_refuse_characters_outside_a_bug_name(text: str) -> None:
    with pytest.raises(ValueError, match="is not a bug name"):
        _names(text)


@pytest.mark.parametrize("text", ["0", "42", "4294967296", "random", "last"])
def test_seed_accepts_whole_numbers_random_and_last(text: str) -> None:
    assert _seed(text) == text


@pytest.mark.parametrize("text", ["-1", "1.5", "", "Random", "0x10"])
def test_seed_refuses_other_text(text: str) -> None:
    with pytest.raises(ValueError, match="is not a seed"):
        _seed(text)


@pytest.mark.parametrize(("text", "value"), [("60", 60.0), ("0.5", 0.5), ("3600", 3600.0)])
def test_positive_seconds_accepts_numbers_in_range(text: str, value: float) -> None:
    assert _positive_seconds(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "3601", "nan", "inf", "soon", ""])
def test_positive_seconds_refuses_out_of_range_and_non_numbers(text: str) -> None:
    with pytest.raises(ValueError, match="seconds"):
        _positive_seconds(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", True),
        ("true", True),
        ("Yes", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("NO", False),
        ("off", False),
        ("", False),
    ],
)
def test_bool_reads_the_usual_spellings(text: str, value: bool) -> None:
    assert _bool(text) is value


def test_bool_refuses_other_words() -> None:
    with pytest.raises(ValueError, match="'perhaps' is not true or false"):
        _bool("perhaps")


def test_every_option_has_a_flag_and_an_ini_key_of_the_same_name() -> None:
    for option in OPTIONS:
        assert option.flag == "--chaos-" + option.name
        assert option.ini == "chaos_" + option.name.replace("-", "_")
        option.parse(option.default)  # every default is valid


# -- precedence: command line > ini file > default ------------------------------------------


def _ini(pytester: pytest.Pytester, **keys: str) -> Path:
    lines = "".join(f"chaos_{key} = {value}\n" for key, value in keys.items())
    return pytester.makeini(f"[pytest]\n{lines}")


def test_defaults_apply_when_nothing_is_set(pytester: pytest.Pytester) -> None:
    settings = resolve_settings(pytester.parseconfig())

    assert settings.compose is None
    assert settings.backend == "auto"
    assert settings.bugs == ()
    assert 0 <= settings.seed < 2**32
    assert settings.keep_on_failure is False
    assert settings.startup_timeout_s == 60.0
    assert settings.race is False


def test_ini_file_beats_the_default(pytester: pytest.Pytester) -> None:
    _ini(
        pytester,
        backend="docker",
        bugs="no-deadline",
        seed="7",
        keep_on_failure="true",
        startup_timeout="5",
        race="yes",
        compose="systems/shop.yml",
    )

    settings = resolve_settings(pytester.parseconfig())

    assert settings.backend == "docker"
    assert settings.bugs == ("no-deadline",)
    assert settings.seed == 7
    assert settings.keep_on_failure is True
    assert settings.startup_timeout_s == 5.0
    assert settings.race is True
    # A relative path in the ini file starts at the ini file's folder.
    assert settings.compose == (pytester.path / "systems" / "shop.yml").resolve()


def test_command_line_beats_the_ini_file(pytester: pytest.Pytester) -> None:
    _ini(pytester, backend="docker", bugs="no-deadline", seed="7", startup_timeout="5")
    elsewhere = pytester.mkdir("elsewhere")

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(elsewhere)  # a relative --chaos-compose starts where pytest was started
        config = pytester.parseconfig(
            f"--rootdir={pytester.path}",
            "--chaos-backend=local",
            "--chaos-bugs=leak-on-timeout,no-breaker",
            "--chaos-seed=99",
            "--chaos-startup-timeout=2.5",
            "--chaos-keep-on-failure",
            "--chaos-compose=mine.yml",
        )
    settings = resolve_settings(config)

    assert settings.backend == "local"
    assert settings.bugs == ("leak-on-timeout", "no-breaker")
    assert settings.seed == 99
    assert settings.startup_timeout_s == 2.5
    assert settings.keep_on_failure is True
    assert settings.compose == (elsewhere / "mine.yml").resolve()


def test_bad_ini_value_is_a_usage_error_naming_the_key_and_file(
    pytester: pytest.Pytester,
) -> None:
    ini = _ini(pytester, startup_timeout="forever")

    with pytest.raises(pytest.UsageError) as info:
        resolve_settings(pytester.parseconfig())

    assert str(info.value) == (
        f"chaos-harness: ini key chaos_startup_timeout in {ini}: "
        "'forever' is not a number of seconds"
    )


def test_bad_command_line_value_is_a_usage_error_naming_the_flag(
    pytester: pytest.Pytester,
) -> None:
    _ini(pytester, backend="forever")  # the command line wins, so the ini value is not read

    with pytest.raises(pytest.UsageError) as info:
        resolve_settings(pytester.parseconfig("--chaos-backend=k8s"))

    assert str(info.value) == (
        "chaos-harness: --chaos-backend: 'k8s' is not a backend; use auto, docker or local"
    )


# -- the seed memory ----------------------------------------------------------------------------


def test_seed_last_reuses_the_seed_of_the_previous_run(pytester: pytest.Pytester) -> None:
    first = resolve_settings(pytester.parseconfig("--chaos-seed=random"))

    again = resolve_settings(pytester.parseconfig("--chaos-seed=last"))

    assert again.seed == first.seed
    assert (pytester.path / ".chaos" / "last-seed").read_text() == str(first.seed)


def test_seed_last_without_an_earlier_run_says_what_to_do(pytester: pytest.Pytester) -> None:
    with pytest.raises(pytest.UsageError) as info:
        resolve_settings(pytester.parseconfig("--chaos-seed=last"))
    memory = pytester.path / ".chaos" / "last-seed"
    assert str(info.value) == (
        f"chaos-harness: --chaos-seed: last, but no earlier run recorded a seed in {memory}; "
        "run once without it first"
    )


def test_seed_last_from_the_ini_file_names_the_ini_key(pytester: pytest.Pytester) -> None:
    ini = _ini(pytester, seed="last")

    with pytest.raises(pytest.UsageError) as info:
        resolve_settings(pytester.parseconfig())

    assert str(info.value).startswith(f"chaos-harness: ini key chaos_seed in {ini}: last, but ")
