"""One Allure 3 report from the results of many shards (or of one run): ``python -m harness.merge``.

    python -m harness.merge --shards 2 --out allure-report shard-0/ shard-1/

Each shard's results directory (``--alluredir``) holds its tests' results and, written by
the plugin at the end of the run (:func:`harness.report.write_run_globals`), its run record:
a JSON summary of every invariant's verdicts, the faults fired, the explorations and
their coverage case by case, and what ended it early (an engine that did not answer).
The merge:

1. copies every shard's results into one directory (``--results``), leaving out each
   shard's own report-level attachments and environment.properties;
2. writes the whole run's: the invariant summary of all shards added up, the coverage of
   all explorations (a table of fault kinds by links and services, examples, what was
   found, per shard and in all), the merged run record, and as Global errors every shard
   that reported an error or no results at all; an environment.properties whose values
   name the shard they came from where shards differ;
3. runs ``allure generate`` with a config (``allurerc.json``) that keeps the history in
   ``--history`` (Allure 3's ``historyPath``: every night appends to it, so trends and a
   test's History tab span nights), groups failures by the invariant that broke
   (categories on the ``invariant`` label) and makes one self-contained ``index.html``,
   from which it removes the analytics tag the Awesome report loads from the internet.

It needs no pytest: a CI job that only merges installs the package and Allure 3 (npm
``allure@3``; ``--allure`` names the binary) and nothing else. Exit status: 0 when the
report was made, 1 when it could not be, 2 for bad arguments; a missing shard is reported
in the report (and on stderr), not a reason to make none.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.allure_files import (
    COVERAGE_NAME,
    INVARIANT_LABEL,
    RECORD_NAME,
    SUMMARY_NAME,
    format_properties,
    parse_properties,
    write_globals,
)
from harness.summary import RunSummary, merge_summaries, render_coverage, render_summary

__all__ = ["ALLURE_CATEGORIES", "ShardResults", "allurerc", "main", "merge_results", "read_shard"]

# Allure 3 categories (allurerc ``categories``): failures grouped by the invariant that
# broke first; failures of tests that broke none stay in Allure's own two categories.
ALLURE_CATEGORIES: list[dict[str, Any]] = [
    {
        "name": "Invariant broken",
        "matchers": {"statuses": ["failed", "broken"], "labels": {INVARIANT_LABEL: ".+"}},
        "groupBy": [{"label": INVARIANT_LABEL}],
        "groupByMessage": False,
        "expand": True,
    },
]


@dataclass
class ShardResults:
    """What one results directory holds: its files, its run records, its errors."""

    directory: Path
    files: list[Path] = field(default_factory=list)  # to copy into the merged results
    records: list[dict[str, Any]] = field(default_factory=list)  # one per process (xdist)
    errors: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    tests: int = 0  # *-result.json files

    @property
    def shards(self) -> list[str]:
        return sorted({str(r.get("shard", "0/1")) for r in self.records})


def read_shard(directory: Path) -> ShardResults:
    """Read a results directory; its own globals (and their attachments) are not copied."""
    shard = ShardResults(directory)
    if not directory.is_dir():
        shard.errors.append(f"{directory}: no such results directory")
        return shard
    own: set[str] = set()
    for path in sorted(directory.glob("*-globals.json")):
        own.add(path.name)
        try:
            globals_ = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            shard.errors.append(f"{path}: unreadable ({exc})")
            continue
        for attachment in globals_.get("attachments", []):
            name, source = attachment.get("name"), str(attachment.get("source", ""))
            if name not in (SUMMARY_NAME, COVERAGE_NAME, RECORD_NAME):
                continue  # not ours: copied as it is, with its globals file
            own.add(source)
            if name == RECORD_NAME:
                try:
                    shard.records.append(json.loads((directory / source).read_text("utf-8")))
                except (OSError, ValueError) as exc:
                    shard.errors.append(f"{directory / source}: unreadable run record ({exc})")
        shard.errors += [str(e.get("message", "")) for e in globals_.get("errors", [])]
    properties = directory / "environment.properties"
    if properties.is_file():
        shard.properties = parse_properties(properties.read_text("utf-8"))
        own.add(properties.name)
    shard.files = [p for p in sorted(directory.iterdir()) if p.is_file() and p.name not in own]
    shard.tests = sum(1 for p in shard.files if p.name.endswith("-result.json"))
    return shard


def _merged_properties(shards: Sequence[ShardResults]) -> dict[str, str]:
    """Every key of every shard; a value shards disagree on names each shard's."""
    keys: list[str] = []
    for shard in shards:
        keys += [key for key in shard.properties if key not in keys]
    merged = {}
    for key in keys:
        values = {
            (shard.shards[0] if shard.shards else shard.directory.name): shard.properties[key]
            for shard in shards
            if key in shard.properties
        }
        distinct = set(values.values())
        merged[key] = (
            distinct.pop()
            if len(distinct) == 1
            else "; ".join(f"{name}: {value}" for name, value in sorted(values.items()))
        )
    return merged


