"""Throughput, per-stage time and memory of the in-process pipeline on a folder of photos.

    .venv/bin/python bench/pipeline_bench.py [DIR] [--out bench/results/pipeline.json]

Models are warmed up first on one person photo and one product photo (not counted).
Then every photo in DIR goes through catalog.runner.process_file into a temporary
folder, so decoding and writing the artifacts are timed too. Prints a table and writes
the same figures as JSON. Other work on the machine skews the figures: the load average
at the start and at the end is recorded so readers can judge the noise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from catalog.runner import process_file
from services.detect.evidence import may_show_people, person_matte
from shared.domain.records import ImageRecord, Options
from shared.infra.imageio import ImageError, collect_photos, read_image

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = PROJECT_ROOT.parent / "shared" / "testdata" / "public"
DEFAULT_OUT = PROJECT_ROOT / "bench" / "results" / "pipeline.json"
STAGES = ("detect", "pose", "segment", "classify", "color")
OVERHEAD = "decode+write"  # total minus the stage sum: decoding, writing artifacts, cutouts, preview
GROUPS = ("person", "product", "all")


# --- the machine and the process --------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def machine() -> dict:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": package_version("onnxruntime"),
        "torch": package_version("torch"),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def rss_mib() -> float:
    """Current resident set size (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)  # kB
    return float("nan")


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- running the photos -------------------------------------------------------------------


def warmup_photos(paths: list[Path]) -> list[Path]:
    """The first photo that may show people and the first that does not (detect's decision)."""
    chosen: dict[str, Path] = {}
    for path in paths:
        try:
            kind = "person" if may_show_people(person_matte(read_image(path))) else "product"
        except ImageError:
            continue
        chosen.setdefault(kind, path)
        if len(chosen) == 2:
            break
    return list(chosen.values())


def warm_up(paths: list[Path], options: Options) -> float:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-warmup-") as tmp:
        for i, path in enumerate(paths):
            process_file(path, Path(tmp), f"warmup-{i}", options)
    return time.perf_counter() - start


