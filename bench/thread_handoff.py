"""Does a stage run slower right after the ISNet call than on its own?

    .venv/bin/python bench/thread_handoff.py [--runs 5] [--out FILE]

onnxruntime's intra-op threads keep spinning for a while after session.run returns (its
default `session.intra_op.allow_spinning=1`); torch and scikit-learn then start their
own OpenMP threads on the same 2 cores. This times the two calls that follow matte() in
the pipeline, the EfficientNet classifier (shared.domain.classifier.efficientnet) and the k-means
colour (services.color.dominant.dominant_color), each:
  idle         after a 1 s pause, nothing else running in the process
  after-isnet  right after our isnet_session().run (as in the pipeline)
  after-isnet-nospin  right after the same model run by a session with the same options
               plus session.intra_op.allow_spinning=0
and each also single-threaded (torch.set_num_threads(1); threadpoolctl.threadpool_limits(1)).
The ISNet runs are timed too. Median and range of --runs; the conditions are interleaved run by run. On a shared
machine the multi-threaded figures swing widely from run to run: read the ranges.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

from services.color.dominant import dominant_color  # noqa: E402
from services.segment.models import isnet_session  # noqa: E402
from shared.domain.classifier import efficientnet  # noqa: E402
from shared.infra.imageio import read_image  # noqa: E402
from shared.infra.model_registry import ISNET, check_file  # noqa: E402


def nospin_session():
    """Our ISNet session's options (services.segment.models.isnet_session) with spinning off."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = os.cpu_count() or 1
    return ort.InferenceSession(str(check_file(ISNET)), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--photo", type=Path, default=_common.PHOTOS / "bag_plain_bg_03.jpg")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    record = _common.header("thread_handoff")
    record["versions"] = _common.versions("onnxruntime", "torch", "scikit-learn", "threadpoolctl")
    rgb = read_image(args.photo)
    x = cv2.resize(rgb, (1024, 1024), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    x = np.ascontiguousarray(((x - 128.0) / 256.0).transpose(2, 0, 1)[None])
    sessions = {"after-isnet": isnet_session(), "after-isnet-nospin": nospin_session()}
    model = efficientnet()
    t260 = torch.from_numpy((cv2.resize(rgb, (260, 260)).astype(np.float32) - 127.0) / 128.0).permute(2, 0, 1)[None]
    h, w = rgb.shape[:2]
    mask = np.zeros((h, w), bool)
    mask[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = True

    def classify():
        with torch.inference_mode():
            model(t260)

    def classify_1thread():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            classify()
        finally:
            torch.set_num_threads(threads)

    def colour():
        dominant_color(rgb, mask)

    def colour_1thread():
        with threadpool_limits(1):
            dominant_color(rgb, mask)

    calls = {
        "efficientnet": classify,
        "efficientnet-1thread": classify_1thread,
        "dominant_color": colour,
        "dominant_color-1thread": colour_1thread,
    }
    for s in sessions.values():  # warm-up
        s.run(["output"], {"input": x})
    for fn in calls.values():
        fn()

    times: dict[str, list[float]] = {}
    for _ in range(args.runs):
        for call, fn in calls.items():
            for condition, session in [("idle", None), *sessions.items()]:
                if session is None:
                    time.sleep(1.0)
                else:
                    t = time.perf_counter()
                    session.run(["output"], {"input": x})
                    times.setdefault(f"isnet | {condition}", []).append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                fn()
                times.setdefault(f"{call} | {condition}", []).append((time.perf_counter() - t) * 1000)

    rows = {k: round(statistics.median(v), 1) for k, v in times.items()}
    ranges = {k: f"{min(v):.0f}-{max(v):.0f}" for k, v in times.items()}
    record.update(
        {
            "photo": args.photo.name,
            "runs": args.runs,
            "median_ms": rows,
            "range_ms": ranges,
            "all_ms": {k: [round(t, 1) for t in v] for k, v in times.items()},
        }
    )
    conditions = ("idle", "after-isnet", "after-isnet-nospin")
    print(f"\n{'call':24}" + "".join(f"{c:>24}" for c in conditions) + "   (median ms [min-max])")
    print(
        f"{'isnet itself':24}{'':>24}"
        + "".join(f"{rows[f'isnet | {c}']:>10.1f} [{ranges[f'isnet | {c}']:>11}]" for c in conditions[1:])
    )
    for call in calls:
        print(
            f"{call:24}"
            + "".join(f"{rows[f'{call} | {c}']:>10.1f} [{ranges[f'{call} | {c}']:>11}]" for c in conditions)
        )
    _common.write("thread_handoff", record, args.out)


if __name__ == "__main__":
    main()
