"""Each person's garments: the crops each body gives, framed by the job's aspect and padding
or its style guide, with the classifier's say on which kind of garment each is and whether
a hat is worn."""

from __future__ import annotations

from typing import cast

import numpy as np

from services.pose.garment_kinds import garment_kind
from services.pose.settings import PoseSettings, pose_settings
from shared.domain.body import body_settings, frame, head_view, outfit_view
from shared.domain.classifier import best_within, headwear_score, imagenet_probs
from shared.domain.framing import CannotFrame, frame_output, output_regions
from shared.domain.records import Box, CategoryScore, Garment, ItemState, Options, Person, Skipped

# Which catalog categories a garment crop can be; the classifier picks among them.
GARMENT_CATEGORIES: dict[Garment, tuple[str, ...]] = {
    "top": ("clothing/tops", "clothing/outerwear", "clothing/dresses", "clothing/swimwear-underwear"),
    "bottom": ("clothing/bottoms", "clothing/dresses", "clothing/swimwear-underwear"),
    "shoes": ("shoes/sneakers", "shoes/boots", "shoes/sandals", "shoes/formal"),
    "headwear": ("accessories/hats",),
}


def garment_items(rgb: np.ndarray, people: list[Person], options: Options) -> tuple[list[ItemState], list[Skipped]]:
    """Every person's outputs wanted: for each garment, the tight region from the
    keypoints, the garment's kind among its categories, and the box framed by the job's
    style guide (or its aspect and padding); with a guide that asks for it, each person's
    whole look too. Headwear is kept only when the classifier sees a hat on the head
    region. An output the guide's rules cannot give is skipped, with the reason."""
    h, w = rgb.shape[:2]
    s, visible = pose_settings(), body_settings().visible
    guide = options.style
    rules = guide.outputs.given() if guide else {}
    wanted = [
        (index, person, output, region)
        for index, person in enumerate(people)
        for output, region in output_regions(person, w, h, visible).items()
        if _wanted(output, options, rules)
    ]
    garments = [(cast(Garment, output), region, person) for _, person, output, region in wanted if output != "look"]
    categories = iter(_garment_categories(rgb, garments, s))
    items: list[ItemState] = []
    skipped: list[Skipped] = []
    for index, person, output, region in wanted:
        item = ItemState(type="look", person=index, region=region, box=region)
        if output != "look":
            category = next(categories)
            if category is None:
                continue
            item = item.model_copy(
                update={
                    "type": "garment",
                    "garment": output,
                    "category": category.category,
                    "category_score": category.score,
                    "top3": [category],
                }
            )
        if not guide:
            item.box = frame(region, w, h, options.aspect, options.padding)
            items.append(item)
            continue
        rule = rules[output]
        try:
            framed = frame_output(rule, person, region, w, h, visible)
        except CannotFrame as exc:
            skipped.append(Skipped(output=output, person=index, reason=str(exc)))
            continue
        item.box, item.size, item.warnings = framed.box, framed.size, framed.warnings
        item.background = rule.background
        items.append(item)
    return items, skipped


def _wanted(output: str, options: Options, rules: dict) -> bool:
    """A look only where the guide asks for one; a garment the job asks for (and the guide,
    when there is one, has a rule for)."""
    if output == "look":
        return "look" in rules
    return output in options.garments and (options.style is None or output in rules)


def _garment_categories(
    rgb: np.ndarray, garments: list[tuple[Garment, Box, Person]], s: PoseSettings
) -> list[CategoryScore | None]:
    """Each garment's kind among its categories, from one batched classifier call; None
    for headwear where no hat is seen. Each garment is seen in its own crop and in a
    second view: a top or a bottom in the person's whole outfit (services.pose.garment_kinds), a
    hat in the whole head with what sits on it, where a brim or a cap seen from behind is
    whole (the surer view decides)."""
    if not garments:
        return []
    h, w = rgb.shape[:2]
    visible = body_settings().visible
    views = [garment_views(garment, region, person, w, h, visible) for garment, region, person in garments]
    boxes = list(dict.fromkeys(box for seen_in in views for box in seen_in))  # one outfit per person
    probs = dict(zip(boxes, imagenet_probs(*(rgb[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes))))
    answers: list[CategoryScore | None] = []
    for (garment, _, _), seen_in in zip(garments, views):
        p = [probs[box] for box in seen_in]
        if garment in ("top", "bottom"):
            answers.append(garment_kind(p, GARMENT_CATEGORIES[garment]))
        elif garment == "shoes":
            answers.append(best_within(p[0], GARMENT_CATEGORIES[garment], s.garment_min_score))
        else:
            score = max(headwear_score(view) for view in p)
            hat = score >= s.headwear_min_score
            answers.append(CategoryScore(category="accessories/hats", score=round(score, 4)) if hat else None)
    return answers


def garment_views(garment: Garment, region: Box, person: Person, w: int, h: int, visible: float) -> list[Box]:
    """The boxes the classifier sees a garment in: its own region, then the outfit for a
    top or a bottom and the whole head for a headwear crop, where that is a box of some size."""
    view = {"top": outfit_view, "bottom": outfit_view, "headwear": head_view}.get(garment)
    box = view(person, w, h, visible) if view else None
    return [region] + ([box] if box and box[2] > box[0] and box[3] > box[1] else [])
