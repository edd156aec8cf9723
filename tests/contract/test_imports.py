"""The import rules of docs/architecture.md ("Import rules"), checked on the source.

The rules are read from the table in the document itself, so the written rules and the
checked ones cannot drift apart. Each import in the installable packages is classified by
where it sits: at module level (import time), inside a function (run time), or under
``if TYPE_CHECKING:`` (type hints only, never executed).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("harness", "faults")
WHEN = {"ever", "at run time", "at import time"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted (resolved for relative imports)
    line: int
    where: str  # "import time", "run time" or "type hints"


@dataclass(frozen=True)
class Rule:
    modules: tuple[str, ...]
    forbidden: tuple[str, ...]
    when: str
    exempt: tuple[str, ...] = ()

    def applies_to(self, module: str) -> bool:
        if any(_within(module, prefix) for prefix in self.exempt):
            return False
        return any(_within(module, prefix) for prefix in self.modules)

    def breaks(self, found: Import) -> bool:
        if not any(_within(found.target, prefix) for prefix in self.forbidden):
            return False
        if self.when == "ever":
            return True
        if self.when == "at run time":
            return found.where != "type hints"
        return found.where == "import time"


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def read_rules() -> list[Rule]:
    text = DOC.read_text()
    section = text.split("## Import rules", 1)[1].split("\n## ", 1)[0]
    rules = []
    for row in section.splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("modules", "") or set(cells[0]) <= {"-", " "}:
            continue
        modules, forbidden, when = cells
        modules, _, exempt = modules.partition(" except ")
        rules.append(
            Rule(
                tuple(re.findall(r"`([\w.]+)`", modules)),
                tuple(re.findall(r"`([\w.]+)`", forbidden)),
                when,
                tuple(re.findall(r"`([\w.]+)`", exempt)),
            )
        )
    return rules


def imports_of(path: Path, module: str | None = None) -> list[Import]:
    if module is None:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for inner in child.body:
                    visit_statement(inner, "type hints")
                for inner in child.orelse:
                    visit_statement(inner, where)
                continue
            visit_statement(child, where)

    def visit_statement(child: ast.AST, where: str) -> None:
        inner_where = (
            "run time"
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            else where
        )
        if isinstance(child, ast.Import):
            found.extend(Import(module, alias.name, child.lineno, where) for alias in child.names)
        elif isinstance(child, ast.ImportFrom):
            target = _resolve(child, package)
            found.append(Import(module, target, child.lineno, where))
            # `from harness import load` imports the submodule harness.load
            found.extend(
                Import(module, f"{target}.{alias.name}", child.lineno, where)
                for alias in child.names
            )
        visit(child, inner_where)

    visit(ast.parse(path.read_text(), str(path)), "import time")
    return found


def _resolve(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def all_imports() -> list[Import]:
    return [
        found
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for found in imports_of(path)
    ]


def test_the_document_states_rules_this_test_understands() -> None:
    rules = read_rules()
    assert len(rules) >= 5, f"no rules table found under '## Import rules' in {DOC}"
    for rule in rules:
        assert rule.modules, rule
        assert rule.forbidden, rule
        assert rule.when in WHEN, f"{rule}: say one of {sorted(WHEN)}"


@pytest.mark.parametrize("rule", read_rules(), ids=lambda r: f"{r.modules[0]}-{r.when}")
def test_no_module_breaks_an_import_rule(rule: Rule) -> None:
    broken = [
        f"{found.module} imports {found.target} at {found.where} (line {found.line})"
        for found in all_imports()
        if rule.applies_to(found.module) and rule.breaks(found)
    ]
    assert broken == [], f"{rule.modules} must never import {rule.forbidden} {rule.when}"


def test_the_checker_sees_imports_at_every_level(tmp_path: Path) -> None:
    # The checker itself must be able to fail: each kind of import is classified right.
    source = tmp_path / "probe.py"
    source.write_text(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import faults\n"
        "if TYPE_CHECKING:\n"
        "    from harness.load import LoadResult\n"
        "def f():\n"
        "    from . import report\n"
    )
    found = {(i.target, i.where) for i in imports_of(source, "harness.probe")}
    assert ("faults", "import time") in found
    assert ("harness.load", "type hints") in found
    assert ("harness.report", "run time") in found


def test_importing_the_faults_package_does_not_load_the_load_generator() -> None:
    # The same rule, observed in a real interpreter rather than read from the source.
    code = "import sys, faults, faults.strategies; print('harness.load' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "False"
