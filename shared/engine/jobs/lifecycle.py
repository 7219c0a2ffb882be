"""The one module that changes the status of a job or of a photo: open (a new job's records),
claim (a stage starts), advance (a stage is done and the next one is due), finish and fail
(a photo has ended). Everything else reads the status and asks this module to change it.

    photo: queued --claim--> running --advance--> running ... --finish--> ok
                                                          \\--fail----> failed
    job:   queued --first claim--> running --last photo ends--> succeeded | partial | failed

A running stage keeps a heartbeat (beat); `stalled` finds the photos whose stage does not
move, for the sweeper (services.gateway.sweeper) to send again: a stage whose worker went quiet, and
a stage whose message is in no queue.

A stage is claimed with WATCH/MULTI on the photo's record, so a redelivered or duplicated
task runs a stage at most once per claim and never after the photo has ended. The end of a
photo is one Lua script (its status, its manifest record, the job's counters and, for the
last photo, the job's final status), so workers ending photos of the same job at the same
moment cannot lose a count, and exactly one of them sees the job end.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.engine.chain import IMAGE_ENDED, QUEUES, ImageStatus, Stage, next_stage, queue_of
from shared.engine.jobs.codec import dump_stages, image_fields, parse_image
from shared.engine.jobs.records import Claim, JobImage, StageRun
from shared.engine.jobs.store import JobStore

if TYPE_CHECKING:
    from redis.client import Pipeline

# A stage that keeps being delivered (retries of transient faults, workers lost while
# running it) fails its photo after this many starts, so a poison photo cannot loop.
MAX_STAGE_ATTEMPTS = 8


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def open_job(
    pipe: Pipeline, store: JobStore, job_id: str, images: list[JobImage], fields: dict[str, str | int], created: str
) -> bool:
    """Queue the writes of a new job's records on `pipe`: every photo queued, except those
    refused at upload (failed with their reason). Returns True when the job has ended
    already (every file was refused)."""
    failed = sum(i.status == "failed" for i in images)
    ended = failed == len(images)
    fields = {
        **fields,
        "status": "failed" if ended else "queued",
        "total": len(images),
        "done": failed,
        "failed": failed,
    }
    if ended:
        fields["finished"] = created
    keys = store.keys
    for image in images:
        pipe.hset(keys.image(job_id, image.id), mapping=image_fields(image))
    pipe.hset(keys.job(job_id), mapping=fields)  # last: a job is visible once complete
    pipe.hincrby(keys.job_stats, "created", 1)
    if ended:
        pipe.hincrby(keys.job_stats, "finished:failed", 1)
    else:
        pipe.sadd(keys.active, job_id)
    return ended


def claim(store: JobStore, job_id: str, image_id: str, stage: Stage, *, worker: str, pid: int) -> Claim:
    """Mark a stage running, if the photo is at that stage (see Claim); the job is running
    from its first claim on."""
    key = store.keys.image(job_id, image_id)

    def attempt(pipe) -> Claim:
        raw = pipe.hgetall(key)
        if not raw:
            return Claim("skip")
        image = parse_image(raw)
        if image.status in IMAGE_ENDED:
            return Claim("skip", image)
        if image.stage != stage:
            state = image.state
            try:
                follows = next_stage(state.kind, state.done, stage) if state and stage in state.done else None
            except ValueError:
                follows = None
            started = image.stage in image.stages
            return Claim("resend" if image.stage == follows and not started else "skip", image)
        run = image.stages.get(stage) or StageRun(status="running")
        if run.status == "running" and _running_elsewhere(pipe.get(store.keys.beat(job_id, image_id)), worker, pid):
            return Claim("skip", image)  # a duplicate message: another worker is on it
        run = run.model_copy(
            update={
                "status": "running",
                "attempts": run.attempts + 1,
                "started": now(),
                "finished": None,
                "worker": worker,
                "pid": pid,
            }
        )
        image.stages[stage], image.status = run, "running"
        if run.attempts > MAX_STAGE_ATTEMPTS:
            return Claim("give_up", image)
        pipe.multi()
        pipe.hset(key, mapping={"status": "running", "stages": dump_stages(image.stages), "updated": run.started})
        # The job cannot have ended: this photo has not.
        pipe.hset(store.keys.job(job_id), mapping={"status": "running", "updated": run.started})
        return Claim("run", image)

    return store.redis.transaction(attempt, key, value_from_callable=True)


def _running_elsewhere(beat: str | None, worker: str, pid: int) -> bool:
    """Whether a stage's heartbeat ("<worker>/<pid>") says another process runs it. A beat of
    this process (starting over after losing Redis) is its own; one of this worker from a
    process that is gone (its pool child was killed) is stale."""
    if not beat:
        return False
    owner, _, beat_pid = beat.rpartition("/")
    if owner != worker or not beat_pid.isdigit():
        return True
    if int(beat_pid) == pid:
        return False
    try:
        os.kill(int(beat_pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def beat(store: JobStore, job_id: str, image_id: str, *, worker: str, pid: int, ttl_s: float) -> None:
    """The running stage's heartbeat: it lasts ttl_s unless beaten again."""
    store.redis.set(store.keys.beat(job_id, image_id), f"{worker}/{pid}", ex=max(1, math.ceil(ttl_s)))


