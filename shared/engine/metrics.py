"""Cluster-wide figures for Prometheus, kept in Redis.

Stages run in many worker processes on many nodes, so their latencies cannot live in one
process's prometheus_client registry: each worker adds its stage times to a histogram in
Redis (record_stage), and the gateway's /metrics reads them, with the job counters and the
queue depths, at scrape time (ClusterCollector).

    {ns}:stats:jobs            created, finished:<status>
    {ns}:stats:stage:<stage>   b0..bN (per-bucket counts), inf, sum, count
    {ns}:active                ids of the jobs not finished yet
"""

from __future__ import annotations

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from shared.engine.chain import JOB_ENDED, STAGES

# Seconds: a colour step takes tens of ms, ISNet on a CPU a few seconds.
STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def stage_key(ns: str, stage: str) -> str:
    return f"{ns}:stats:stage:{stage}"


def record_stage(client: redis.Redis, ns: str, stage: str, seconds: float) -> None:
    """Add one run of a stage to its histogram."""
    bucket = next((f"b{i}" for i, le in enumerate(STAGE_BUCKETS) if seconds <= le), "inf")
    pipe = client.pipeline(transaction=False)
    key = stage_key(ns, stage)
    pipe.hincrby(key, bucket, 1)
    pipe.hincrby(key, "count", 1)
    pipe.hincrbyfloat(key, "sum", seconds)
    pipe.execute()


class ClusterCollector:
    """Prometheus collector reading the cluster's figures from Redis at each scrape."""

    def __init__(self, client: redis.Redis, ns: str, queues: tuple[str, ...]):
        self.redis, self.ns, self.queues = client, ns, queues

    def collect(self):
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(f"{self.ns}:stats:jobs")
        pipe.scard(f"{self.ns}:active")
        for queue in self.queues:
            pipe.llen(queue)  # Celery's Redis transport keeps each queue as a list of that name
        for stage in STAGES:
            pipe.hgetall(stage_key(self.ns, stage))
        jobs, active, *rest = pipe.execute()
        depths, stages = rest[: len(self.queues)], rest[len(self.queues) :]

        yield CounterMetricFamily("catalog_jobs_created", "Jobs accepted.", value=int(jobs.get("created", 0)))
        finished = CounterMetricFamily("catalog_jobs_finished", "Jobs ended, by final status.", labels=["status"])
        for status in JOB_ENDED:
            finished.add_metric([status], int(jobs.get(f"finished:{status}", 0)))
        yield finished
        yield GaugeMetricFamily("catalog_jobs_in_progress", "Jobs accepted and not finished.", value=active)

        depth = GaugeMetricFamily("catalog_queue_depth", "Tasks waiting in each service's queue.", labels=["queue"])
        for queue, n in zip(self.queues, depths):
            depth.add_metric([queue], n)
        yield depth

        histogram = HistogramMetricFamily(
            "catalog_stage_duration_seconds", "Wall time of one stage of one image, in a worker.", labels=["stage"]
        )
        for stage, raw in zip(STAGES, stages):
            cumulative, buckets = 0, []
            for i, le in enumerate(STAGE_BUCKETS):
                cumulative += int(raw.get(f"b{i}", 0))
                buckets.append((repr(le), cumulative))
            buckets.append(("+Inf", cumulative + int(raw.get("inf", 0))))
            histogram.add_metric([stage], buckets, float(raw.get("sum", 0.0)))
        yield histogram
