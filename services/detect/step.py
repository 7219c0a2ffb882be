"""The detect step: the photo's size, and whether it may show people. A photo that may is
sent to pose with its person matte and the faces on it (kept in the photo's work area);
any other goes on as a product."""

from __future__ import annotations

import numpy as np

from services.detect.evidence import faces_on_people, may_show_people, person_matte
from shared.engine.stage import FACES, PERSON_MATTE, StepContext
from shared.infra.imageio import array_bytes


def run(ctx: StepContext) -> None:
    rgb, state = ctx.rgb, ctx.state
    state.height, state.width = rgb.shape[:2]
    with ctx.timed("detect"):
        matte = person_matte(rgb)
        candidate = may_show_people(matte)
        faces = faces_on_people(rgb, matte) if candidate else []
    state.kind = "person" if candidate else "product"
    state.people, state.items = [], []
    if candidate:
        ctx.files.put_work(PERSON_MATTE, array_bytes(matte))
        ctx.files.put_work(FACES, array_bytes(np.array(faces, np.int32).reshape(-1, 4)))
