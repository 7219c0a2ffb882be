"""What a stage's step works on, and the register of steps.

A step takes a StepContext: the photo's PhotoState (small JSON, changed in place), the job's
Options (read only if the step asks), the decoded photo (decoded at most once per step, on
first use) and the photo's Artifacts (where files go). Steps exchange the state and blob
keys, never pixels. A step replaces what it computes (it never appends to an earlier
result), so running a step again on the state it started from gives the same state: a
redelivered task is harmless.

Each service registers the step of its stage (register_step); the in-process runner
(catalog.runner) and the Celery workers (shared.worker) run the very same steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from shared.chain import Stage
from shared.schemas import Options, PhotoState
from shared.storage import BlobStore, join

# Work files one stage leaves for a later one, in the photo's work area.
PERSON_MATTE = "person-matte.npy"  # detect -> pose: the selfie person matte, float32
FACES = "faces.npy"  # detect -> pose: boxes (x0, y0, x1, y1) of the faces on the matte, int32 Nx4
MATTE = "matte.npy"  # segment -> color: a person photo's ISNet matte, 8-bit (no PNG: it costs more than it saves)


@dataclass
class Artifacts:
    """One photo's files. Catalog files go to `catalog` under `<catalog_prefix>/<slug>/<name>`
    and are named in the manifest relative to the catalog root (`<slug>/<name>`);
    intermediates go to `work` under `<work_prefix>/<name>`."""

    catalog: BlobStore
    catalog_prefix: str
    slug: str
    work: BlobStore
    work_prefix: str

    def put_file(self, name: str, data: bytes) -> str:
        """Write a catalog file; returns its manifest path, `<slug>/<name>`."""
        rel = f"{self.slug}/{name}"
        self.catalog.put(join(self.catalog_prefix, rel), data)
        return rel

    def put_work(self, name: str, data: bytes) -> str:
        self.work.put(join(self.work_prefix, name), data)
        return name

    def get_work(self, name: str) -> bytes:
        return self.work.get(join(self.work_prefix, name))

    def has_work(self, name: str) -> bool:
        return self.work.exists(join(self.work_prefix, name))

    def clear_work(self) -> None:
        self.work.delete_prefix(self.work_prefix)


@dataclass
class StepContext:
    state: PhotoState
    files: Artifacts
    load_photo: Callable[[], np.ndarray]  # decodes the original (raises ImageError)
    load_options: Callable[[], Options]  # the job's options (parsed only when a step asks)
    _rgb: np.ndarray | None = field(default=None, repr=False)

    @cached_property
    def rgb(self) -> np.ndarray:
        """The decoded photo, HxWx3 uint8, decoded on first use."""
        return self._rgb if self._rgb is not None else self.load_photo()

    @cached_property
    def options(self) -> Options:
        return self.load_options()

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.state.timings_ms[stage] = round((time.perf_counter() - start) * 1000, 1)

    def finish(self, stage: Stage) -> None:
        if stage not in self.state.done:
            self.state.done.append(stage)


Step = Callable[[StepContext], None]
_STEPS: dict[str, Step] = {}


def register_step(stage: Stage) -> Callable[[Step], Step]:
    """Decorator: the step that runs `stage` (each service registers its own)."""

    def register(step: Step) -> Step:
        _STEPS[stage] = step
        return step

    return register


def step_of(stage: Stage) -> Step:
    try:
        return _STEPS[stage]
    except KeyError:
        raise LookupError(f"no step registered for the {stage} stage: import its service's step module") from None


def run_steps(ctx: StepContext) -> PhotoState:
    """Every step in order, as the chain decides for the photo (the in-process runner)."""
    stage: Stage | None = ctx.state.next_stage(None)
    while stage:
        step_of(stage)(ctx)
        stage = ctx.state.next_stage(stage)
    return ctx.state
