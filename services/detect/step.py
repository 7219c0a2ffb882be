"""The detect step: the photo's size, and whether it may show people. A photo that may is
sent to pose with its person matte, the faces and hands on it and the person detector's
boxes (kept in the photo's work area); any other goes on as a product."""

from __future__ import annotations

import numpy as np

from services.detect.evidence import faces_on_people, hands_on_people, may_show_people, person_matte
from services.detect.persons import person_boxes
from shared.engine.stage import FACES, HANDS, PERSON_BOXES, PERSON_MATTE, StepContext
from shared.infra.imageio import array_bytes


def run(ctx: StepContext) -> None:
    rgb, state = ctx.rgb, ctx.state
    state.height, state.width = rgb.shape[:2]
    with ctx.timed("detect"):
        matte = person_matte(rgb)
        candidate = may_show_people(matte)
        faces = faces_on_people(rgb, matte) if candidate else []
        boxes = person_boxes(rgb) if candidate else []
        # Hands are looked for only where they can decide: a person box and no face.
        hands = hands_on_people(rgb, matte) if boxes and not faces else []
    state.kind = "person" if candidate else "product"
    state.people, state.items = [], []
    if candidate:
        ctx.files.put_work(PERSON_MATTE, array_bytes(matte))
        ctx.files.put_work(FACES, array_bytes(np.array(faces, np.int32).reshape(-1, 4)))
        ctx.files.put_work(HANDS, array_bytes(np.array(hands, np.int32).reshape(-1, 4)))
        scored = [(*box, score) for box, score in boxes]
        ctx.files.put_work(PERSON_BOXES, array_bytes(np.array(scored, np.float32).reshape(-1, 5)))
