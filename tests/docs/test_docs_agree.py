"""The docs agree with the code where that can be checked cheaply.

These tests read the docs (every Markdown file git tracks) and the code (``pytest --help``,
the files in the work tree); they hold no list of today's names, so a new option or a
moved module shows up here when its docs were not updated:

- the README's option table and the ``chaos-harness`` group of ``pytest --help`` name the
  same options, each with its ``chaos_`` ini key; any ``--chaos-…`` a doc names exists;
- every repository path a doc names in backticks or runs in a code block exists, and
  every ``python -m MODULE`` names a module of the repository.

What counts as a repository path: a token like ``harness/load.py``, ``suites/``,
``scripts/check-report`` or ``go.mod`` (a bare name with a file extension), whose first
folder is an entry of the repository root or of the doc's own folder (so Go import paths
such as ``log/slog`` are not). Paths git ignores (build outputs such as ``compose/bin/``,
local state such as ``.chaos/``) and paths leading out of the repository (``../shared/``)
are not checked. A path may be written from the repository root or from the doc's folder.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
OPTION = re.compile(r"--chaos-[a-z0-9-]*[a-z0-9]")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
PATH = re.compile(r"(?:\.\.?/)*[\w.-]+(?:/[\w.*-]+)*/?")
FILE_EXTENSIONS = frozenset(
    {"py", "md", "sh", "yml", "yaml", "json", "jsonl", "toml", "cfg", "ini", "txt", "go"}
    | {"mod", "sum", "patch", "html", "js", "mjs", "png"}
)
PYTHON_MODULE = re.compile(r"python3?\s+-m\s+([\w.]+)")


@functools.cache
def _pytest_help() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def _help_options() -> set[str]:
    """Options of the ``chaos-harness`` group of ``pytest --help``."""
    options: set[str] = set()
    inside = False
    for line in _pytest_help().splitlines():
        if line and not line[0].isspace():  # a group's title
            inside = line.startswith("chaos-harness")
            continue
        match = re.match(r"  (--[\w-]+)", line)
        if inside and match:
            options.add(match.group(1))
    assert options, "pytest --help shows no chaos-harness group: is the plugin installed?"
    return options


def _help_ini_keys() -> set[str]:
    return set(re.findall(r"^  (chaos_\w+) \(", _pytest_help(), flags=re.MULTILINE))


def _table_options(text: str) -> set[str]:
    """The options of a doc's option table: rows whose first cell is a ``--chaos-…`` flag."""
    options = set()
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and (match := re.match(r"`(--chaos-[\w-]+)", cells[0])):
            options.add(match.group(1))
    return options


@functools.cache
def _docs() -> tuple[Path, ...]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git work tree: the tracked docs are unknown")
    return tuple(ROOT / name for name in listed)


def _snippets(doc: Path) -> list[tuple[int, str]]:
    """(line number, text) of every inline code span and every line of a code block."""
    found = []
    in_block = False
    for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            in_block = not in_block
        elif in_block:
            found.append((number, line))
        else:
            found.extend((number, span) for span in INLINE.findall(line))
    return found


def _tokens(snippet: str) -> list[str]:
    command = re.split(r"(?:^|\s)#", snippet, maxsplit=1)[0]  # not a shell comment
    return [token.rstrip(".,;:") for token in command.split()]


@functools.cache
def _ignored(relative: str) -> bool:
    done = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", relative], cwd=ROOT, check=False
    )
    return done.returncode == 0


