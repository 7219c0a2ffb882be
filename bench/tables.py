"""Print the figures of bench/results/*.json as the Markdown tables of bench/README.md.

    .venv/bin/python bench/tables.py [NAME ...]

NAME: segment_vs_rembg, pose_overhead, color_vs_colorthief, flops, memory_soak,
thread_handoff (all of them, in that order, by default).

Run it after a benchmark and paste its table over the old one in the README.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def head(r: dict) -> str:
    m = r["machine"]
    return (
        f"_{r['date']}, {m['cpu']} ({m['cores']} cores, {m['cpu_mhz']} MHz), load average "
        f"{r['loadavg_start'][0]} at start, {r['loadavg_end'][0]} at end, code {r.get('code', '?')}. "
        f"Command: `{r['command']}`_\n"
    )


def ms(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def segment_vs_rembg() -> str:
    r = load("segment_vs_rembg")
    rows = []
    for side in ("fp32", "int8", "int8-only", "rembg"):
        e = r[side]
        quality = e.get("iou_vs_fp32", {"mean": 1, "min": 1, "worst_photo": "reference"})
        rows.append(
            [
                side,
                *(ms(e["ms"][k]) for k in ("median", "mean", "p90")),
                f"{e['time_vs_rembg']}x",
                f"{e['rss_after_load_mib']:.0f}",
                f"{e['peak_rss_mib']:.0f}",
                quality["mean"],
                f"{quality['min']} ({quality['worst_photo']})",
            ]
        )
    return (
        head(r)
        + "\n"
        + table(
            [
                "",
                "median ms",
                "mean ms",
                "p90 ms",
                "time vs rembg",
                "RSS after load MiB",
                "peak RSS MiB",
                "IoU mean",
                "IoU min",
            ],
            rows,
        )
    )


def pose_overhead() -> str:
    r = load("pose_overhead")
    rows = [
        [side, r[side]["what"], *(ms(r[side]["ms"][k]) for k in ("median", "mean", "p90"))]
        for side in ("ours", "direct")
    ]
    c, ratio = r["model_calls"], r["ratio_ours_over_direct"]
    return (
        head(r)
        + "\n"
        + table(["", "what", "median ms", "mean ms", "p90 ms"], rows)
        + f"\nours / direct: {ratio['median_of_per_photo']}x (median per photo), {ratio['total_time']}x (total). "
        f"Model calls: {c['total']} for {r['photos']} photos, {c['extra_over_one_per_photo']} more than one per "
        f"photo ({c['margin_retries']} margin retries on photos where the first call found no one, the rest "
        f"re-searches after a person was found); calls per photo {c['histogram']}. "
        f"{r['ours_time_in_model_share']:.1%} of our time is inside the model calls.\n"
    )


def color_vs_colorthief() -> str:
    r = load("color_vs_colorthief")
    rows = []
    for variant, s in r["summary"].items():
        groups = s["median_de_by_group"]
        rows.append(
            [
                f"`{variant}`",
                r["variants"][variant],
                ms(s["ms"]["median"]),
                ms(s["ms"]["mean"]),
                f"{s['de2000']['median']:.1f}",
                f"{s['de2000']['p90']:.1f}",
                f"{s['share_de_below_5']:.0%}",
                " / ".join(f"{groups[g]:.1f}" for g in groups),
            ]
        )
    return (
        head(r)
        + "\n"
        + table(
            [
                "variant",
                "what",
                "median ms",
                "mean ms",
                "dE00 median",
                "dE00 p90",
                "dE00 < 5",
                "median dE00 saturated / dark / light / desaturated",
            ],
            rows,
        )
        + f"\n{r['cases']} cases, seed {r['seed']}, noise sigma {r['noise_sigma']}, photos scaled to at most "
        f"{r['max_side']} px. The loose mask of `ours-loose` is a median "
        f"{r.get('loose_mask_background_share_median', float('nan')):.0%} background pixels.\n"
    )


def flops() -> str:
    r = load("flops")
    t, m = r["peak"]["theoretical"], r["peak"]["measured"]
    rows = [
        [
            name,
            x["input"],
            f"{x['conv_flops'] / 1e9:.2f}",
            f"{x['element_ops_total'] / 1e6:.0f}" if isinstance(x.get("element_ops_total"), int) else "n/c",
            ms(x["ms"]),
            f"{x['achieved_gflops']:.1f}",
            f"{x['share_of_theoretical_peak']:.0%}",
            f"{x['share_of_measured_peak']:.0%}",
        ]
        for name, x in r["models"].items()
    ]
    peak = (
        f"\nPeak, theoretical: {t['cores']} cores x {t['clock_ghz']} GHz x {t['flops_per_cycle_per_core']} "
        f"FLOPs/cycle = **{t['gflops']} GFLOP/s** ({t['assumption']}; clock {t['clock_source']}; at the "
        f"nominal {t.get('nominal_clock_ghz')} GHz of /proc/cpuinfo it would be {t.get('gflops_at_nominal_clock')}).\n"
        f"Peak, measured: {m['how']}: numpy {m['numpy_gflops']}, torch {m['torch_gflops']} GFLOP/s "
        f"(**{m['gflops']}** used for '% meas').\n"
    )
    for name, x in r["models"].items():
        if "achieved_gflops_nonzero_weights" in x:
            peak += (
                f"{name}: its filters are stored sparse; counting nonzero weights only it is "
                f"{x['conv_flops_nonzero_weights'] / 1e9:.2f} GFLOPs, "
                f"{x['achieved_gflops_nonzero_weights']:.1f} GFLOP/s.\n"
            )
    if fma := m.get("fma_microbench"):
        peak += (
            f"FMA microbenchmark: clock {fma['clock_ghz']} GHz, {fma['fma_gflops_1_thread']} GFLOP/s on one "
            f"thread = {fma['flops_per_cycle_per_core']} FLOPs/cycle/core, {fma['gflops']} GFLOP/s on all cores.\n"
        )
    return (
        head(r)
        + "\n"
        + table(
            [
                "model",
                "input",
                "GFLOPs / image",
                "element Mops",
                "ms (model call, median)",
                "GFLOP/s",
                "% theoretical peak",
                "% measured peak",
            ],
            rows,
        )
        + peak
    )


def memory_soak() -> str:
    r = load("memory_soak")
    rows = [[s["photos"], s["rss_mib"], s["when"]] for s in r["samples"]]
    return (
        head(r)
        + "\n"
        + table(["photos done", "RSS MiB", "when"], rows)
        + f"\n{r['photos_done']} photos ({r['distinct_photos']} distinct, cycled; {r['failed']} failed), "
        f"{r.get('wall_s', '?')} s. Peak RSS **{r['peak_rss_mib']} MiB**. Growth from warm-up to end: "
        f"**{r['growth_warmup_to_end_mib']} MiB** ({r['growth_per_100_photos_mib']} MiB per 100 photos; "
        f"least-squares slope {r['slope_per_100_photos_mib']} MiB per 100 photos); from the end of the first "
        f"pass over all {r['distinct_photos']} photos to the end: **{r.get('growth_first_cycle_to_end_mib')} MiB**. "
        f"Seconds per photo: median "
        f"{r['seconds_per_photo']['median']}, mean {r['seconds_per_photo']['mean']}.\n"
    )


def thread_handoff() -> str:
    r = load("thread_handoff")
    conditions = ("idle", "after-isnet", "after-isnet-nospin")
    calls = dict.fromkeys(k.split(" | ")[0] for k in r["median_ms"])
    cell = lambda k: f"{r['median_ms'][k]:.0f} ({r['range_ms'][k]})" if k in r["median_ms"] else ""  # noqa: E731
    rows = [[f"`{call}`", *(cell(f"{call} | {c}") for c in conditions)] for call in calls]
    return head(r) + "\n" + table(["call", *(f"{c}: median (min-max) ms" for c in conditions)], rows)


if __name__ == "__main__":
    names = sys.argv[1:] or [
        "segment_vs_rembg",
        "pose_overhead",
        "color_vs_colorthief",
        "flops",
        "memory_soak",
        "thread_handoff",
    ]
    if any(n.startswith("-") for n in names):
        sys.exit(__doc__)
    for name in names:
        print(f"### {name}\n\n{globals()[name]()}")
