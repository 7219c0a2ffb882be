"""What our pose stage costs over one plain BlazePose call.

    .venv/bin/python bench/pose_overhead.py [--photos DIR] [--repeats 3] [--out FILE]

Ours: services.pose.people.estimate_people(rgb) and garment_regions() for every person
found. BlazePose finds one person per call, so estimate_people greys out each person
found and calls the model again (and, when it finds no one, tries once more on the photo
with a grey margin): the bench counts those model calls by wrapping the estimator's
`process` in this process only. Direct: a separate
`mediapipe.solutions.pose.Pose(static_image_mode=True, model_complexity=2).process(rgb)`,
once per photo. Per photo and repeat: ours, then direct, on the same decoded photo; the
figure per photo is the median over the repeats. One warm-up photo is not counted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import mediapipe as mp  # noqa: E402

from services.pose.models import pose_estimator  # noqa: E402
from services.pose.people import estimate_people  # noqa: E402
from shared.domain.body import body_settings, garment_regions  # noqa: E402
from shared.infra.imageio import read_image  # noqa: E402


class CountingProcess:
    """Wraps Pose.process: counts calls, the time inside them, and margin retries."""

    def __init__(self, estimator):
        self.inner = estimator.process
        self.reset(None)

    def reset(self, shape):
        self.shape, self.calls, self.margin_calls, self.model_s = shape, 0, 0, 0.0

    def __call__(self, rgb):
        self.calls += 1
        self.margin_calls += rgb.shape[:2] != self.shape
        t = time.perf_counter()
        try:
            return self.inner(rgb)
        finally:
            self.model_s += time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=_common.PHOTOS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    record = _common.header("pose_overhead")
    record["versions"] = _common.versions("mediapipe", "numpy", "opencv-python-headless")
    ours_estimator = pose_estimator()
    counter = CountingProcess(ours_estimator)
    ours_estimator.process = counter  # instance attribute: _landmarks() now goes through it
    direct = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=2)

    def ours(rgb):
        h, w = rgb.shape[:2]
        counter.reset(rgb.shape[:2])
        people = estimate_people(rgb)
        for person in people:
            garment_regions(person, w, h, body_settings().visible)
        return people

    paths = _common.photos(args.photos)
    warm = read_image(paths[0])
    ours(warm), direct.process(warm)

    rows = []
    for path in paths:
        rgb = read_image(path)
        ours_ms, direct_ms, model_ms = [], [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            people = ours(rgb)
            ours_ms.append((time.perf_counter() - t) * 1000)
            model_ms.append(counter.model_s * 1000)
            t = time.perf_counter()
            found = direct.process(rgb).pose_landmarks is not None
            direct_ms.append((time.perf_counter() - t) * 1000)
        row = {
            "photo": path.name,
            "size": f"{rgb.shape[1]}x{rgb.shape[0]}",
            "ours_ms": round(statistics.median(ours_ms), 1),
            "direct_ms": round(statistics.median(direct_ms), 1),
            "ours_in_model_ms": round(statistics.median(model_ms), 1),
            "model_calls": counter.calls,
            "margin_calls": counter.margin_calls,
            "people": len(people),
            "direct_found": found,
        }
        row["ratio"] = round(row["ours_ms"] / row["direct_ms"], 2)
        rows.append(row)
        print(
            f"{path.name:34} ours {row['ours_ms']:7.1f} ms  direct {row['direct_ms']:7.1f} ms  "
            f"x{row['ratio']:<5} calls {row['model_calls']} (margin {row['margin_calls']}), people {row['people']}",
            flush=True,
        )

    ours_s, direct_s = _common.summary([r["ours_ms"] for r in rows]), _common.summary([r["direct_ms"] for r in rows])
    calls = [r["model_calls"] for r in rows]
    in_model = sum(r["ours_in_model_ms"] for r in rows)
    record.update(
        {
            "photos": len(rows),
            "repeats": args.repeats,
            "ours": {"what": "estimate_people + garment_regions", "ms": ours_s},
            "direct": {"what": "Pose(static_image_mode=True, model_complexity=2).process(rgb), once", "ms": direct_s},
            "ratio_ours_over_direct": {
                "median_of_per_photo": round(statistics.median(r["ratio"] for r in rows), 2),
                "total_time": round(sum(r["ours_ms"] for r in rows) / sum(r["direct_ms"] for r in rows), 2),
            },
            "model_calls": {
                "total": sum(calls),
                "per_photo_mean": round(statistics.fmean(calls), 2),
                "extra_over_one_per_photo": sum(calls) - len(rows),
                "margin_retries": sum(r["margin_calls"] for r in rows),
                "histogram": {str(c): calls.count(c) for c in sorted(set(calls))},
            },
            "ours_time_in_model_share": round(in_model / sum(r["ours_ms"] for r in rows), 3),
            "per_photo": rows,
        }
    )
    print(f"\n{'':8}{'median ms':>11}{'mean ms':>10}{'p90 ms':>9}")
    for side in ("ours", "direct"):
        ms = record[side]["ms"]
        print(f"{side:8}{ms['median']:>11.1f}{ms['mean']:>10.1f}{ms['p90']:>9.1f}")
    r, c = record["ratio_ours_over_direct"], record["model_calls"]
    print(f"ours / direct: median per photo {r['median_of_per_photo']}x, total time {r['total_time']}x")
    print(
        f"model calls: {c['total']} for {len(rows)} photos ({c['extra_over_one_per_photo']} extra, "
        f"{c['margin_retries']} of them margin retries); histogram {c['histogram']}; "
        f"{record['ours_time_in_model_share']:.1%} of our time is inside the model calls"
    )
    _common.write("pose_overhead", record, args.out)


if __name__ == "__main__":
    main()
