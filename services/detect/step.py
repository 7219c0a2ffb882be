"""The detect step: the photo's size, and whether it may show people. A photo that may is
sent to pose with its person matte (kept in the photo's work area); any other goes on as a
product."""

from __future__ import annotations

from services.detect.logic import may_show_people, person_matte
from shared.imageio import array_bytes
from shared.stage import PERSON_MATTE, StepContext, register_step


@register_step("detect")
def step_detect(ctx: StepContext) -> None:
    rgb, state = ctx.rgb, ctx.state
    state.height, state.width = rgb.shape[:2]
    with ctx.timed("detect"):
        matte = person_matte(rgb)
        candidate = may_show_people(matte)
    state.kind = "person" if candidate else "product"
    state.people, state.items = [], []
    if candidate:
        ctx.files.put_work(PERSON_MATTE, array_bytes(matte))
    ctx.finish("detect")
