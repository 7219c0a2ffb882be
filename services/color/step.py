"""The color step: the dominant colour and palette of every item, on the item's own pixels,
then the photo's catalog files: preview.jpg and, per item, <name>.<ext>,
<name>-cutout.png and <name>-swatch.png.

A garment's pixels are its body region from the keypoints (torso, legs, feet, crown) inside
the person matte, less the wearer's skin tones (sampled from the face and the hands, and for
shoes from the bare shins above them too) and, in a group, less the other people's torsos
and legs; a product's, its cutout's solid alpha."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from services.color.logic import dominant_color, swatch, without_tone
from services.color.names import lab_of
from services.color.packshot import packshot
from services.color.settings import color_settings
from services.pose.body import draw_skeleton, face_mask, garment_body_mask, hand_mask, shin_mask
from shared.imageio import cutout, encode_image, on_colour, parse_background, read_array, read_png, resize_to
from shared.schemas import ITEM_ALPHA, ColorResult, ItemFiles, ItemState, Options, Person
from shared.stage import MATTE, Artifacts, StepContext, register_step
from shared.styles import StyleRef


@register_step("color")
def step_color(ctx: StepContext) -> None:
    rgb, state, options = ctx.rgb, ctx.state, ctx.options
    h, w = rgb.shape[:2]
    s = color_settings()
    images: list[tuple[np.ndarray, np.ndarray]] = []  # (image, cutout) per item
    if state.kind == "person":
        alpha = read_array(ctx.files.get_work(MATTE)).astype(np.float32) / 255.0
        person_pixels = alpha > ITEM_ALPHA
        skins: dict[int, tuple[np.ndarray | None, np.ndarray | None]] = {}  # the body's, the feet's
        with ctx.timed("color"):
            neighbours = _neighbours(state.people, w, h)
            for item in state.items:
                assert item.person is not None and item.region is not None
                person = state.people[item.person]
                if item.person not in skins:
                    skins[item.person] = wearer_skin(rgb, person, person_pixels)
                x0, y0, x1, y1 = item.region
                in_region = np.zeros_like(person_pixels)
                in_region[y0:y1, x0:x1] = True
                # A look's colour is its person's, a garment's its own fabric's.
                on_body = in_region if item.garment is None else garment_body_mask(person, item.garment, w, h)
                on_body = on_body & person_pixels
                if item.garment is not None and item.person in neighbours:
                    own = on_body & ~neighbours[item.person]
                    on_body = own if own.sum() >= s.min_colour_pixels else on_body
                body_tones, feet_tones = skins[item.person]
                tone = feet_tones if item.garment == "shoes" else body_tones
                if tone is not None:
                    on_body = without_tone(rgb, on_body, tone)
                item.color, item.color_from_wider_area = _colour(
                    rgb, on_body, in_region & person_pixels, options.palette_size
                )
        for item in state.items:
            # The cutout shows the garment's own region of the person, not the whole body.
            assert item.region is not None
            x0, y0, x1, y1 = item.region
            garment_alpha = np.zeros_like(alpha)
            garment_alpha[y0:y1, x0:x1] = alpha[y0:y1, x0:x1]
            images.append(styled_crop(rgb, garment_alpha, item, options.background))
    else:
        cutouts = [read_png(ctx.files.get_work(item.work_cutout or "")) for item in state.items]
        with ctx.timed("color"):
            for item, rgba in zip(state.items, cutouts):
                alpha = np.zeros((h, w), np.float32)  # the instance's alpha in the whole photo
                x0, y0, x1, y1 = item.box
                alpha[y0:y1, x0:x1] = rgba[..., 3] / np.float32(255)
                item.color, item.color_from_wider_area = _colour(
                    rgb, alpha > ITEM_ALPHA, alpha > s.fallback_alpha, options.palette_size
                )
        packshot_rule = options.style.product if options.style else None
        for item, rgba in zip(state.items, cutouts):
            if packshot_rule:
                item.size, item.background = packshot_rule.size, packshot_rule.background
                images.append((packshot(rgba, packshot_rule), rgba))
            else:
                images.append((rgba, rgba))
    if options.style:
        state.style = StyleRef(name=options.style.name, sha256=options.style.sha256)
    preview = fit_preview(skeleton_view(rgb, state.people), s.preview_side)
    state.preview = ctx.files.put_file("preview.jpg", encode_image(preview, "jpeg"))
    for item, name, (image, rgba) in zip(state.items, item_names(state.items), images):
        item.name = name
        item.files = write_item_files(ctx.files, name, item, image, rgba, options)
    ctx.finish("color")


def styled_crop(
    rgb: np.ndarray, garment_alpha: np.ndarray, item: ItemState, background: str
) -> tuple[np.ndarray, np.ndarray]:
    """A garment's or look's image (the photo in its box) and cutout (its region of the
    person), both in the box, padded where the box passes the photo's edge and at the
    style guide's size. The image is flattened onto its background before it is resized,
    so no dark fringe grows where the padding meets the photo."""
    image, cut = cutout(rgb, None, item.box), cutout(rgb, garment_alpha, item.box)
    if item.size is None and image[..., 3].all():
        return image[..., :3], cut
    fill = parse_background(item.background or background)
    if fill is not None:
        image = on_colour(image, fill)
    return (resize_to(image, item.size), resize_to(cut, item.size)) if item.size else (image, cut)


# --- the catalog files --------------------------------------------------------------------------


def item_names(items: list[ItemState]) -> list[str]:
    """File base names: a garment by its name ("top"; "top-2" for a second person's), a
    look as "look" ("look-2"), a product as "item-1", "item-2", ..."""
    counts: dict[str, int] = {}
    names = []
    for item in items:
        base = item.garment or ("look" if item.type == "look" else "item")
        counts[base] = counts.get(base, 0) + 1
        names.append(base if counts[base] == 1 and base != "item" else f"{base}-{counts[base]}")
    return names


def write_item_files(
    files: Artifacts, name: str, item: ItemState, image: np.ndarray, rgba: np.ndarray, options: Options
) -> ItemFiles:
    """An item's image (garment, look: the framed crop; product: the cutout or packshot,
    on the chosen background), its RGBA cutout and its colour swatch."""
    assert item.color is not None
    ext = "jpg" if options.format == "jpeg" else options.format
    background = item.background or options.background
    return ItemFiles(
        image=files.put_file(f"{name}.{ext}", encode_image(image, options.format, background=background)),
        cutout=files.put_file(f"{name}-cutout.png", encode_image(rgba, "png", background="transparent")),
        swatch=files.put_file(
            f"{name}-swatch.png", encode_image(np.asarray(swatch(item.color.rgb, options.swatch_size)), "png")
        ),
    )


def skeleton_view(rgb: np.ndarray, people: list[Person]) -> np.ndarray:
    """The photo with each person's skeleton drawn on it (a product photo as it is)."""
    return draw_skeleton(rgb, people) if people else rgb


