"""The pose step: each person's landmarks, confirmed against the person matte detect left
(and a body under each face and in each person box detect found that the search missed),
then every person's garment crops. A photo where no body is confirmed goes on as a product."""

from __future__ import annotations

import numpy as np

from services.pose.garments import garment_items
from services.pose.people import find_people
from shared.engine.stage import FACES, HANDS, PERSON_BOXES, PERSON_MATTE, StepContext
from shared.infra.imageio import read_array


def run(ctx: StepContext) -> None:
    rgb, state = ctx.rgb, ctx.state
    with ctx.timed("pose"):
        # A photo detect saw before it looked for faces (a task redelivered across an upgrade)
        # has none: its people are the search's alone.
        rows = read_array(ctx.files.get_work(FACES)) if ctx.files.has_work(FACES) else np.zeros((0, 4))
        faces = [(int(x0), int(y0), int(x1), int(y1)) for x0, y0, x1, y1 in rows]
        rows = read_array(ctx.files.get_work(HANDS)) if ctx.files.has_work(HANDS) else np.zeros((0, 4))
        hands = [(int(x0), int(y0), int(x1), int(y1)) for x0, y0, x1, y1 in rows]
        # Nor, from before the person detector, hands and person boxes.
        rows = read_array(ctx.files.get_work(PERSON_BOXES)) if ctx.files.has_work(PERSON_BOXES) else np.zeros((0, 5))
        boxes = [(int(x0), int(y0), int(x1), int(y1)) for x0, y0, x1, y1, _ in rows]
        people = find_people(rgb, read_array(ctx.files.get_work(PERSON_MATTE)), faces, boxes, hands)
        state.people = people
        state.kind = "person" if people else "product"
        state.items, state.skipped = garment_items(rgb, people, ctx.options) if people else ([], [])
