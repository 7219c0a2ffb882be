"""A photo's catalog files, written once its colours are known (the color stage's last step):
preview.jpg (the skeleton drawn on people) and, per item, <name>.<ext> (a garment's or look's
framed crop, or the product on its background or a style guide's packshot),
<name>-cutout.png (RGBA) and <name>-swatch.png."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image

from shared.domain.body import body_settings
from shared.domain.body_masks import draw_skeleton
from shared.domain.packshot import packshot
from shared.domain.records import ItemFiles, ItemState, Options, Person
from shared.domain.styles import StyleRef
from shared.engine.stage import MATTE, Artifacts, StepContext
from shared.infra.imageio import cutout, encode_image, parse_background, sized_cutout
from shared.infra.settings import settings


def write(ctx: StepContext) -> None:
    rgb, state, options = ctx.rgb, ctx.state, ctx.options
    images = _person_images(ctx) if state.kind == "person" else _product_images(ctx)
    if options.style:
        state.style = StyleRef(name=options.style.name, sha256=options.style.sha256)
    preview = fit_preview(skeleton_view(rgb, state.people), settings().preview_side)
    state.preview = ctx.files.put_file("preview.jpg", encode_image(preview, "jpeg"))
    for item, name, (image, rgba) in zip(state.items, item_names(state.items), images):
        item.name = name
        item.files = write_item_files(ctx.files, name, item, image, rgba, options)


def _person_images(ctx: StepContext) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each garment's or look's image and cutout, one at a time (a worker holds one item's
    pixels, however many items): the cutout shows the garment's own region of the person,
    not the whole body."""
    matte = ctx.work_image(MATTE)  # uint8: a quarter of a float copy's bytes
    for item in ctx.state.items:
        assert item.region is not None
        x0, y0, x1, y1 = item.region
        garment_alpha = np.zeros_like(matte)
        garment_alpha[y0:y1, x0:x1] = matte[y0:y1, x0:x1]
        yield styled_crop(ctx.rgb, garment_alpha, item, ctx.options.background)


def _product_images(ctx: StepContext) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each product's image (its cutout, or a style guide's packshot of it) and cutout."""
    rule = ctx.options.style.product if ctx.options.style else None
    for item in ctx.state.items:
        rgba = ctx.work_image(item.work_cutout or "")
        if rule:
            item.size, item.background = rule.size, rule.background
            yield packshot(rgba, rule), rgba
        else:
            yield rgba, rgba


def styled_crop(
    rgb: np.ndarray, garment_alpha: np.ndarray, item: ItemState, background: str
) -> tuple[np.ndarray, np.ndarray]:
    """A garment's or look's image (the photo in its box) and cutout (its region of the
    person), both in the box, padded where the box passes the photo's edge and at the
    style guide's size. The image is flattened onto its background before it is resized,
    so no dark fringe grows where the padding meets the photo."""
    x0, y0, x1, y1 = item.box
    h, w = rgb.shape[:2]
    if item.size is None and x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:  # the photo as it is
        return cutout(rgb, None, item.box)[..., :3], cutout(rgb, garment_alpha, item.box)
    size = item.size or (x1 - x0, y1 - y0)
    fill = parse_background(item.background or background)
    image = sized_cutout(rgb, None, item.box, size, fill)
    return (image if fill is None else image[..., :3]), sized_cutout(rgb, garment_alpha, item.box, size)


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


def swatch(rgb: tuple[int, int, int], size: int = 50) -> Image.Image:
    """A size x size RGB image filled with the colour."""
    r, g, b = (int(v) for v in rgb)
    return Image.new("RGB", (size, size), (r, g, b))


def skeleton_view(rgb: np.ndarray, people: list[Person]) -> np.ndarray:
    """The photo with each person's skeleton drawn on it (a product photo as it is)."""
    return draw_skeleton(rgb, people, body_settings().visible) if people else rgb


def fit_preview(rgb: np.ndarray, side: int) -> np.ndarray:
    """At most `side` pixels on the long side."""
    import cv2

    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    return cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