def end_beat(store: JobStore, job_id: str, image_id: str) -> None:
    store.redis.delete(store.keys.beat(job_id, image_id))


@dataclass
class Stalled:
    job_id: str
    image_id: str
    stage: Stage
    why: str


def stalled(store: JobStore, *, stall_after_s: float, now: datetime | None = None) -> list[Stalled]:
    """Photos of unfinished jobs whose stage has not moved for stall_after_s: running with no
    heartbeat (the worker was killed, or cut off from Redis), or waiting for a stage whose
    message is in no queue (lost: a gateway that died between its answer and the send, a send
    cut off by a Redis restart)."""
    now = now or datetime.now(UTC)
    keys, queued = store.keys, _queued_messages(store)
    found = []
    for job_id in store.redis.smembers(keys.active):
        ids = json.loads(store.redis.hget(keys.job(job_id), "images") or "[]")
        pipe = store.redis.pipeline(transaction=False)
        for image_id in ids:
            pipe.hmget(keys.image(job_id, image_id), ("status", "stage", "stages", "updated"))
            pipe.exists(keys.beat(job_id, image_id))
        replies = pipe.execute()
        for image_id, (status, stage, stages, updated), beating in zip(ids, replies[::2], replies[1::2]):
            if not stage or status in IMAGE_ENDED or beating or not updated:
                continue
            if (now - datetime.fromisoformat(updated)).total_seconds() < stall_after_s:
                continue
            run = json.loads(stages or "{}").get(stage)
            running = bool(run and run["status"] == "running")
            # A message for it waits in line (sent again already); for a stage not started,
            # one a live worker holds counts too. A dead worker's message stays held (unacked)
            # until the broker's visibility timeout: that one does not count.
            waiting, held = queued.get(queue_of(stage), ("", ""))
            if f"['{job_id}', '{image_id}']" in (waiting if running else waiting + held):
                continue
            found.append(
                Stalled(job_id, image_id, stage, "its worker went quiet" if running else "its message was lost")
            )
    return found


def _queued_messages(store: JobStore) -> dict[str, tuple[str, str]]:
    """Per queue, the raw messages waiting in it, and those delivered but not yet acked (held
    by a worker, or waiting out a retry's countdown), each as one text. A Celery message names
    its arguments in its headers (argsrepr)."""
    pipe = store.redis.pipeline(transaction=False)
    for queue in QUEUES:
        pipe.lrange(queue, 0, -1)
    pipe.hvals("unacked")  # kombu's Redis transport: delivery tag -> [message, exchange, queue]
    *lists, unacked = pipe.execute()
    held = "\n".join(unacked)
    return {queue: ("\n".join(messages), held) for queue, messages in zip(QUEUES, lists)}


