"""Reads a compose file: its YAML as compose's Go parser reads it, variables, the top level
(volumes, networks), profiles; then each active service through
:class:`~harness.compose.service.ServiceReader`, and the one warning of the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from harness.compose.keys import Notes, Warned, check_top_level_key, warn_once
from harness.compose.parse import as_list, as_mapping
from harness.compose.service import ServiceReader
from harness.compose.values import ComposeProject
from harness.errors import TopologyError
from harness.variables import Interpolator, parse_env_file

__all__ = ["read_compose"]


# -- YAML as compose reads it ---------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML 1.2 scalars, as compose's Go parser reads them: ``yes``/``on`` stay strings and
    ``8080:80`` never becomes a base-60 number (PyYAML's YAML 1.1 default)."""


_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _INT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    if len(text.lstrip("+-")) > 1 and text.lstrip("+-").startswith("0"):
        return int(text, 8)  # Go reads a leading zero as octal (tmpfs modes like 01777)
    return int(text)


_Loader.add_constructor(_INT, _construct_int)


# -- reading a file ---------------------------------------------------------------------------


def read_compose(
    path: Path, environ: Mapping[str, str] | None = None, *, warned: Warned | None = None
) -> ComposeProject:
    """Read ``path`` (an existing file) as compose would; warn about what is ignored.

    ``environ`` stands in for the shell environment (default: this process's); ``warned``
    is the caller's record of warnings already given (see :func:`~harness.compose.warn_once`).
    """
    where = str(path)
    try:
        raw = yaml.load(path.read_text(), Loader=_Loader)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise TopologyError(f"{path} is not valid YAML: {exc}") from None
    doc = as_mapping(raw, where, "the file")
    shell = dict(os.environ if environ is None else environ)
    env = _project_environment(path, shell)
    notes = Notes()
    unset: dict[str, list[str]] = {}
    interpolate = Interpolator(env, path, unset)
    chaos = doc.get("x-chaos")
    doc = {
        key: value if key == "x-chaos" else interpolate.tree(value, str(key))
        for key, value in doc.items()
    }

    for key in doc:
        check_top_level_key(str(key), where, notes)

    services_raw = as_mapping(doc.get("services"), where, "services")
    if not services_raw:
        raise TopologyError(f"{where} defines no services; add at least one under `services:`")
    volumes = _top_level_volumes(doc.get("volumes"), where, notes)
    networks = _top_level_networks(doc.get("networks"), where, notes)

    profiles = {p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()}
    active: dict[str, Mapping[str, Any]] = {}
    left_out: list[str] = []
    for name, spec in services_raw.items():
        spec = as_mapping(spec, where, f"services.{name}")
        wanted = [str(p) for p in as_list(spec.get("profiles"), where, f"services.{name}.profiles")]
        if wanted and "*" not in profiles and not profiles.intersection(wanted):
            left_out.append(str(name))
        else:
            active[str(name)] = spec
    if not active:
        raise TopologyError(
            f"every service of {where} has profiles and COMPOSE_PROFILES names none of them "
            f"(it is {env.get('COMPOSE_PROFILES', 'unset')!r}); set COMPOSE_PROFILES"
        )

    reader = ServiceReader(path, env, notes, volumes, networks, set(active), set(left_out))
    services = {name: reader.service(name, spec) for name, spec in active.items()}
    if unset:
        names = "; ".join(f"{var} ({', '.join(places)})" for var, places in unset.items())
        notes.note(f"variables not set, replaced by empty strings as compose does: {names}")
    if notes.notes or notes.ignored:
        warn_once(path, notes.text(path), warned)
    return ComposeProject(
        path=path,
        services=services,
        left_out=tuple(left_out),
        volumes=volumes,
        chaos=chaos,
        name=str(doc["name"]) if doc.get("name") else None,
    )


def _project_environment(path: Path, shell: Mapping[str, str]) -> dict[str, str]:
    """The variables interpolation sees: the shell's, then a ``.env`` beside the file."""
    dotenv = path.parent / ".env"
    if not dotenv.is_file():
        return dict(shell)
    values = parse_env_file(dotenv, shell)
    return {**{k: v for k, v in values.items() if v is not None}, **shell}


def _top_level_volumes(raw: object, where: str, notes: Notes) -> tuple[str, ...]:
    volumes = as_mapping(raw, where, "volumes")
    for name, spec in volumes.items():
        for key in as_mapping(spec, where, f"volumes.{name}"):
            if not str(key).startswith("x-"):
                # Each run gets fresh, empty volumes it can remove: no driver, no external.
                notes.ignore(f"volumes.{name}.{key}")
    return tuple(str(v) for v in volumes)


def _top_level_networks(raw: object, where: str, notes: Notes) -> set[str]:
    networks = as_mapping(raw, where, "networks")
    for name, spec in networks.items():
        for key in as_mapping(spec, where, f"networks.{name}"):
            if not str(key).startswith("x-"):
                notes.ignore(f"networks.{name}.{key}")
    if len(networks) > 1:
        notes.note(
            f"networks {', '.join(str(n) for n in networks)} are merged into the harness's "
            "one session network, so isolation between them is not reproduced"
        )
    return {str(n) for n in networks} | {"default"}
