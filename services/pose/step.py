"""The pose step: each person's landmarks, confirmed against the person matte detect left,
then every person's garment crops. A photo where no body is confirmed goes on as a product."""

from __future__ import annotations

from services.pose.logic import find_people, garment_items
from shared.imageio import read_array
from shared.stage import PERSON_MATTE, StepContext, register_step


@register_step("pose")
def step_pose(ctx: StepContext) -> None:
    rgb, state = ctx.rgb, ctx.state
    with ctx.timed("pose"):
        people = find_people(rgb, read_array(ctx.files.get_work(PERSON_MATTE)))
        state.people = people
        state.kind = "person" if people else "product"
        state.items, state.skipped = garment_items(rgb, people, ctx.options) if people else ([], [])
    ctx.finish("pose")
