"""The color step: the dominant colour and palette of every item, on the item's own pixels
(the stage then writes the photo's catalog files: shared.engine.catalog_files).

A garment's pixels are its body region from the keypoints (torso, legs, feet, crown) inside
the person matte, less the wearer's skin tones (sampled from the face and the hands, and for
shoes from the bare shins above them too) and, in a group, less the other people's torsos
and legs; a product's, its cutout's solid alpha."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from services.color.color_names import lab_of
from services.color.dominant import dominant_color, without_tone
from services.color.settings import color_settings
from shared.domain.body import body_settings
from shared.domain.body_masks import face_mask, garment_body_mask, hand_mask, shin_mask
from shared.domain.records import ITEM_ALPHA, ColorResult, Person
from shared.engine.stage import MATTE, StepContext


def run(ctx: StepContext) -> None:
    rgb, state, options = ctx.rgb, ctx.state, ctx.options
    h, w = rgb.shape[:2]
    s = color_settings()
    if state.kind == "person":
        person_pixels = ctx.work_image(MATTE) > ITEM_ALPHA * 255  # the matte's bytes: no float copy
        visible = body_settings().visible
        skins: dict[int, tuple[np.ndarray | None, np.ndarray | None]] = {}  # the body's, the feet's
        with ctx.timed("color"):
            neighbours = _neighbours(state.people, w, h, visible)
            for item in state.items:
                assert item.person is not None and item.region is not None
                person = state.people[item.person]
                if item.person not in skins:
                    skins[item.person] = wearer_skin(rgb, person, person_pixels, visible)
                x0, y0, x1, y1 = item.region
                in_region = np.zeros_like(person_pixels)
                in_region[y0:y1, x0:x1] = True
                # A look's colour is its person's, a garment's its own fabric's.
                on_body = in_region if item.garment is None else garment_body_mask(person, item.garment, w, h, visible)
                on_body = on_body & person_pixels
                if item.garment is not None and item.person in neighbours:
                    own = on_body & ~neighbours[item.person]
                    on_body = own if own.sum() >= s.min_colour_pixels else on_body
                body_tones, feet_tones = skins[item.person]
                tone = feet_tones if item.garment == "shoes" else body_tones
                if tone is not None:
                    on_body = without_tone(rgb, on_body, tone)
                color = _colour(rgb, on_body, in_region & person_pixels, options.palette_size)
                item.color = color.model_copy(update=_doubts_worn(color, item.garment is not None, len(state.people)))
    else:
        cutouts = [ctx.work_image(item.work_cutout or "") for item in state.items]
        with ctx.timed("color"):
            for item, rgba in zip(state.items, cutouts):
                alpha = np.zeros((h, w), np.float32)  # the instance's alpha in the whole photo
                x0, y0, x1, y1 = item.box
                alpha[y0:y1, x0:x1] = rgba[..., 3] / np.float32(255)
                item.color = _colour(rgb, alpha > ITEM_ALPHA, alpha > s.fallback_alpha, options.palette_size)


# --- helpers -------------------------------------------------------------------------------------


def _colour(rgb: np.ndarray, mask: np.ndarray, fallback: np.ndarray, k: int) -> ColorResult:
    """Colour of the masked pixels, noting where a mask too small to trust fell back to a
    wider one (the item's region, then the whole photo)."""
    for candidate, wider in ((mask, False), (fallback, True)):
        if candidate.sum() >= color_settings().min_colour_pixels:
            return dominant_color(rgb, candidate, k=k).model_copy(update={"from_wider_area": wider})
    return dominant_color(rgb, None, k=k).model_copy(update={"from_wider_area": True})


def _doubts_worn(color: ColorResult, garment: bool, people: int) -> dict[str, bool]:
    """What makes a worn garment's colour less sure (shared.domain.confidence reads it): it
    was measured on one of several people, whose neighbours hide or lend part of it, or its
    dominant colour is a skin tone, where the wearer's skin the face and hands did not
    sample (a back view, a bare midriff) may have been measured for the garment."""
    skin_toned = garment and looks_like_skin(lab_of(color.rgb))
    return {"in_group": people > 1, "skin_toned": skin_toned}


def _neighbours(people: list[Person], w: int, h: int, visible: float) -> dict[int, np.ndarray]:
    """For each person of a group, where the others' torsos and legs are: in a tight group
    a neighbour's shirt or arm lies inside one's garment region, and whose it is in front
    cannot be told, so those pixels are left out of both."""
    if len(people) < 2:
        return {}
    bodies = [
        garment_body_mask(p, "top", w, h, visible) | garment_body_mask(p, "bottom", w, h, visible) for p in people
    ]
    return {i: np.logical_or.reduce([b for j, b in enumerate(bodies) if j != i]) for i in range(len(people))}


SkinSite = Callable[[Person, int, int, float], np.ndarray | None]


def wearer_skin(
    rgb: np.ndarray, person: Person, person_pixels: np.ndarray, visible: float
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The skin tones to take out of a person's garments, each site sampled once: the face's
    and the hands' for every garment, and for the shoes the bare shins' (on the matte) too."""
    body = skin_tones(rgb, person, visible)
    shins = skin_tones(rgb, person, visible, (shin_mask,), person_pixels)
    feet = [tones for tones in (body, shins) if tones is not None]
    return body, (np.vstack(feet) if feet else None)


def skin_tones(
    rgb: np.ndarray,
    person: Person,
    visible: float,
    sites: tuple[SkinSite, ...] = (face_mask, hand_mask),
    within: np.ndarray | None = None,
) -> np.ndarray | None:
    """The person's skin colours, k x 3 CIELAB: the median of each site (the face, the
    hands, the shins), where it is seen (and, given `within`, on the person matte) and
    plausibly skin (warm hue, some chroma), or None. A back view can place "face" points
    on hair, hands can be gloved or hold things, and shins can be in trousers or socks,
    whose colour must not be taken out of the garments. The hands are lit as the arms and
    legs are, often unlike the face (a face in shade, legs in the sun); the shins as the
    feet in open shoes are."""
    h, w = rgb.shape[:2]
    s = color_settings()
    tones = []
    for site in sites:
        skin = site(person, w, h, visible)
        if skin is not None and within is not None:
            skin = skin & within
        if skin is None or skin.sum() < s.skin_min_pixels:
            continue
        tone = np.median(lab_of(rgb[skin]), axis=0)
        if looks_like_skin(tone):
            tones.append(tone)
    return np.array(tones) if tones else None


def looks_like_skin(lab: np.ndarray) -> bool:
    """Whether a CIELAB colour is plausibly a skin tone: warm hue, some chroma, not black."""
    s = color_settings()
    chroma, hue = np.hypot(lab[1], lab[2]), np.degrees(np.arctan2(lab[2], lab[1]))
    hue_low, hue_high = s.skin_hue_range
    return bool(chroma >= s.skin_min_chroma and hue_low <= hue <= hue_high and lab[0] >= s.skin_min_lightness)
