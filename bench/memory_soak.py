"""Worker memory over many consecutive photos through the in-process pipeline.

    nohup .venv/bin/python bench/memory_soak.py --photos 500 > /tmp/memory_soak.log 2>&1 &

Cycles the public test photos through catalog.runner.process_file (default Options),
one photo after another in this one process, as a worker does. Each photo's artifacts
are written into a temporary folder and deleted right after, so the disk does not fill.
RSS (VmRSS) is read after the imports, after the warm-up (the first 10 photos, when every
model is loaded), every 50 photos and at the end; RSS after every photo is kept in the
JSON too. Growth is from the warm-up to the end, from the end of the first pass over every
distinct photo (by then the largest photo has set the allocator's high-water mark) to the
end, and the least-squares slope of RSS over all photos after the warm-up. The
JSON is rewritten every 50 photos, so a run cut short still leaves its figures.
500 photos take about 12-20 minutes on 2 cores: run it in the background and poll.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

WARMUP = 10
EVERY = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=500, help="how many photos to process (cycling the folder)")
    parser.add_argument("--folder", type=Path, default=_common.PHOTOS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from catalog.runner import process_file
    from shared.domain.records import Options

    record = _common.header("memory_soak")
    record["versions"] = _common.versions(
        "onnxruntime", "torch", "mediapipe", "numpy", "scikit-learn", "opencv-python-headless"
    )
    paths = _common.photos(args.folder)
    options = Options()
    samples: list[dict[str, Any]] = [{"photos": 0, "rss_mib": _common.rss_mib(), "when": "after imports"}]
    per_photo_rss: list[float] = []
    per_photo_s: list[float] = []
    failed = 0
    print(f"after imports: RSS {samples[0]['rss_mib']} MiB; {args.photos} photos cycling {len(paths)}", flush=True)

    def save(done: int, final: bool = False) -> None:
        rss_warm = next((s["rss_mib"] for s in samples if s["when"] == "after warm-up"), None)
        cycle = len(paths)  # after one pass over every distinct photo, the largest has been seen
        after = np.arange(WARMUP, done)
        slope = float(np.polyfit(after, per_photo_rss[WARMUP:done], 1)[0]) * 100 if done - WARMUP >= 20 else None
        record.update(
            {
                "photos_requested": args.photos,
                "photos_done": done,
                "distinct_photos": len(paths),
                "failed": failed,
                "warmup_photos": WARMUP,
                "samples": samples,
                "rss_start_mib": samples[0]["rss_mib"],
                "rss_after_warmup_mib": rss_warm,
                "rss_end_mib": per_photo_rss[done - 1] if done else None,
                "peak_rss_mib": max(_common.peak_rss_mib(), *per_photo_rss[:done]),
                "growth_warmup_to_end_mib": round(per_photo_rss[done - 1] - rss_warm, 1) if rss_warm and done else None,
                "growth_per_100_photos_mib": round((per_photo_rss[done - 1] - rss_warm) / (done - WARMUP) * 100, 2)
                if rss_warm and done > WARMUP
                else None,
                "slope_per_100_photos_mib": round(slope, 2) if slope is not None else None,
                "rss_after_first_cycle_mib": per_photo_rss[cycle - 1] if done >= cycle else None,
                "growth_first_cycle_to_end_mib": round(per_photo_rss[done - 1] - per_photo_rss[cycle - 1], 1)
                if done > cycle
                else None,
                "seconds_per_photo": _common.summary(per_photo_s) if per_photo_s else None,
                "per_photo_rss_mib": per_photo_rss,
            }
        )
        _common.write("memory_soak", dict(record), args.out, quiet=not final)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="memory_soak_") as tmp:
        for i in range(args.photos):
            path = paths[i % len(paths)]
            t = time.perf_counter()
            result = process_file(path, Path(tmp), "photo", options)
            per_photo_s.append(time.perf_counter() - t)
            failed += result.status != "ok"
            shutil.rmtree(Path(tmp) / "photo", ignore_errors=True)
            per_photo_rss.append(_common.rss_mib())
            done = i + 1
            if done == WARMUP:
                samples.append({"photos": done, "rss_mib": per_photo_rss[-1], "when": "after warm-up"})
            if done % EVERY == 0 or done == args.photos:
                samples.append(
                    {
                        "photos": done,
                        "rss_mib": per_photo_rss[-1],
                        "when": "end" if done == args.photos else f"every {EVERY}",
                    }
                )
                print(
                    f"[{done}/{args.photos}] RSS {per_photo_rss[-1]} MiB, peak {_common.peak_rss_mib()} MiB, "
                    f"{time.perf_counter() - start:.0f} s, load {_common.loadavg()}",
                    flush=True,
                )
                save(done)
    record["wall_s"] = round(time.perf_counter() - start, 1)
    save(args.photos, final=True)

    print(f"\n{'photos':>7}  {'RSS MiB':>8}  when")
    for s in samples:
        print(f"{s['photos']:>7}  {s['rss_mib']:>8.1f}  {s['when']}")
    print(
        f"peak RSS {record['peak_rss_mib']} MiB; growth warm-up -> end {record['growth_warmup_to_end_mib']} MiB "
        f"({record['growth_per_100_photos_mib']} MiB per 100 photos; least-squares slope "
        f"{record['slope_per_100_photos_mib']} MiB per 100); after the first pass over all {len(paths)} photos "
        f"-> end {record['growth_first_cycle_to_end_mib']} MiB; {failed} failed; {record['wall_s']} s"
    )


if __name__ == "__main__":
    main()
