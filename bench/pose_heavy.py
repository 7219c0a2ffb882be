"""BlazePose full against heavy: what one call costs, side by side on the same photos.

    .venv/bin/python bench/pose_heavy.py [--photos DIR ...] [--repeats 3] [--out FILE]

Each photo is decoded once; per repeat, full then heavy (`Pose(static_image_mode=True,
model_complexity=1 or 2).process(rgb)`); the figure per photo is the median over the
repeats. One warm-up photo is not counted. What heavy changes in the catalog is measured
by `catalog eval` (see bench/README.md).
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

from shared.infra.imageio import read_image  # noqa: E402
from shared.infra.model_registry import BLAZEPOSE, check_file  # noqa: E402

SIDES = {"full": 1, "heavy": 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, nargs="+", default=[_common.PHOTOS])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    check_file(BLAZEPOSE)  # heavy is in the wheel (make setup), so the solution downloads nothing
    record = _common.header("pose_heavy")
    record["versions"] = _common.versions("mediapipe")
    models = {side: mp.solutions.pose.Pose(static_image_mode=True, model_complexity=c) for side, c in SIDES.items()}
    paths = [p for folder in args.photos for p in _common.photos(folder)]
    warm = read_image(paths[0])
    for model in models.values():
        model.process(warm)

    ms: dict[str, list[float]] = {side: [] for side in SIDES}
    for path in paths:
        rgb = read_image(path)
        runs: dict[str, list[float]] = {side: [] for side in SIDES}
        for _ in range(args.repeats):
            for side, model in models.items():
                t = time.perf_counter()
                model.process(rgb)
                runs[side].append((time.perf_counter() - t) * 1000)
        for side in SIDES:
            ms[side].append(statistics.median(runs[side]))
    record.update({"photos": len(paths), "repeats": args.repeats})
    print(f"{len(paths)} photos, median of {args.repeats} repeats each")
    print(f"{'':7}{'median ms':>11}{'mean ms':>10}{'p90 ms':>9}")
    for side in SIDES:
        record[side] = _common.summary(ms[side])
        s = record[side]
        print(f"{side:7}{s['median']:>11.1f}{s['mean']:>10.1f}{s['p90']:>9.1f}")
    record["heavy_over_full"] = round(sum(ms["heavy"]) / sum(ms["full"]), 2)
    print(f"heavy / full: {record['heavy_over_full']}x (total time)")
    _common.write("pose_heavy", record, args.out)


if __name__ == "__main__":
    main()
