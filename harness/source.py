"""Which sources a system was built from: the commit, and a hash of its build inputs.

A finding holds for the sources it was made on. The closing summary, the Allure
environment and every replay file record the source state; a replay on sources whose build
inputs differ from those it was recorded on says so, rather than passing for a verdict on
the sources explored.

The commit is git's, when the compose file's folder is in a repository (``not a git
checkout`` otherwise), marked ``+ uncommitted changes`` when a file under the compose
file's folder or a build context differs from it. The build inputs are what the images are
made of: the files the prebuild step reads (``x-chaos.prebuild.inputs``) and its command,
every build context as an image build sends it (with its Dockerfile name, target and
args), and the image names of services without a build.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.build import context_hash
from harness.errors import BuildError
from harness.topology import Topology

__all__ = ["SourceState", "build_inputs_hash", "git_commit", "source_state"]

_GIT_TIMEOUT_S = 10


@dataclass(frozen=True)
class SourceState:
    """A system's sources: ``commit`` (None: not a git checkout), whether files differ
    from it, and the hash of the build inputs (what decides whether two runs ran the same
    system)."""

    commit: str | None
    dirty: bool
    inputs: str

    @property
    def revision(self) -> str:
        """``commit abc123def456``, ``+ uncommitted changes`` if so, or ``not a git checkout``."""
        if self.commit is None:
            return "not a git checkout"
        return f"commit {self.commit[:12]}" + (" + uncommitted changes" if self.dirty else "")

    def describe(self) -> str:
        return f"{self.revision}, build inputs {self.inputs[:12]}"

    def same_build(self, other: SourceState) -> bool:
        """Whether ``other`` builds the same system (its build inputs hash the same)."""
        return self.inputs == other.inputs

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "dirty": self.dirty, "inputs": self.inputs}

    @classmethod
    def from_json(cls, data: object) -> SourceState | None:
        """The state a replay file recorded (None when it recorded none, or not this)."""
        if not isinstance(data, Mapping):
            return None
        commit, dirty, inputs = data.get("commit"), data.get("dirty"), data.get("inputs")
        if not isinstance(inputs, str) or not isinstance(dirty, bool):
            return None
        if commit is not None and not isinstance(commit, str):
            return None
        return cls(commit, dirty, inputs)


def source_state(topology: Topology, build_args: Mapping[str, str] | None = None) -> SourceState:
    """The source state of ``topology`` built with the extra ``build_args`` (a race build's)."""
    folders = [topology.project_dir] + [
        service.build.context for service in topology.services.values() if service.build
    ]
    commit, dirty = git_commit(topology.project_dir, folders)
    return SourceState(commit, dirty, build_inputs_hash(topology, build_args))


def git_commit(folder: Path, paths: list[Path] | None = None) -> tuple[str | None, bool]:
    """The commit checked out where ``folder`` is (None: not a git checkout), and whether
    any file under ``paths`` (default: ``folder``) differs from it, untracked ones included."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(folder), *args],
                capture_output=True,
                text=True,
                timeout=_GIT_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    top = git("rev-parse", "--show-toplevel")
    if head is None or top is None:
        return None, False
    root = Path(top.strip()).resolve()
    inside = [
        str(p.resolve()) for p in (paths or [folder]) if p.resolve().is_relative_to(root)
    ] or [str(folder.resolve())]
    status = git("status", "--porcelain", "--", *inside)
    return head.strip(), bool(status and status.strip())


def build_inputs_hash(topology: Topology, build_args: Mapping[str, str] | None = None) -> str:
    """sha256 over everything the system's images are made of (see the module's words)."""
    digest = hashlib.sha256()
    root = topology.project_dir
    if topology.prebuild is not None:
        digest.update(repr(topology.prebuild).encode() + b"\0")
        patterns = topology.prebuild_inputs or ()
        files = {p for pattern in patterns for p in root.glob(pattern) if p.is_file()}
        for file in sorted(files):
            digest.update(str(file.relative_to(root)).encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    for name in sorted(topology.services):
        service = topology.services[name]
        digest.update(f"service {name}\0".encode())
        if service.build is not None:
            try:
                digest.update(context_hash(service.build, build_args).encode())
            except BuildError as exc:
                digest.update(f"unbuildable: {exc}".encode())
        else:
            digest.update(f"image {service.image}".encode())
    return digest.hexdigest()
