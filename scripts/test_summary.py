#!/usr/bin/env python3
"""The one summary `make test` ends with: what each pytest pass did, and what did not run.

    scripts/test_summary.py RESULTS_DIR

RESULTS_DIR (scripts/test.sh) holds, for each pass NAME in PASSES, either NAME.xml (pytest's
--junitxml) and NAME.rc (its exit code), or NAME.not-run (one line: why it did not run); and
`notes`: lines the run wants seen (a missing PostgreSQL or redis-server). Only the standard library: it runs whatever pytest
left, even after a failure.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

PASSES = (("sqlite", "SQLite pass"), ("postgresql", "PostgreSQL pass"))


def counts(xml_path: Path) -> dict[str, float]:
    """Totals over the test suites of one junit xml file."""
    root = ET.parse(xml_path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = {"tests": 0.0, "failures": 0.0, "errors": 0.0, "skipped": 0.0, "time": 0.0}
    for suite in suites:
        for key in total:
            total[key] += float(suite.get(key, 0))
    return total


def describe(results: Path, name: str) -> str:
    xml_path, not_run = results / f"{name}.xml", results / f"{name}.not-run"
    if xml_path.exists():
        c = counts(xml_path)
        passed = c["tests"] - c["failures"] - c["errors"] - c["skipped"]
        minutes, seconds = divmod(round(c["time"]), 60)
        rc_path = results / f"{name}.rc"
        rc = rc_path.read_text().strip() if rc_path.exists() else "0"
        return (
            f"{int(passed)} passed, {int(c['failures'])} failed, {int(c['errors'])} errors, "
            f"{int(c['skipped'])} skipped of {int(c['tests'])} selected, in {minutes}m{seconds:02d}s"
            + ("" if rc == "0" else f"; pytest exited with {rc}")
        )
    if not_run.exists():
        return "did NOT run: " + not_run.read_text().strip()
    return "did NOT run: an earlier step failed"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    results = Path(argv[1])
    print("== summary")
    for name, label in PASSES:
        print(f"{label + ':':17} {describe(results, name)}")
    notes = results / "notes"
    if notes.exists():
        for line in notes.read_text().splitlines():
            print(f"{'note:':17} {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