def timed_run(paths: list[Path], options: Options) -> tuple[list[dict], float]:
    """process_file on every photo; one row per photo, and the wall time of the whole run."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        run_start = time.perf_counter()
        for i, path in enumerate(paths):
            start = time.perf_counter()
            record = process_file(path, Path(tmp), f"photo-{i:03d}", options)
            rows.append(photo_row(path, record, time.perf_counter() - start))
        wall = time.perf_counter() - run_start
    return rows, wall


def photo_row(path: Path, record: ImageRecord, seconds: float) -> dict:
    stages = {s: record.timings_ms[s] for s in STAGES if s in record.timings_ms}
    total_ms = seconds * 1000
    return {
        "file": path.name,
        "status": record.status,
        "error": record.error,
        "kind": record.kind,
        "items": len(record.items),
        "seconds": round(seconds, 4),
        "stages_ms": stages,
        "overhead_ms": round(total_ms - sum(stages.values()), 1),
    }


# --- figures --------------------------------------------------------------------------------


def describe(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "mean": None, "median": None}
    return {"n": len(values), "mean": round(statistics.fmean(values), 1), "median": round(statistics.median(values), 1)}


def stage_stats(rows: list[dict]) -> dict:
    """Per group (person, product, all): ms per image for each stage, over the photos where it ran."""
    ok = [r for r in rows if r["status"] == "ok"]
    stats = {}
    for group in GROUPS:
        members = [r for r in ok if group == "all" or r["kind"] == group]
        per_stage = {s: describe([r["stages_ms"][s] for r in members if s in r["stages_ms"]]) for s in STAGES}
        per_stage[OVERHEAD] = describe([r["overhead_ms"] for r in members])
        per_stage["total"] = describe([r["seconds"] * 1000 for r in members])
        stats[group] = per_stage
    return stats


def throughput(rows: list[dict], wall: float) -> dict:
    seconds = [r["seconds"] for r in rows]
    return {
        "photos": len(rows),
        "wall_s": round(wall, 2),
        "images_per_s": round(len(rows) / wall, 3) if wall else None,
        "mean_s": round(statistics.fmean(seconds), 3),
        "p50_s": round(float(np.percentile(seconds, 50)), 3),
        "p90_s": round(float(np.percentile(seconds, 90)), 3),
    }


# --- output ---------------------------------------------------------------------------------


def fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def stage_table(stats: dict) -> Table:
    table = Table(title="ms per image, over the photos where the stage ran (n)")
    table.add_column("stage")
    for group in GROUPS:
        table.add_column(f"{group} mean", justify="right")
        table.add_column("median", justify="right")
        table.add_column("n", justify="right", style="dim")
    for stage in (*STAGES, OVERHEAD, "total"):
        cells = []
        for group in GROUPS:
            s = stats[group][stage]
            cells += [fmt(s["mean"]), fmt(s["median"]), str(s["n"])]
        table.add_row(stage, *cells, end_section=stage in (STAGES[-1], OVERHEAD))
    return table


def print_report(console: Console, report: dict) -> None:
    m, t, mem, load = report["machine"], report["throughput"], report["memory_mib"], report["load_average"]
    console.print(
        f"[bold]{m['cpu']}[/], {m['cores']} cores; python {m['python']}, "
        f"onnxruntime {m['onnxruntime']}, torch {m['torch']}; {m['date']}"
    )
    console.print(
        f"photos: {report['dir']} ({t['photos']}; "
        f"{report['counts']['person']} person, {report['counts']['product']} product, "
        f"{report['counts']['failed']} failed)"
    )
    console.print(
        f"warm-up: {', '.join(report['warmup']['photos'])} in {report['warmup']['seconds']:.1f} s (not counted)"
    )
    console.print(stage_table(report["stages_ms"]))
    console.print(
        f"whole pipeline: [bold]{t['images_per_s']:.3f} images/s[/] ({t['photos']} photos in {t['wall_s']:.1f} s); "
        f"per photo mean {t['mean_s']:.2f} s, p50 {t['p50_s']:.2f} s, p90 {t['p90_s']:.2f} s"
    )
    console.print(
        f"memory: peak RSS {mem['peak_rss']:.0f} MiB; RSS after warm-up {mem['rss_after_warmup']:.0f} MiB, "
        f"at the end {mem['rss_end']:.0f} MiB"
    )
    console.print(f"load average (1/5/15 min): start {load['start']}, end {load['end']}")
    for r in report["per_photo"]:
        if r["status"] != "ok":
            console.print(f"[red]failed[/] {r['file']}: {r['error']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR, help="folder of photos")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file for the figures")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 120)  # no wrapping when piped
    load_start = load_average()
    paths = collect_photos([args.dir])
    if not paths:
        console.print(f"[red]no photos in {args.dir}[/]")
        return 1
    options = Options()

    warm = warmup_photos(paths)
    warm_seconds = warm_up(warm, options)
    rss_after_warmup = rss_mib()

    rows, wall = timed_run(paths, options)
    report = {
        "machine": machine(),
        "dir": str(args.dir),
        "load_average": {"start": load_start, "end": load_average()},
        "warmup": {"photos": [p.name for p in warm], "seconds": round(warm_seconds, 2)},
        "counts": {
            "person": sum(r["kind"] == "person" and r["status"] == "ok" for r in rows),
            "product": sum(r["kind"] == "product" and r["status"] == "ok" for r in rows),
            "failed": sum(r["status"] != "ok" for r in rows),
        },
        "throughput": throughput(rows, wall),
        "stages_ms": stage_stats(rows),
        "memory_mib": {"peak_rss": peak_rss_mib(), "rss_after_warmup": rss_after_warmup, "rss_end": rss_mib()},
        "per_photo": rows,
    }
    print_report(console, report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