def fit_preview(rgb: np.ndarray, side: int) -> np.ndarray:
    """At most `side` pixels on the long side."""
    import cv2

    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    return cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb


# --- helpers -------------------------------------------------------------------------------------


def _colour(rgb: np.ndarray, mask: np.ndarray, fallback: np.ndarray, k: int) -> tuple[ColorResult, bool]:
    """Colour of the masked pixels, and whether a mask too small to trust fell back to a
    wider one (the item's region, then the whole photo)."""
    for candidate, wider in ((mask, False), (fallback, True)):
        if candidate.sum() >= color_settings().min_colour_pixels:
            return dominant_color(rgb, candidate, k=k), wider
    return dominant_color(rgb, None, k=k), True


def _neighbours(people: list[Person], w: int, h: int) -> dict[int, np.ndarray]:
    """For each person of a group, where the others' torsos and legs are: in a tight group
    a neighbour's shirt or arm lies inside one's garment region, and whose it is in front
    cannot be told, so those pixels are left out of both."""
    if len(people) < 2:
        return {}
    bodies = [garment_body_mask(p, "top", w, h) | garment_body_mask(p, "bottom", w, h) for p in people]
    return {i: np.logical_or.reduce([b for j, b in enumerate(bodies) if j != i]) for i in range(len(people))}


SkinSite = Callable[[Person, int, int], np.ndarray | None]


def wearer_skin(
    rgb: np.ndarray, person: Person, person_pixels: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The skin tones to take out of a person's garments, each site sampled once: the face's
    and the hands' for every garment, and for the shoes the bare shins' (on the matte) too."""
    body = skin_tones(rgb, person)
    shins = skin_tones(rgb, person, (shin_mask,), person_pixels)
    feet = [tones for tones in (body, shins) if tones is not None]
    return body, (np.vstack(feet) if feet else None)


def skin_tones(
    rgb: np.ndarray,
    person: Person,
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
    tones = []
    for site in sites:
        skin = site(person, w, h)
        if skin is not None and within is not None:
            skin = skin & within
        if skin is None or skin.sum() < 9:
            continue
        tone = np.median(lab_of(rgb[skin]), axis=0)
        chroma, hue = np.hypot(tone[1], tone[2]), np.degrees(np.arctan2(tone[2], tone[1]))
        if chroma >= 8 and 15 <= hue <= 95 and tone[0] >= 20:
            tones.append(tone)
    return np.array(tones) if tones else None