def advance(
    store: JobStore,
    job_id: str,
    image_id: str,
    stage: Stage,
    image: JobImage,
    following: Stage,
    *,
    ms: float,
    models: list[str],
) -> bool:
    """Store the state a stage left and the stage to run next; False when the photo has
    ended or is gone meanwhile (nothing is written then)."""
    key = store.keys.image(job_id, image_id)
    image.stages[stage] = image.stages[stage].model_copy(
        update={"status": "done", "finished": now(), "ms": round(ms, 1), "models": models}
    )
    assert image.state is not None
    state = image.state.model_dump_json()

    def attempt(pipe) -> bool:
        if pipe.hget(key, "status") not in ("queued", "running"):
            return False
        pipe.multi()
        pipe.hset(
            key, mapping={"state": state, "stage": following, "stages": dump_stages(image.stages), "updated": now()}
        )
        return True

    return store.redis.transaction(attempt, key, value_from_callable=True)


def finish(store: JobStore, job_id: str, image: JobImage, *, stage: Stage | None, ms: float, models: list[str]) -> bool:
    """End a photo as ok, with the state its last stage left. True when it was the last
    photo of the job (exactly one caller sees that); False otherwise, also when the photo
    had already ended."""
    return _end(store, job_id, image, stage=stage, ms=ms, models=models)


def fail(
    store: JobStore,
    job_id: str,
    image: JobImage,
    *,
    stage: Stage | None,
    error: str,
    code: str,
    ms: float | None = None,
    models: list[str] | None = None,
) -> bool:
    """End a photo as failed, with the reason the user will read (see finish)."""
    return _end(store, job_id, image, stage=stage, error=error, error_code=code, ms=ms, models=models)


# The end of a photo: its fields, the job's counters and, for the last photo, the job's final
# status, in one step. Returns 1 when this photo was the job's last, 0 when not, -1 when the
# photo had already ended or is gone. KEYS: photo, job, stats, active. ARGV: status,
# timestamp, job id, then the photo's fields and values.
_END = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local prev = redis.call('HGET', KEYS[1], 'status')
if prev == 'ok' or prev == 'failed' then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
local done = redis.call('HINCRBY', KEYS[2], 'done', 1)
local failed = tonumber(redis.call('HGET', KEYS[2], 'failed'))
if ARGV[1] == 'failed' then failed = redis.call('HINCRBY', KEYS[2], 'failed', 1) end
redis.call('HSET', KEYS[2], 'updated', ARGV[2])
local total = tonumber(redis.call('HGET', KEYS[2], 'total'))
if done >= total then
  local status = 'succeeded'
  if failed >= total then status = 'failed' elseif failed > 0 then status = 'partial' end
  redis.call('HSET', KEYS[2], 'finished', ARGV[2], 'status', status)
  redis.call('HINCRBY', KEYS[3], 'finished:' .. status, 1)
  redis.call('SREM', KEYS[4], ARGV[3])
  return 1
end
return 0
"""


def _end(
    store: JobStore,
    job_id: str,
    image: JobImage,
    *,
    stage: Stage | None,
    error: str | None = None,
    error_code: str | None = None,
    ms: float | None = None,
    models: list[str] | None = None,
) -> bool:
    status: ImageStatus = "failed" if error else "ok"
    if stage and stage in image.stages:
        image.stages[stage] = image.stages[stage].model_copy(
            update={
                "status": "failed" if error else "done",
                "finished": now(),
                "ms": round(ms, 1) if ms is not None else None,
                "models": models or [],
            }
        )
    image.status, image.stage, image.error, image.error_code = status, None, error, error_code
    stamp = now()
    fields = {
        "status": status,
        "updated": stamp,
        "stage": "",
        "error": error or "",
        "error_code": error_code or "",
        "stages": dump_stages(image.stages),
    }
    if image.state is not None:
        fields["state"] = image.state.model_dump_json()
    record = image.record()
    if record is not None:
        fields["record"] = record.model_dump_json()
    keys = store.keys
    args = [status, stamp, job_id] + [v for pair in fields.items() for v in pair]
    script = store.redis.register_script(_END)
    return script(keys=[keys.image(job_id, image.id), keys.job(job_id), keys.job_stats, keys.active], args=args) == 1
