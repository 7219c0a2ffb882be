"""The per-photo stages as steps: the one implementation that both the in-process pipeline
(shared.pipeline) and the Celery workers (shared.worker) run.

person photo:  detect -> pose -> segment -> classify -> color
product photo: detect -> segment -> classify -> color

A step takes a StepContext: the photo's PhotoState (small JSON, changed in place), the job's
Options, the decoded photo (decoded at most once per step, from the original) and the
photo's Artifacts (where files go). Steps exchange the state and blob keys, never pixels:

- detect:   kind (person or product), size, people with their 33 keypoints;
- pose:     garment candidates (tight region from the keypoints, framed box) per person;
- segment:  the ISNet matte; person: kept as an 8-bit PNG for the colour step; product:
            split into instances, each an RGBA cutout (intermediate files);
- classify: garment kind within its garment's categories, headwear kept only when the
            classifier sees a hat; product: the catalog category of each cutout on white;
- color:    dominant colour and palette per item, then the catalog files: preview.jpg and,
            per item, <name>.<ext>, <name>-cutout.png, <name>-swatch.png.

A step replaces what it computes (it never appends to an earlier result), so running a step
again on the state it started from gives the same state: a redelivered task is harmless.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from PIL import Image

from services.color.logic import dominant_color, swatch, without_tone
from services.color.names import lab_of
from services.detect.logic import HEADWEAR_MIN_SCORE, best_within, classify, detect, headwear_score
from services.pose.logic import draw_skeleton, face_mask, frame, garment_body_mask, garment_regions
from services.segment.logic import ALPHA_ITEM, Instance, cutout, matte, split_instances
from shared.imageio import encode_image
from shared.schemas import CategoryScore, Garment, ItemFiles, ItemState, Options, Person, PhotoState, Stage
from shared.storage import BlobStore, join

# Which catalog categories a garment crop can be; the classifier picks among them.
GARMENT_CATEGORIES: dict[Garment, tuple[str, ...]] = {
    "top": ("clothing/tops", "clothing/outerwear", "clothing/dresses", "clothing/swimwear-underwear"),
    "bottom": ("clothing/bottoms", "clothing/dresses", "clothing/swimwear-underwear"),
    "shoes": ("shoes/sneakers", "shoes/boots", "shoes/sandals", "shoes/formal"),
    "headwear": ("accessories/hats",),
}
PREVIEW_SIDE = 1024
MIN_COLOUR_PIXELS = 25
# A product pixel this transparent still counts for the colour when the item has too few solid ones.
FALLBACK_ALPHA = 0.05
MATTE = "matte.png"  # the person matte, 8-bit, in the photo's work area


# --- where a photo's files go -------------------------------------------------------------


@dataclass
class Artifacts:
    """One photo's files. Catalog files go to `catalog` under `<catalog_prefix>/<slug>/<name>`
    and are named in the manifest relative to the catalog root (`<slug>/<name>`);
    intermediates go to `work` under `<work_prefix>/<name>`."""

    catalog: BlobStore
    catalog_prefix: str
    slug: str
    work: BlobStore
    work_prefix: str

    def put_file(self, name: str, data: bytes) -> str:
        """Write a catalog file; returns its manifest path, `<slug>/<name>`."""
        rel = f"{self.slug}/{name}"
        self.catalog.put(join(self.catalog_prefix, rel), data)
        return rel

    def put_work(self, name: str, data: bytes) -> str:
        self.work.put(join(self.work_prefix, name), data)
        return name

    def get_work(self, name: str) -> bytes:
        return self.work.get(join(self.work_prefix, name))

    def clear_work(self) -> None:
        self.work.delete_prefix(self.work_prefix)


@dataclass
class StepContext:
    state: PhotoState
    options: Options
    files: Artifacts
    load_photo: Callable[[], np.ndarray]  # decodes the original (raises ImageError)
    _rgb: np.ndarray | None = field(default=None, repr=False)

    @cached_property
    def rgb(self) -> np.ndarray:
        """The decoded photo, HxWx3 uint8, decoded on first use."""
        return self._rgb if self._rgb is not None else self.load_photo()

    @contextmanager
    def timed(self, stage: str):
        start = time.perf_counter()
        yield
        self.state.timings_ms[stage] = round((time.perf_counter() - start) * 1000, 1)

    def finish(self, stage: Stage) -> None:
        if stage not in self.state.done:
            self.state.done.append(stage)


# --- the steps --------------------------------------------------------------------------------


def step_detect(ctx: StepContext) -> None:
    """Person or product; the people's keypoints (kept, so pose does not run the model again)."""
    rgb, state = ctx.rgb, ctx.state
    state.height, state.width = rgb.shape[:2]
    with ctx.timed("detect"):
        detection = detect(rgb)
    state.kind = "person" if detection.is_person else "product"
    state.people = detection.people
    state.items = []
    ctx.finish("detect")


