"""Our ISNet matte (services.segment.logic.matte) against rembg on the very same model file.

    .venv/bin/python bench/segment_vs_rembg.py [--photos DIR] [--out FILE]

rembg runs its `dis_custom` session on models/isnet-medium-fp32.onnx (REMBG_HOME is
pointed at our models folder, so rembg accepts the path and downloads nothing), through
`rembg.remove(rgb, session=..., only_mask=True)`, the call its users make.

Each side lives in its own worker process (`--worker ours|rembg`) so that the peak RSS of
each is its own. The parent drives both over pipes, photo by photo (ours, then rembg, on
the same decoded photo), so both see the same machine load. Each worker warms up on one
photo first (not counted); the time is the mask call alone (decoding and saving are not
timed). Masks are compared at alpha 0.5: ours is `alpha > 0.5`; rembg's 8-bit mask, which
it stretches min-max per photo, is `mask > 127`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402


# --- the workers --------------------------------------------------------------------------


def _mask_fn(side: str):
    """Load one side's model; return a function rgb -> boolean mask at alpha 0.5."""
    from services.segment.models import isnet_session
    from shared.models import ISNET, check_file

    if side == "ours":
        from services.segment.logic import matte

        isnet_session()  # load now (matte() loads it lazily), so "RSS after load" means the same on both sides
        return lambda rgb: matte(rgb) > 0.5
    path = check_file(ISNET)
    os.environ["REMBG_HOME"] = str(path.parent)  # rembg only accepts model paths under its home
    import rembg

    session = rembg.new_session("dis_custom", model_path=str(path))
    return lambda rgb: rembg.remove(rgb, session=session, only_mask=True) > 127


def worker(side: str) -> None:
    """Read one JSON request per line from stdin, answer one JSON line on stdout."""
    from shared.imageio import read_image

    protocol = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints must not garble the protocol
    start = time.perf_counter()
    mask_of = _mask_fn(side)
    load_s = time.perf_counter() - start
    rss_loaded = _common.rss_mib()
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("quit"):
            answer = {"peak_rss_mib": _common.peak_rss_mib(), "rss_after_load_mib": rss_loaded,
                      "rss_end_mib": _common.rss_mib(), "load_s": round(load_s, 2)}
        else:
            rgb = read_image(Path(request["photo"]))
            t = time.perf_counter()
            mask = mask_of(rgb)
            ms = (time.perf_counter() - t) * 1000
            if request.get("save"):
                np.save(request["save"], mask)
            answer = {"ms": round(ms, 1), "shape": list(mask.shape)}
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()
        if request.get("quit"):
            return


class Worker:
    def __init__(self, side: str, env: dict | None = None):
        self.side = side
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", side],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            env={**os.environ, **(env or {})},
        )

    def ask(self, **request) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.side} died")
        return json.loads(line)

    def close(self) -> dict:
        answer = self.ask(quit=True)
        self.proc.wait()
        return answer


# --- the comparison -----------------------------------------------------------------------


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=("ours", "rembg"), help=argparse.SUPPRESS)
    parser.add_argument("--photos", type=Path, default=_common.PHOTOS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)

    record = _common.header("segment_vs_rembg")
    record["versions"] = _common.versions("onnxruntime", "rembg", "numpy", "opencv-python-headless", "pillow")
    paths = _common.photos(args.photos)
    sides = ("ours", "rembg")
    workers = {side: Worker(side) for side in sides}
    for w in workers.values():  # warm-up, not counted
        w.ask(photo=str(paths[0]))

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(paths):
            row = {"photo": path.name}
            for side in sides:
                save = f"{tmp}/{side}.npy"
                row[f"{side}_ms"] = workers[side].ask(photo=str(path), save=save)["ms"]
            ours, theirs = np.load(f"{tmp}/ours.npy"), np.load(f"{tmp}/rembg.npy")
            row["iou"] = round(iou(ours, theirs), 4)
            row["ours_fg_share"] = round(float(ours.mean()), 4)
            row["rembg_fg_share"] = round(float(theirs.mean()), 4)
            row["ratio_rembg_over_ours"] = round(row["rembg_ms"] / row["ours_ms"], 2)
            rows.append(row)
            print(f"[{i + 1}/{len(paths)}] {path.name}: ours {row['ours_ms']:.0f} ms, "
                  f"rembg {row['rembg_ms']:.0f} ms, IoU {row['iou']:.3f}", flush=True)
    memory = {side: w.close() for side, w in workers.items()}
    # Memory only: ours once more with CATALOG_DEVICE=cpu. With the default "auto",
    # shared.models.use_cuda() imports torch just to ask for CUDA, and torch is most of
    # the RSS of a worker that only segments.
    probe = Worker("ours", env={"CATALOG_DEVICE": "cpu"})
    for path in paths:  # the same photos, so its peak compares with the others'
        probe.ask(photo=str(path))
    memory["ours_device_cpu"] = probe.close()

    worst = min(rows, key=lambda r: r["iou"])
    ours_ms = _common.summary([r["ours_ms"] for r in rows])
    rembg_ms = _common.summary([r["rembg_ms"] for r in rows])
    ious = [r["iou"] for r in rows]
    record.update({
        "photos": len(rows),
        "ours": {"ms": ours_ms, **memory["ours"]},
        "rembg": {"ms": rembg_ms, **memory["rembg"], "call": "rembg.remove(rgb, session=new_session('dis_custom', model_path=...), only_mask=True)"},
        "ratio_rembg_over_ours": {"median_of_medians": round(rembg_ms["median"] / ours_ms["median"], 2),
                                  "mean": round(rembg_ms["mean"] / ours_ms["mean"], 2)},
        "iou_at_0_5": {"mean": round(float(np.mean(ious)), 4), "median": round(float(np.median(ious)), 4),
                       "min": worst["iou"], "worst_photo": worst["photo"],
                       "below_0_9": sorted(r["photo"] for r in rows if r["iou"] < 0.9)},
        "ours_device_cpu_memory": {**memory["ours_device_cpu"], "note": "ours with CATALOG_DEVICE=cpu, same photos, "
                                   "not timed: use_cuda() then does not import torch"},
        "per_photo": rows,
    })

    print(f"\n{'':8}{'median ms':>11}{'mean ms':>10}{'p90 ms':>9}{'peak RSS MiB':>14}{'RSS loaded':>12}")
    for side in sides:
        ms, mem = record[side]["ms"], memory[side]
        print(f"{side:8}{ms['median']:>11.0f}{ms['mean']:>10.0f}{ms['p90']:>9.0f}"
              f"{mem['peak_rss_mib']:>14.0f}{mem['rss_after_load_mib']:>12.0f}")
    mem = memory["ours_device_cpu"]
    print(f"ours with CATALOG_DEVICE=cpu (no torch import; memory only): peak RSS {mem['peak_rss_mib']:.0f} MiB, "
          f"RSS loaded {mem['rss_after_load_mib']:.0f} MiB")
    print(f"rembg / ours: median {record['ratio_rembg_over_ours']['median_of_medians']}x, "
          f"mean {record['ratio_rembg_over_ours']['mean']}x")
    print(f"mask IoU at 0.5 over {len(rows)} photos: mean {record['iou_at_0_5']['mean']:.3f}, "
          f"min {worst['iou']:.3f} ({worst['photo']}); below 0.9: {record['iou_at_0_5']['below_0_9']}")
    _common.write("segment_vs_rembg", record, args.out)


if __name__ == "__main__":
    main()
