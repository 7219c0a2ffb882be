"""How many photos of a folder each built-in style guide can follow, and why the others
cannot: the skipped outputs' reasons, counted.

    .venv/bin/python bench/style_coverage.py [DIR] [--out bench/results/style_coverage.json]

Each photo goes through detect and pose once (the steps the workers run), then the pose
service's garment_items frames it with every built-in guide, the very code a job with that
guide runs. Segment and color are left out: they do not change which outputs a guide can
make (a product photo always gets its packshot where the guide has a product rule).
A person photo counts as satisfied when every output the guide asks for is made for every
person found."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from services.pose.garments import garment_items
from shared.domain.records import Options, Person
from shared.domain.styles import builtin_guides
from shared.engine.photo_state import PhotoState
from shared.engine.stage import Artifacts, StepContext, run_stage_steps
from shared.infra.imageio import collect_photos, read_image
from shared.infra.storage import memory_store

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = PROJECT_ROOT.parent / "shared" / "testdata" / "public"
DEFAULT_OUT = PROJECT_ROOT / "bench" / "results" / "style_coverage.json"


def people_of(path: Path) -> tuple[np.ndarray, list[Person]]:
    """The photo, and the people pose confirms on it (empty for a product photo)."""
    rgb = read_image(path)
    store = memory_store()
    files = Artifacts(store, "out", "photo", store, "work")
    ctx = StepContext(
        PhotoState(source=path.name, slug="photo"), files, load_photo=lambda: rgb, load_options=Options, _rgb=rgb
    )
    run_stage_steps("detect", ctx)
    if ctx.state.next_stage("detect") == "pose":
        run_stage_steps("pose", ctx)
    return rgb, ctx.state.people


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    photos = collect_photos([args.folder])
    seen = [(path.name, *people_of(path)) for path in photos]
    persons = [s for s in seen if s[2]]
    guides: dict[str, dict[str, Any]] = {}
    report = {"folder": str(args.folder), "photos": len(seen), "person_photos": len(persons), "guides": guides}
    table = Table(title=f"Built-in style guides on {len(seen)} photos of {args.folder.name}/")
    for column in ("guide", "person photos satisfied", "product photos styled", "why the others could not"):
        table.add_column(column)
    for name, guide in builtin_guides().items():
        options = Options(style=guide)
        satisfied = 0
        reasons: Counter[str] = Counter()
        failed_photos: dict[str, list[str]] = {}
        for source, rgb, people in persons:
            _, skipped = garment_items(rgb, people, options)
            if skipped:
                failed_photos[source] = [f"{s.output} of person {s.person}: {s.reason}" for s in skipped]
                reasons.update({s.reason for s in skipped})
            else:
                satisfied += 1
        products = len(seen) - len(persons)
        styled = products if guide.product else 0
        guides[name] = {
            "person_photos_satisfied": satisfied,
            "product_photos_styled": styled,
            "reasons": dict(reasons.most_common()),
            "failed": failed_photos,
        }
        why = "; ".join(f"{r} ({n})" for r, n in reasons.most_common()) or "-"
        table.add_row(name, f"{satisfied}/{len(persons)}", f"{styled}/{products}", why)
    Console(width=200).print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
