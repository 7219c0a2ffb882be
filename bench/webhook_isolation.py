"""Does a slow webhook receiver delay other jobs? One tenant's six-photo job, timed alone and
while five other jobs' webhook calls wait on receivers that take 9.5 s to answer each.

    .venv/bin/python bench/webhook_isolation.py [--runs 3] [--delay 9.5] [--shared-worker]

A real cluster of its own (tests/cluster.py: redis-server, one Celery worker per queue, the
gateway as every launch path starts it, keys off), a local receiver that sleeps `--delay`
seconds before answering. Each run: five one-photo jobs with a webhook each; once they have
ended and their calls are under way, the six-photo job is sent and timed from its POST to
its end.
The median of `--runs` runs each way, and their ratio (target: at most 1.2).

--shared-worker runs the webhook calls on the color worker, one at a time, as before they
had a queue of their own: the layout whose delay this measures.

Writes bench/results/webhook_isolation.json (webhook_isolation-shared.json with
--shared-worker).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _common import header, write  # noqa: E402
from cluster import (  # noqa: E402
    running_gateway,
    running_redis,
    running_webhook_receiver,
    running_workers,
    six_photos,
    submit,
    timed_job,
)

from shared.engine.chain import QUEUES, STAGES  # noqa: E402


def finished(url: str, job_id: str) -> bool:
    return httpx.get(f"{url}/v1/jobs/{job_id}", timeout=30).json()["finished"] is not None


def calls(receiver, run: int) -> int:
    return len([c for c in receiver.calls if c.path.startswith(f"/slow/{run}-")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--delay", type=float, default=9.5, help="seconds each receiver takes to answer")
    parser.add_argument("--shared-worker", action="store_true", help="webhook calls on the color worker (as before)")
    args = parser.parse_args()
    name = "webhook_isolation" + ("-shared" if args.shared_worker else "")
    record = header(name)
    photos = six_photos()
    one = [photos[-3]]
    groups: list[tuple[str, ...]] = [(q,) for q in QUEUES]
    if args.shared_worker:
        groups = [(str(s),) for s in STAGES if s != "color"] + [("color", "webhooks")]
    base = Path(tempfile.mkdtemp(prefix="catalog-webhook-isolation-"))
    with (
        running_redis(base / "redis") as redis_url,
        running_workers(redis_url, (base / "blobs").as_uri(), base / "logs", groups) as cluster,
        running_gateway(cluster.env, base / "logs") as url,
        running_webhook_receiver() as receiver,
    ):
        receiver.delays["/slow"] = args.delay
        timed_job(url, None, photos)  # every worker warm
        alone = [timed_job(url, None, photos) for _ in range(args.runs)]
        beside = []
        for run in range(args.runs):
            ids = [submit(url, None, one, webhook_url=f"{receiver.url}/slow/{run}-{n}") for n in range(5)]
            # The five jobs ended (their photos compete with no other), their calls under way:
            # at the receiver, or (on a shared worker) the first there and the others behind it.
            while not all(finished(url, job_id) for job_id in ids) or not calls(receiver, run):
                time.sleep(0.05)
            beside.append(timed_job(url, None, photos))
            while calls(receiver, run) < 5:
                time.sleep(0.1)
            time.sleep(args.delay + 1)  # the last call ends
        print(f"webhook calls {'on the color worker' if args.shared_worker else 'on their own worker'}")
    shutil.rmtree(base, ignore_errors=True)
    a, b = statistics.median(alone), statistics.median(beside)
    runs = {which: ", ".join(f"{x:.1f}" for x in times) for which, times in (("alone", alone), ("beside", beside))}
    print(f"six-photo job alone:                        {a:5.1f} s  (runs {runs['alone']})")
    print(f"beside five receivers taking {args.delay:g} s each: {b:5.1f} s  (runs {runs['beside']})")
    print(f"ratio: {b / a:.2f} (target: at most 1.20)")
    record.update(
        {
            "webhook_worker": "shared with color" if args.shared_worker else "its own",
            "receiver_delay_s": args.delay,
            "alone_s": [round(x, 2) for x in alone],
            "beside_slow_receivers_s": [round(x, 2) for x in beside],
            "median_alone_s": round(a, 2),
            "median_beside_s": round(b, 2),
            "ratio": round(b / a, 3),
        }
    )
    write(name, record)
    return 0 if args.shared_worker or b / a <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
