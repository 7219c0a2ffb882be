"""Our ISNet matte backends (services.segment.matte.matte: fp32, int8) against rembg on the
very same model file.

    .venv/bin/python bench/segment_vs_rembg.py [--photos DIR ...] [--out FILE]

Sides: `fp32` (onnxruntime, the reference), `int8` (OpenVINO int8, made again in fp32 where
int8 is unsure: what the segment stage does by default), `int8-only` (the int8 model alone)
and `rembg`. IoU is against the fp32 matte, over photos whose fp32 matte is not empty.

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
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

# --- the workers --------------------------------------------------------------------------


def _mask_fn(side: str):
    """Load one side's model; return a function rgb -> boolean mask at alpha 0.5."""
    from services.segment.models import isnet_session
    from shared.infra.model_registry import ISNET, check_file

    if side != "rembg":
        from services.segment.matte import matte, run_int8
        from services.segment.models import isnet_fp32_openvino, isnet_int8

        # Load now (matte() loads lazily), so "RSS after load" means the same on every side.
        if side == "fp32":
            isnet_session()
            return lambda rgb: matte(rgb, "fp32") > 0.5
        isnet_int8()
        if side == "int8":
            isnet_fp32_openvino()  # its second opinion where int8 is unsure
            return lambda rgb: matte(rgb, "int8") > 0.5
        return lambda rgb: matte(rgb, run=run_int8) > 0.5
    path = check_file(ISNET)
    os.environ["REMBG_HOME"] = str(path.parent)  # rembg only accepts model paths under its home
    import rembg

    session = rembg.new_session("dis_custom", model_path=str(path))
    return lambda rgb: rembg.remove(rgb, session=session, only_mask=True) > 127


def worker(side: str) -> None:
    """Read one JSON request per line from stdin, answer one JSON line on stdout."""
    from shared.infra.imageio import read_image

    protocol = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints must not garble the protocol
    start = time.perf_counter()
    mask_of = _mask_fn(side)
    load_s = time.perf_counter() - start
    rss_loaded = _common.rss_mib()
    for line in sys.stdin:
        request = json.loads(line)
        answer: dict[str, Any]
        if request.get("quit"):
            answer = {
                "peak_rss_mib": _common.peak_rss_mib(),
                "rss_after_load_mib": rss_loaded,
                "rss_end_mib": _common.rss_mib(),
                "load_s": round(load_s, 2),
            }
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
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdin and self.proc.stdout  # both piped
        self.requests, self.answers = self.proc.stdin, self.proc.stdout

    def ask(self, **request) -> dict:
        self.requests.write(json.dumps(request) + "\n")
        self.requests.flush()
        line = self.answers.readline()
        if not line:
            raise RuntimeError(f"worker {self.side} died")
        return json.loads(line)

    def close(self) -> dict:
        answer = self.ask(quit=True)
        self.proc.wait()
        return answer


# --- the comparison -----------------------------------------------------------------------


SIDES = ("fp32", "int8", "int8-only", "rembg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--photos", type=Path, nargs="+", default=[_common.PHOTOS])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)

    from services.segment.matte import mask_iou

    record = _common.header("segment_vs_rembg")
    record["versions"] = _common.versions("onnxruntime", "openvino", "nncf", "rembg", "numpy", "opencv-python-headless")
    paths = [p for folder in args.photos for p in _common.photos(folder)]
    # CATALOG_DEVICE=cpu: with "auto", shared.infra.model_registry.use_cuda() imports torch just to ask for
    # CUDA, and torch would be most of the RSS of a process that only segments.
    workers = {side: Worker(side, env={"CATALOG_DEVICE": "cpu"}) for side in SIDES}
    for w in workers.values():  # warm-up, not counted
        w.ask(photo=str(paths[0]))

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(paths):
            row: dict = {"photo": f"{path.parent.name}/{path.name}"}
            for side in SIDES:
                row[f"{side}_ms"] = workers[side].ask(photo=str(path), save=f"{tmp}/{side}.npy")["ms"]
            reference = np.load(f"{tmp}/fp32.npy")
            row["fp32_fg_share"] = round(float(reference.mean()), 4)
            for side in SIDES[1:]:
                row[f"{side}_iou"] = round(mask_iou(np.load(f"{tmp}/{side}.npy"), reference), 4)
            rows.append(row)
            print(
                f"[{i + 1}/{len(paths)}] {row['photo']}: "
                + ", ".join(f"{side} {row[side + '_ms']:.0f} ms" for side in SIDES)
                + ", IoU "
                + ", ".join(f"{side} {row[side + '_iou']:.3f}" for side in SIDES[1:]),
                flush=True,
            )
    memory = {side: w.close() for side, w in workers.items()}

    salient = [r for r in rows if r["fp32_fg_share"] > 0]  # the fp32 matte is not empty
    rembg_median = _common.summary([r["rembg_ms"] for r in rows])["median"]
    for side in SIDES:
        ms = _common.summary([r[f"{side}_ms"] for r in rows])
        entry = {"ms": ms, **memory[side], "time_vs_rembg": round(ms["median"] / rembg_median, 3)}
        if side != "fp32":
            ious = [r[f"{side}_iou"] for r in salient]
            worst = min(salient, key=lambda r: r[f"{side}_iou"])
            entry["iou_vs_fp32"] = {
                "mean": round(float(np.mean(ious)), 4),
                "min": worst[f"{side}_iou"],
                "worst_photo": worst["photo"],
                "below_0_95": sorted(r["photo"] for r in salient if r[f"{side}_iou"] < 0.95),
            }
        record[side] = entry
    record["rembg"]["call"] = "rembg.remove(rgb, session=new_session('dis_custom', model_path=...), only_mask=True)"
    record.update({"photos": len(rows), "salient_photos": len(salient), "per_photo": rows})

    print(
        f"\n{'':10}{'median ms':>10}{'mean ms':>9}{'vs rembg':>9}{'peak RSS MiB':>13}"
        f"{'IoU mean':>9}{'IoU min':>8}  worst"
    )
    for side in SIDES:
        e = record[side]
        quality = e.get("iou_vs_fp32", {"mean": 1.0, "min": 1.0, "worst_photo": "(reference)"})
        print(
            f"{side:10}{e['ms']['median']:>10.0f}{e['ms']['mean']:>9.0f}{e['time_vs_rembg']:>8.2f}x"
            f"{e['peak_rss_mib']:>13.0f}{quality['mean']:>9.3f}{quality['min']:>8.3f}  {quality['worst_photo']}"
        )
    print(f"IoU at alpha 0.5 against fp32 over {len(salient)} of {len(rows)} photos (fp32 matte not empty)")
    _common.write("segment_vs_rembg", record, args.out)


if __name__ == "__main__":
    main()
