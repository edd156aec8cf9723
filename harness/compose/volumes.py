"""What a service mounts, from ``volumes:`` (short and long forms) and ``tmpfs:``: named
volumes declared at the top level, anonymous volumes, tmpfs, and read-only bind mounts.

A read-write bind mount is refused: a run must not write into the user's folders, and the
harness must be able to remove everything a run created.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from harness.compose.parse import as_flag, as_list, as_mapping, error, unknown_key
from harness.compose.values import BindMount, TmpfsMount, VolumeMount
from harness.errors import TopologyError

__all__ = ["Mounts", "read_tmpfs", "read_volumes"]

_LONG_KEYS = {"type", "source", "target", "read_only", "bind", "volume", "tmpfs", "consistency"}


class Mounts(NamedTuple):
    """The entries of one service's ``volumes:``, by kind, in file order."""

    named: tuple[VolumeMount, ...]
    anonymous: tuple[str, ...]  # targets
    binds: tuple[BindMount, ...]
    tmpfs: tuple[TmpfsMount, ...]


def read_volumes(name: str, raw: object, path: Path, declared: tuple[str, ...]) -> Mounts:
    """``services.NAME.volumes`` of the file ``path``; ``declared``: the top-level volumes."""
    where = str(path)
    what = f"services.{name}.volumes"
    named: list[VolumeMount] = []
    anonymous: list[str] = []
    binds: list[BindMount] = []
    tmpfs: list[TmpfsMount] = []
    for item in as_list(raw, where, what):
        if isinstance(item, Mapping):
            kind, source, target, read_only, options = _long_volume(what, item, where)
            text = repr(dict(item))
        elif isinstance(item, str):
            text = repr(item)
            kind, source, target, read_only = _short_volume(what, item, where)
            options = ""
        else:
            raise error(where, what, f"{item!r} must be a string or a mapping")
        if not target.startswith("/"):
            raise error(where, what, f"{text}: the target {target!r} must be an absolute path")
        if kind == "tmpfs":
            tmpfs.append(TmpfsMount(target=target, options=options))
        elif kind == "volume" and not source:
            anonymous.append(target)
        elif kind == "volume":
            if source not in declared:
                raise error(
                    where,
                    what,
                    f"{text} names the volume {source!r}, which is not declared under the "
                    "top-level `volumes:`; declare it there (bind mounts start with ./ or /)",
                )
            named.append(VolumeMount(volume=source, target=target, read_only=read_only))
        else:
            binds.append(_bind(what, text, source, target, read_only, path))
    return Mounts(tuple(named), tuple(anonymous), tuple(binds), tuple(tmpfs))


def read_tmpfs(name: str, raw: object, where: str) -> tuple[TmpfsMount, ...]:
    """``services.NAME.tmpfs``: one ``TARGET[:OPTIONS]`` or a list of them."""
    what = f"services.{name}.tmpfs"
    items = [raw] if isinstance(raw, str) else as_list(raw, where, what)
    mounts = []
    for item in items:
        target, _, options = str(item).partition(":")
        if not target.startswith("/"):
            raise error(where, what, f"{item!r}: the target must be an absolute path")
        mounts.append(TmpfsMount(target=target, options=options))
    return tuple(mounts)


def _short_volume(what: str, text: str, where: str) -> tuple[str, str, str, bool]:
    parts = text.split(":")
    if len(parts) == 1:
        return "volume", "", parts[0], False
    if len(parts) > 3:
        raise error(where, what, f"{text!r} must be [SOURCE:]TARGET[:MODE]")
    source, target = parts[0], parts[1]
    modes = set(parts[2].split(",")) if len(parts) == 3 else set()
    kind = "bind" if source.startswith((".", "/", "~")) else "volume"
    return kind, source, target, "ro" in modes


def _long_volume(what: str, spec: Mapping[str, Any], where: str) -> tuple[str, str, str, bool, str]:
    for key in spec:
        if key not in _LONG_KEYS and not str(key).startswith("x-"):
            raise TopologyError(unknown_key(str(key), where, what, _LONG_KEYS))
    kind = spec.get("type")
    if kind not in ("volume", "bind", "tmpfs"):
        raise error(
            where,
            what,
            f"{dict(spec)!r}: type {kind!r} is not supported; use volume, bind "
            "(read-only) or tmpfs",
        )
    options = ""
    if kind == "tmpfs":
        tmpfs = as_mapping(spec.get("tmpfs"), where, f"{what}.tmpfs")
        parts = []
        if "size" in tmpfs:
            parts.append(f"size={tmpfs['size']}")
        if "mode" in tmpfs:
            mode = tmpfs["mode"]
            parts.append(f"mode={format(mode, 'o') if isinstance(mode, int) else mode}")
        options = ",".join(parts)
    read_only = as_flag(spec.get("read_only", False), where, f"{what}.read_only")
    return kind, str(spec.get("source") or ""), str(spec.get("target", "")), read_only, options


def _bind(what: str, text: str, source: str, target: str, read_only: bool, path: Path) -> BindMount:
    where = str(path)
    if not read_only:
        raise error(
            where,
            what,
            f"{text} is a read-write bind mount; chaos-harness mounts host folders "
            "read-only only, because a run must not write into your folders and the "
            "harness must be able to remove everything a run created. Add :ro (or "
            "`read_only: true`), or keep the data in a named volume",
        )
    if not source:
        raise error(where, what, f"{text} needs `source:`, the host path to mount")
    full = (path.parent / os.path.expanduser(source)).resolve()
    if not full.exists():
        raise error(
            where,
            what,
            f"{text} mounts {full}, which does not exist; create it or fix the path "
            "(relative paths start at the compose file's folder)",
        )
    return BindMount(source=full, target=target)