def step_pose(ctx: StepContext) -> None:
    """Garment candidates of every person: the tight region from the keypoints, and the box
    framed to the aspect preset. Headwear is a candidate only; classify decides."""
    state, options = ctx.state, ctx.options
    w, h = state.width, state.height
    items = []
    with ctx.timed("pose"):
        for index, person in enumerate(state.people):
            for garment, region in garment_regions(person, w, h).items():
                if garment in options.garments:
                    box = frame(region, w, h, options.aspect, options.padding)
                    items.append(ItemState(type="garment", garment=garment, person=index, region=region, box=box))
    state.items = items
    ctx.finish("pose")


def step_segment(ctx: StepContext) -> None:
    """ISNet matte. Person: kept whole (8-bit PNG) for the garment cutouts and colours.
    Product: split into instances, each kept as an RGBA cutout; a photo where nothing stands
    out (a scene, a texture) is one whole-photo item."""
    rgb, state = ctx.rgb, ctx.state
    if state.kind == "person":
        with ctx.timed("segment"):
            alpha = matte(rgb)
        ctx.files.put_work(MATTE, _png((np.clip(alpha, 0, 1) * 255).round().astype(np.uint8)))
        ctx.finish("segment")
        return
    h, w = rgb.shape[:2]
    with ctx.timed("segment"):
        instances = split_instances(matte(rgb))
    if not instances:
        instances = [Instance(box=(0, 0, w, h), alpha=np.ones((h, w), np.float32), area=h * w)]
    items = []
    for i, inst in enumerate(instances):
        rgba = cutout(rgb, inst.alpha, inst.box)
        name = ctx.files.put_work(f"item-{i}-cutout.png", encode_image(rgba, "png", background="transparent"))
        items.append(ItemState(type="product", box=inst.box, work_cutout=name))
    state.items = items
    ctx.finish("segment")


def step_classify(ctx: StepContext) -> None:
    """Garments: the likeliest kind among their garment's categories; headwear only when the
    classifier sees a hat. Products: the catalog category of the cutout on white."""
    state = ctx.state
    kept = []
    with ctx.timed("classify"):
        for item in state.items:
            if item.type == "garment":
                crop = _crop(ctx.rgb, item.region)
                if item.garment == "headwear":
                    score = headwear_score(crop)
                    if score < HEADWEAR_MIN_SCORE:
                        continue
                    category = CategoryScore(category="accessories/hats", score=round(score, 4))
                else:
                    category = best_within(crop, GARMENT_CATEGORIES[item.garment])
                item.category, item.category_score, item.top3 = category.category, category.score, [category]
            else:
                c = classify(on_white(read_png(ctx.files.get_work(item.work_cutout))))
                item.category, item.category_score, item.top3 = c.category, c.score, c.top3
            kept.append(item)
    state.items = kept
    ctx.finish("classify")


def step_color(ctx: StepContext) -> None:
    """Dominant colour per item (on the item's own pixels), then every catalog file."""
    rgb, state, options = ctx.rgb, ctx.state, ctx.options
    h, w = rgb.shape[:2]
    images: list[tuple[np.ndarray, np.ndarray]] = []  # (image, cutout) per item
    if state.kind == "person":
        alpha = read_png(ctx.files.get_work(MATTE)).astype(np.float32) / 255.0
        person_pixels = alpha > ALPHA_ITEM
        skins: dict[int, np.ndarray | None] = {}
        with ctx.timed("color"):
            for item in state.items:
                person = state.people[item.person]
                if item.person not in skins:
                    skins[item.person] = _skin_tone(rgb, person)
                x0, y0, x1, y1 = item.region
                in_region = np.zeros_like(person_pixels)
                in_region[y0:y1, x0:x1] = True
                on_body = garment_body_mask(person, item.garment, w, h) & person_pixels
                if skins[item.person] is not None:
                    on_body = without_tone(rgb, on_body, skins[item.person])
                item.color = _colour(rgb, on_body, in_region & person_pixels, options.palette_size)
        for item in state.items:
            # The cutout shows the garment's own region of the person, not the whole body.
            x0, y0, x1, y1 = item.region
            garment_alpha = np.zeros_like(alpha)
            garment_alpha[y0:y1, x0:x1] = alpha[y0:y1, x0:x1]
            images.append((_crop(rgb, item.box), cutout(rgb, garment_alpha, item.box)))
    else:
        cutouts = [read_png(ctx.files.get_work(item.work_cutout)) for item in state.items]
        with ctx.timed("color"):
            for item, rgba in zip(state.items, cutouts):
                alpha = np.zeros((h, w), np.float32)  # the instance's alpha in the whole photo
                x0, y0, x1, y1 = item.box
                alpha[y0:y1, x0:x1] = rgba[..., 3] / np.float32(255)
                item.color = _colour(rgb, alpha > ALPHA_ITEM, alpha > FALLBACK_ALPHA, options.palette_size)
        images = [(on_white(rgba), rgba) for rgba in cutouts]
    state.preview = ctx.files.put_file("preview.jpg", encode_image(fit_preview(skeleton_view(rgb, state.people)), "jpeg"))
    for item, name, (image, rgba) in zip(state.items, item_names(state.items), images):
        item.name = name
        item.files = write_item_files(ctx.files, name, item, image, rgba, options)
    ctx.finish("color")