@functools.cache
def _tracked_names() -> frozenset[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return frozenset(Path(name).name for name in listed)


def _missing_path(token: str, folder: Path) -> str | None:
    """Why ``token``, named in a doc in ``folder``, is a repository path that is not there
    (None when it is there, or is not a repository path)."""
    if not PATH.fullmatch(token) or "..." in token or token in (".", ".."):
        return None
    bare = "/" not in token
    if bare and ("." not in token or token.rsplit(".", 1)[-1] not in FILE_EXTENSIONS):
        return None  # a word, a module or a Go identifier, not a file name
    first = re.sub(r"^(?:\.\.?/)+", "", token).split("/", 1)[0]
    bases = (folder, ROOT)
    ours = token.startswith("..") or any((base / first).exists() for base in bases)
    if not bare and not ours:
        return None  # not under any folder of ours: an import path, a URL path...
    for base in bases:
        resolved = (base / token).resolve()
        if not resolved.is_relative_to(ROOT):
            return None  # out of the repository: not ours to check
        relative = str(resolved.relative_to(ROOT))
        if _ignored(relative) or _ignored(relative + "/"):
            return None  # a build output or local state, there only after a run
        if any(ROOT.glob(relative)) if "*" in relative else resolved.exists():
            return None
    if bare and token in _tracked_names():
        return None  # a generic file name ("a conftest.py") that the repository has
    where = "the root" if folder == ROOT else f"{folder.relative_to(ROOT)}/ or the root"
    return f"{token} (from {where})"


def _doc_id(doc: Path) -> str:
    return str(doc.relative_to(ROOT))


def test_the_readme_option_table_is_the_plugins_option_group() -> None:
    table = _table_options(README.read_text(encoding="utf-8"))
    options = _help_options()
    assert table, "README.md has no option table (rows starting with | `--chaos-…`)"
    assert (sorted(options - table), sorted(table - options)) == ([], []), (
        f"in pytest --help but not in README's table: {sorted(options - table)}; "
        f"in README's table but not in pytest --help: {sorted(table - options)}"
    )


def test_every_option_has_its_ini_key() -> None:
    wanted = {
        "chaos_" + option.removeprefix("--chaos-").replace("-", "_") for option in _help_options()
    }
    missing = wanted - _help_ini_keys()
    assert not missing, f"options without their ini key in pytest --help: {sorted(missing)}"


def test_every_option_a_doc_names_exists() -> None:
    options = _help_options()
    unknown = {
        f"{_doc_id(doc)}: {option}"
        for doc in _docs()
        for option in OPTION.findall(doc.read_text(encoding="utf-8"))
        if option not in options
    }
    assert not unknown, f"options the docs name that pytest --help does not: {sorted(unknown)}"


def test_every_repository_path_a_doc_names_exists() -> None:
    missing = []
    for doc in _docs():
        for number, snippet in _snippets(doc):
            for token in _tokens(snippet):
                if (why := _missing_path(token, doc.parent)) is not None:
                    missing.append(f"{_doc_id(doc)}:{number}: {why}")
    assert not missing, "paths the docs name that do not exist:\n" + "\n".join(missing)


def test_every_python_module_a_doc_runs_exists() -> None:
    missing = []
    for doc in _docs():
        for number, snippet in _snippets(doc):
            for module in PYTHON_MODULE.findall(snippet):
                path = ROOT / module.replace(".", "/")
                if not (path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()):
                    missing.append(f"{_doc_id(doc)}:{number}: python -m {module}")
    assert not missing, "modules the docs run that do not exist:\n" + "\n".join(missing)


def test_every_harness_module_is_in_the_architecture_table() -> None:
    """docs/architecture.md names every module and subpackage of harness/ (one concern each)."""
    named = set(re.findall(r"`(harness/[\w/.]+)`", (ROOT / "docs" / "architecture.md").read_text()))
    harness = ROOT / "harness"
    modules = {f"harness/{path.name}" for path in harness.glob("*.py") if path.stem != "__init__"}
    modules |= {f"harness/{path.parent.name}/" for path in harness.glob("*/__init__.py")}
    missing = sorted(modules - named)
    assert not missing, f"harness modules docs/architecture.md does not name: {missing}"


def _variable_tables() -> dict[Path, set[str]]:
    """Docs with a table whose first column is ``variable``: the names in that column."""
    tables: dict[Path, set[str]] = {}
    for doc in _docs():
        names: set[str] | None = None
        for line in doc.read_text(encoding="utf-8").splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not line.lstrip().startswith("|"):
                names = None
            elif cells[0].lower() == "variable":
                names = tables.setdefault(doc, set())
            elif names is not None and (match := re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[0])):
                names.add(match.group(1))
    return tables


def test_every_environment_variable_table_is_what_the_go_code_reads() -> None:
    """A doc's table of environment variables names exactly those its Go services read."""
    read = re.compile(r'(?:\b[Ee]nv\.\w+|os\.(?:Getenv|LookupEnv))\(\s*"([A-Z][A-Z0-9_]*)"')
    for doc, documented in _variable_tables().items():
        code = {
            name
            for path in doc.parent.rglob("*.go")
            if not path.name.endswith("_test.go") and not _ignored(str(path.relative_to(ROOT)))
            for name in read.findall(path.read_text(encoding="utf-8"))
        }
        assert (sorted(code - documented), sorted(documented - code)) == ([], []), (
            f"{_doc_id(doc)}: read by the Go code but not in the table: "
            f"{sorted(code - documented)}; in the table but read by no Go code: "
            f"{sorted(documented - code)}"
        )
