"""The segment step: ISNet's soft matte (fp32 or int8: services.segment.models). A person
photo keeps it whole (8-bit) for the garment cutouts and colours. A product photo is split
into instances, each cut out (RGBA, kept for the colour step) and filed under a catalog
category (services.segment.category: the classifier, and the text on a pack where it can
change the answer); a photo where nothing stands out (a scene, a texture) is one
whole-photo item."""

from __future__ import annotations

import numpy as np

from services.segment.category import name_product
from services.segment.matte import Instance, matte, split_instances
from services.segment.plain_background import completed_on_plain_background
from shared.domain.classifier import imagenet_outputs
from shared.domain.records import ItemState
from shared.engine.stage import MATTE, StepContext
from shared.infra.imageio import array_bytes, cutout, on_white, png_bytes


def run(ctx: StepContext) -> None:
    rgb, state = ctx.rgb, ctx.state
    if state.kind == "person":
        with ctx.timed("segment"):
            alpha = matte(rgb)
        ctx.files.put_work(MATTE, array_bytes((np.clip(alpha, 0, 1) * 255).round().astype(np.uint8)))
        return
    h, w = rgb.shape[:2]
    with ctx.timed("segment"):
        instances = split_instances(completed_on_plain_background(rgb, matte(rgb)))
    if not instances:
        instances = [Instance(box=(0, 0, w, h), alpha=np.ones((h, w), np.float32), area=h * w)]
    with ctx.timed("classify"):
        cutouts = [cutout(rgb, inst.alpha, inst.box) for inst in instances]
        # One batched call: the softmax, and the pooled features the garment head reads.
        probs, features = imagenet_outputs(*(on_white(rgba) for rgba in cutouts))
        items = []
        for i, (inst, rgba, p) in enumerate(zip(instances, cutouts, probs)):
            name = ctx.files.put_work(f"item-{i}-cutout.png", png_bytes(rgba))  # fast PNG: an intermediate
            x0, y0, x1, y1 = inst.box
            # The photo's main product, the only or the largest, reads all the photo's text:
            # the matte may hold only part of it (a flat pack that fills the frame, bottles
            # seen close up cut at their labels). Each other product reads within its box.
            printed_on = rgb if i == 0 else rgb[y0:y1, x0:x1]
            # The text is read where it can change the answer, or a listing's words are
            # to be checked against it.
            read_text = state.listing is not None and bool(state.listing.title or state.listing.brand)
            naming = name_product(p, printed_on, None if features is None else features[i], read_text)
            c = naming.classification
            items.append(
                ItemState(
                    type="product",
                    box=inst.box,
                    work_cutout=name,
                    category=c.category,
                    category_score=c.score,
                    top3=c.top3,
                    text=naming.text,
                )
            )
    state.items = items