STEPS: dict[Stage, Callable[[StepContext], None]] = {
    "detect": step_detect, "pose": step_pose, "segment": step_segment, "classify": step_classify, "color": step_color,
}


def run_steps(ctx: StepContext) -> PhotoState:
    """Every step in order, as the photo's kind decides (the in-process pipeline)."""
    stage = ctx.state.next_stage(None)
    while stage:
        STEPS[stage](ctx)
        stage = ctx.state.next_stage(stage)
    return ctx.state


# --- the catalog files --------------------------------------------------------------------------


def item_names(items: list[ItemState]) -> list[str]:
    """File base names: a garment by its name ("top"; "top-2" for a second person's), a
    product as "item-1", "item-2", ..."""
    counts: dict[str, int] = {}
    names = []
    for item in items:
        base = item.garment or "item"
        counts[base] = counts.get(base, 0) + 1
        names.append(base if counts[base] == 1 and item.garment else f"{base}-{counts[base]}")
    return names


def write_item_files(files: Artifacts, name: str, item, image: np.ndarray, rgba: np.ndarray, options: Options) -> ItemFiles:
    """An item's image (garment: the framed crop; product: the cutout on the chosen
    background), its RGBA cutout and its colour swatch."""
    ext = "jpg" if options.format == "jpeg" else options.format
    shown = image if item.type == "garment" else rgba
    return ItemFiles(
        image=files.put_file(f"{name}.{ext}", encode_image(shown, options.format, background=options.background)),
        cutout=files.put_file(f"{name}-cutout.png", encode_image(rgba, "png", background="transparent")),
        swatch=files.put_file(f"{name}-swatch.png", encode_image(np.asarray(swatch(item.color.rgb, options.swatch_size)), "png")),
    )


def skeleton_view(rgb: np.ndarray, people: list[Person]) -> np.ndarray:
    """The photo with each person's skeleton drawn on it (a product photo as it is)."""
    return draw_skeleton(rgb, people) if people else rgb


def fit_preview(rgb: np.ndarray) -> np.ndarray:
    """At most PREVIEW_SIDE pixels on the long side."""
    import cv2

    h, w = rgb.shape[:2]
    scale = PREVIEW_SIDE / max(h, w)
    return cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb


# --- helpers -------------------------------------------------------------------------------------


def _crop(rgb: np.ndarray, box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return rgb[y0:y1, x0:x1]


def _colour(rgb: np.ndarray, mask: np.ndarray, fallback: np.ndarray, k: int):
    """Colour of the masked pixels; a mask too small to trust falls back to a wider one."""
    for candidate in (mask, fallback):
        if candidate.sum() >= MIN_COLOUR_PIXELS:
            return dominant_color(rgb, candidate, k=k)
    return dominant_color(rgb, None, k=k)


def _skin_tone(rgb: np.ndarray, person: Person) -> np.ndarray | None:
    """The person's skin colour (CIELAB median of the face), when the face is seen and
    its colour is plausibly skin: warm hue, some chroma. A back view can place "face"
    points on hair, whose colour must not be taken out of the garments."""
    face = face_mask(person, rgb.shape[1], rgb.shape[0])
    if face is None:
        return None
    tone = np.median(lab_of(rgb[face]), axis=0)
    chroma, hue = np.hypot(tone[1], tone[2]), np.degrees(np.arctan2(tone[2], tone[1]))
    return tone if chroma >= 8 and 15 <= hue <= 95 and tone[0] >= 20 else None


def on_white(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:].astype(np.float32) / 255.0
    return (rgba[..., :3] * a + 255.0 * (1 - a)).round().astype(np.uint8)


def _png(array: np.ndarray) -> bytes:
    """Lossless PNG of a uint8 array (HxW grey or HxWx4), fast rather than small."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def read_png(data: bytes) -> np.ndarray:
    """A PNG as the uint8 array it was written from."""
    with Image.open(io.BytesIO(data)) as im:
        return np.array(im)