def merge_results(
    directories: Sequence[Path], target: Path, *, shards: int | None = None
) -> tuple[list[str], list[str]]:
    """Merge the results ``directories`` into ``target`` (emptied first); return the
    summary lines and the errors (shards that failed or sent nothing) it wrote there."""
    read = [read_shard(directory) for directory in directories]
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for shard in read:
        for path in shard.files:
            shutil.copy2(path, target / path.name)  # uuid names: no two shards collide

    records = [record for shard in read for record in shard.records]
    errors: list[str] = []
    for shard in read:
        for error in shard.errors:
            if error not in errors:
                errors.append(error)
        if not shard.tests and not shard.records and not shard.errors:
            errors.append(f"{shard.directory}: no test results (did this shard run?)")
    seen = {str(record.get("shard", "0/1")) for record in records}
    expected = shards or max((int(s.split("/")[1]) for s in seen), default=1)
    missing = [f"{k}/{expected}" for k in range(expected) if f"{k}/{expected}" not in seen]
    if expected == 1:
        missing = [] if records or any(s.tests for s in read) else ["0/1"]
    for name in missing:
        errors.append(
            f"shard {name}: no run record among {', '.join(str(d) for d in directories)}: it "
            "did not run, did not finish, or its results were not passed here; the report "
            "shows the other shards"
        )

    summary = merge_summaries(RunSummary.from_json(r.get("summary", {})) for r in records)
    seeds = sorted({int(r["seed"]) for r in records if "seed" in r})
    systems = sorted({str(r.get("system", "")) for r in records if r.get("system")})
    if expected > 1:
        lines = [
            f"shards: {len(seen)} of {expected} reported ({', '.join(sorted(seen))})"
            + (f"; missing: {', '.join(missing)}" if missing else "")
        ]
    else:
        processes = f"{len(records)} processes" if len(records) > 1 else "one process"
        lines = [f"one run, not sharded ({processes})" if records else "no run record"]
    for record in sorted(records, key=lambda r: str(r.get("shard"))) if expected > 1 else []:
        host = record.get("docker_host") or "this machine's engine"
        ended = [str(e) for e in record.get("errors", [])]
        lines.append(
            f"  shard {record.get('shard')}: seed {record.get('seed')}, engine {host}"
            + (f"; ENDED EARLY (see Global errors): {ended[0][:160]}" if ended else "")
        )
    if len(seeds) > 1:
        lines.append(
            f"  note: the shards ran with different seeds ({', '.join(map(str, seeds))}), so "
            "their parts are not of one plan and may overlap; give every shard the same "
            "--chaos-seed"
        )
    # Its last line says where the report is: the merge says that itself.
    body = render_summary(summary, seed=seeds[0] if seeds else 0, system=" | ".join(systems))
    if len(seeds) != 1:
        body[0] = f"seeds {', '.join(map(str, seeds)) or 'none recorded'}" + (
            f"; {' | '.join(systems)}" if systems else ""
        )
    lines += body[:-1]
    coverage = render_coverage(summary.explorations)
    merged_record = {
        "shards": sorted(seen),
        "expected": expected,
        "missing": missing,
        "records": records,
        "summary": summary.to_json(),
    }
    properties = _merged_properties(read)
    properties["shard"] = (
        f"{len(seen)} of {expected} merged ({', '.join(sorted(seen))})"
        if expected > 1
        else properties.get("shard", "none (the whole run)")
    )
    (target / "environment.properties").write_text(format_properties(properties), "utf-8")
    write_globals(
        target,
        [
            (SUMMARY_NAME, "\n".join(lines) + "\n", "text/plain", "txt"),
            (COVERAGE_NAME, "\n".join(coverage) + "\n", "text/plain", "txt"),
            (
                RECORD_NAME,
                json.dumps(merged_record, indent=2, default=str),
                "application/json",
                "json",
            ),
        ],
        errors,
    )
    return lines, errors


