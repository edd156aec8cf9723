"""The source state a run records: the commit (or that there is none, or that files differ
from it) and a hash of the build inputs, which changes with any input and nothing else."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.source import SourceState, source_state
from harness.topology import load_topology

COMPOSE = """\
services:
  front:
    build: {context: ., args: {BINARY: front}}
    ports: ["8080"]
  back:
    image: back:1.4
    expose: ["9000"]
x-chaos:
  prebuild: {command: [sh, build.sh], inputs: ["*.go"], outputs: [bin/front]}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "compose.yml").write_text(COMPOSE)
    (tmp_path / "main.go").write_text("package main\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    return tmp_path


def git(folder: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=folder,
        check=True,
        capture_output=True,
    )


def test_outside_a_repository_it_says_so(project: Path) -> None:
    state = source_state(load_topology(project / "compose.yml"))
    assert state.commit is None
    assert state.describe().startswith("not a git checkout, build inputs ")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_in_a_repository_the_commit_and_whether_files_differ_from_it(project: Path) -> None:
    git(project, "init", "-q")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "x")
    clean = source_state(load_topology(project / "compose.yml"))
    assert clean.commit is not None
    assert len(clean.commit) == 40
    assert not clean.dirty
    assert clean.describe() == f"commit {clean.commit[:12]}, build inputs {clean.inputs[:12]}"
    (project / "main.go").write_text("package main\n\nfunc main() {}\n")
    dirty = source_state(load_topology(project / "compose.yml"))
    assert dirty.dirty
    assert "+ uncommitted changes" in dirty.describe()
    assert not dirty.same_build(clean), "a changed input is another build"


def test_the_build_inputs_hash_follows_inputs_contexts_and_build_args(project: Path) -> None:
    topology = load_topology(project / "compose.yml")
    first = source_state(topology)
    assert source_state(topology).same_build(first), "the same inputs hash the same"
    assert not source_state(topology, {"VARIANT": "race"}).same_build(first)
    (project / "notes.txt").write_text("in the build context")
    assert not source_state(topology).same_build(first)


def test_a_source_state_round_trips_and_a_bad_one_reads_as_none() -> None:
    state = SourceState("a" * 40, True, "f" * 64)
    assert SourceState.from_json(state.to_json()) == state
    assert SourceState.from_json({"commit": 3, "dirty": False, "inputs": "x"}) is None
    assert SourceState.from_json("nope") is None
