"""What a stage's steps work on, and how a stage runs them.

A step takes a StepContext: the photo's PhotoState (small JSON, changed in place), the job's
Options (read only if the step asks), the decoded photo (decoded at most once per step, on
first use) and the photo's Artifacts (where files go). Steps exchange the state and blob
keys, never pixels. A step replaces what it computes (it never appends to an earlier
result), so running a step again on the state it started from gives the same state: a
redelivered task is harmless.

The chain names each stage's steps (shared.engine.chain.STEPS); run_stage_steps runs them,
in the Celery workers (shared.engine.worker) and in the in-process runner (catalog.runner)
alike: one implementation of each stage.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, cached_property

import numpy as np

from shared.domain.records import Options
from shared.engine.chain import STEPS, Stage
from shared.engine.photo_state import PhotoState
from shared.infra.imageio import decode_image, read_array, read_png, upright_size
from shared.infra.settings import settings
from shared.infra.storage import BlobStore, join

# Work files one stage leaves for a later one, in the photo's work area.
PERSON_MATTE = "person-matte.npy"  # detect -> pose: the selfie person matte, float32
FACES = "faces.npy"  # detect -> pose: boxes (x0, y0, x1, y1) of the faces on the matte, int32 Nx4
HANDS = "hands.npy"  # detect -> pose: boxes of the hands on the matte where no face is, int32 Nx4
PERSON_BOXES = "person-boxes.npy"  # detect -> pose: the person detector's boxes and scores, float32 Nx5
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


def internal_error(where: str, exc: BaseException) -> str:
    """What a user reads of a fault of ours: its kind, never the exception's own text, which
    may carry a server path or someone else's data (the log has the whole of it)."""
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else ""
    return f"internal error in {where}: {type(exc).__name__}" + (f" ({detail})" if detail else "")


def decode_photo(data: bytes) -> tuple[np.ndarray, tuple[int, int] | None]:
    """An uploaded photo as the steps work on it (shrunk to the working size, which bounds
    every worker's memory), and the size it came in where it was shrunk."""
    s = settings()
    rgb = decode_image(data, max_pixels=s.max_pixels, min_side=s.min_side, working_pixels=s.working_pixels)
    size = upright_size(data)
    return rgb, (size if size != (rgb.shape[1], rgb.shape[0]) else None)


@dataclass
class StepContext:
    state: PhotoState
    files: Artifacts
    load_photo: Callable[[], np.ndarray]  # decodes the original (raises ImageError)
    load_options: Callable[[], Options]  # the job's options (parsed only when a step asks)
    _rgb: np.ndarray | None = field(default=None, repr=False)
    _work: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @cached_property
    def rgb(self) -> np.ndarray:
        """The decoded photo, HxWx3 uint8, decoded on first use."""
        return self._rgb if self._rgb is not None else self.load_photo()

    @cached_property
    def options(self) -> Options:
        return self.load_options()

    def work_image(self, name: str) -> np.ndarray:
        """A work file an earlier stage left (an .npy array or a PNG), decoded once for all
        the steps of this stage."""
        if name not in self._work:
            data = self.files.get_work(name)
            self._work[name] = read_png(data) if name.endswith(".png") else read_array(data)
        return self._work[name]

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.state.timings_ms[stage] = round((time.perf_counter() - start) * 1000, 1)

    def finish(self, stage: Stage) -> None:
        if stage not in self.state.done:
            self.state.done.append(stage)


Step = Callable[[StepContext], None]


@cache
def steps_of(stage: Stage) -> tuple[Step, ...]:
    """The functions STEPS names for the stage, imported on first use."""
    steps = []
    for path in STEPS[stage]:
        module, _, function = path.partition(":")
        steps.append(getattr(importlib.import_module(module), function))
    return tuple(steps)


def run_stage_steps(stage: Stage, ctx: StepContext) -> None:
    """One stage on one photo: its steps in order, then the stage is marked done."""
    for step in steps_of(stage):
        step(ctx)
    ctx.finish(stage)


def run_steps(ctx: StepContext) -> PhotoState:
    """Every stage in order, as the chain decides for the photo (the in-process runner)."""
    stage: Stage | None = ctx.state.next_stage(None)
    while stage:
        run_stage_steps(stage, ctx)
        stage = ctx.state.next_stage(stage)
    return ctx.state