def allurerc(history: Path | None, name: str = "chaos-harness") -> dict[str, Any]:
    """Allure 3's config: history kept, failures grouped by invariant, one file."""
    config: dict[str, Any] = {
        "name": name,
        "categories": {"rules": ALLURE_CATEGORIES},
        "plugins": {"awesome": {"options": {"singleFile": True, "reportName": name}}},
    }
    if history is not None:
        config["historyPath"] = str(history)
    return config


def _strip_analytics(page: Path) -> None:
    """The Awesome report loads Google Analytics on every view and has no switch for it;
    the report needs nothing from outside, so the tag is taken out."""
    html = page.read_text(encoding="utf-8")
    html = re.sub(
        r'<script async src="https://www\.googletagmanager\.com/[^"]*"></script>\s*', "", html
    )
    html = re.sub(r"<script>\s*window\.dataLayer = .*?</script>\s*", "", html, flags=re.S)
    page.write_text(html, encoding="utf-8")


def generate(results: Path, out: Path, *, allure: str, config: Path) -> str | None:
    """Run ``allure generate``; None when the report was made, else why not."""
    if shutil.which(allure) is None and not Path(allure).is_file():
        return f"no Allure 3 at {allure!r}: `npm install allure@3` (scripts/merge-reports does)"
    if out.exists():
        shutil.rmtree(out)
    log = config.with_name("allure-generate.log")
    with log.open("w") as sink:
        done = subprocess.run(
            [allure, "generate", str(results), "-o", str(out), "--config", str(config)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=600,
        )
    if done.returncode != 0 or not (out / "index.html").is_file():
        return f"allure generate failed (exit {done.returncode}; see {log})"
    _strip_analytics(out / "index.html")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.merge",
        description="Merge the Allure results of a run's shards into one Allure 3 report.",
    )
    parser.add_argument("directories", nargs="+", type=Path, help="results directories")
    parser.add_argument("--shards", type=int, help="shards the run had (to name missing ones)")
    parser.add_argument("--out", type=Path, default=Path("allure-report"), help="report folder")
    parser.add_argument(
        "--results", type=Path, default=Path(".chaos/merged-results"), help="merged results"
    )
    parser.add_argument(
        "--history", type=Path, default=Path(".chaos/allure-history.jsonl"), help="history file"
    )
    parser.add_argument("--allure", default="node_modules/.bin/allure", help="Allure 3 binary")
    parser.add_argument("--name", default="chaos-harness", help="the report's name")
    args = parser.parse_args(argv)
    if args.shards is not None and not 1 <= args.shards <= 1000:
        parser.error(f"--shards {args.shards}: give the number of shards, 1 to 1000")
    if args.results.resolve() in {d.resolve() for d in args.directories}:
        parser.error(f"--results {args.results} is one of the inputs; name another folder")
    lines, errors = merge_results(args.directories, args.results, shards=args.shards)
    for error in errors:
        print(f"merge: {error}", file=sys.stderr)
    print("\n".join(lines))
    args.history.parent.mkdir(parents=True, exist_ok=True)
    config = args.results.parent / "allurerc.json"
    config.write_text(json.dumps(allurerc(args.history.resolve(), args.name), indent=2), "utf-8")
    why = generate(args.results, args.out, allure=args.allure, config=config)
    print(f"Allure results: {args.results}")
    if why is not None:
        print(f"Allure report:  not generated ({why})")
        return 1
    print(f"Allure report:  {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
