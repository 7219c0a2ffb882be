"""Fit the product's confidence (shared/domain/data/confidence.json) on labelled photos.

    .venv/bin/catalog eval LABELS... --images DIR... --report report.json
    .venv/bin/python scripts/fit_confidence.py report.json

Reads a `catalog eval` report: the raw share of the evidence each product's category held,
each labelled colour's measures, and whether each was right. Fits the category's Platt
scaling and the colour regression on every labelled photo of the report, with each flag
threshold chosen for its stated precision (catalog/crossfit.py), and writes them. The
report's own cross-fit figures say how the fit does on photos it was not fitted on; run
`catalog eval` again after a refit to see the shipped fit's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from catalog.crossfit import fitted_file
from shared.domain.confidence import CONFIDENCE_FILE, confidence_from


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a `catalog eval` report (--report)")
    parser.add_argument("--out", type=Path, default=CONFIDENCE_FILE)
    args = parser.parse_args()
    report = json.loads(args.report.read_text())
    sets = report["sets"] if "sets" in report else {args.report.stem: report}
    data = fitted_file({name: {"products": r["products"], "colours": r["colours"]} for name, r in sets.items()})
    confidence_from(data)  # the product reads it back
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
