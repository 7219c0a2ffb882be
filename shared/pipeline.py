"""The in-process pipeline: the stage functions chained per photo, and the catalog writer.

person photo:  detect -> pose (garment boxes) -> segment (person matte) -> color per garment
product photo: detect -> segment (instances) -> classify each instance -> color per item
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from services.color.logic import dominant_color, swatch, without_tone
from services.color.names import lab_of
from services.detect.logic import HEADWEAR_MIN_SCORE, best_within, classify, detect, headwear_score
from services.pose.logic import draw_skeleton, face_mask, frame, garment_body_mask, garment_regions
from services.segment.logic import ALPHA_ITEM, Instance, cutout, matte, split_instances
from shared.imageio import ImageError, encode_image, read_image
from shared.schemas import CategoryScore, Garment, ImageRecord, Item, ItemFiles, Manifest, Options, Person
from shared.settings import settings

log = logging.getLogger(__name__)

# Which catalog categories a garment crop can be; the classifier picks among them.
GARMENT_CATEGORIES: dict[Garment, tuple[str, ...]] = {
    "top": ("clothing/tops", "clothing/outerwear", "clothing/dresses", "clothing/swimwear-underwear"),
    "bottom": ("clothing/bottoms", "clothing/dresses", "clothing/swimwear-underwear"),
    "shoes": ("shoes/sneakers", "shoes/boots", "shoes/sandals", "shoes/formal"),
    "headwear": ("accessories/hats",),
}
PREVIEW_SIDE = 1024
MIN_COLOUR_PIXELS = 25


@dataclass
class ItemResult:
    item: Item  # files filled in when written
    image: np.ndarray  # RGB crop of the photo
    cutout: np.ndarray  # RGBA, alpha from the matte


@dataclass
class PhotoResult:
    kind: str
    people: list[Person]
    items: list[ItemResult]
    preview: np.ndarray
    timings_ms: dict[str, float] = field(default_factory=dict)


@contextmanager
def _timed(timings: dict[str, float], stage: str):
    start = time.perf_counter()
    yield
    timings[stage] = timings.get(stage, 0.0) + round((time.perf_counter() - start) * 1000, 1)


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


def person_items(rgb: np.ndarray, people: list[Person], options: Options, timings: dict) -> list[ItemResult]:
    h, w = rgb.shape[:2]
    with _timed(timings, "segment"):
        alpha = matte(rgb)
    person_pixels = alpha > ALPHA_ITEM
    results = []
    for index, person in enumerate(people):
        with _timed(timings, "pose"):
            regions = {g: box for g, box in garment_regions(person, w, h).items() if g in options.garments}
        skin = _skin_tone(rgb, person)
        for garment, region in regions.items():
            with _timed(timings, "classify"):
                if garment == "headwear":
                    score = headwear_score(_crop(rgb, region))
                    if score < HEADWEAR_MIN_SCORE:
                        continue
                    category = CategoryScore(category="accessories/hats", score=round(score, 4))
                else:
                    category = best_within(_crop(rgb, region), GARMENT_CATEGORIES[garment])
            box = frame(region, w, h, options.aspect, options.padding)
            with _timed(timings, "color"):
                on_body = garment_body_mask(person, garment, w, h) & person_pixels
                if skin is not None:
                    on_body = without_tone(rgb, on_body, skin)
                in_region = np.zeros_like(person_pixels)
                in_region[region[1] : region[3], region[0] : region[2]] = True
                color = _colour(rgb, on_body, in_region & person_pixels, options.palette_size)
            item = Item(
                type="garment", garment=garment, person=index, category=category.category,
                category_score=category.score, top3=[category], box=box,
                files=ItemFiles(image=""), color=color,
            )
            # The cutout shows the garment's own region of the person, not the whole body.
            garment_alpha = np.where(in_region, alpha, 0.0)
            results.append(ItemResult(item, _crop(rgb, box), cutout(rgb, garment_alpha, box)))
    return results


def product_items(rgb: np.ndarray, options: Options, timings: dict) -> list[ItemResult]:
    h, w = rgb.shape[:2]
    with _timed(timings, "segment"):
        alpha = matte(rgb)
        instances = split_instances(alpha)
    if not instances:
        # Nothing stands out (a scene, a texture): the whole photo is the one item.
        instances = [Instance(box=(0, 0, w, h), alpha=np.ones((h, w), np.float32), area=h * w)]
    results = []
    for inst in instances:
        rgba = cutout(rgb, inst.alpha, inst.box)
        on_white = _on_white(rgba)
        with _timed(timings, "classify"):
            c = classify(on_white)
        with _timed(timings, "color"):
            color = _colour(rgb, inst.alpha > ALPHA_ITEM, inst.alpha > 0.05, options.palette_size)
        item = Item(
            type="product", category=c.category, category_score=c.score, top3=c.top3, box=inst.box,
            files=ItemFiles(image=""), color=color,
        )
        results.append(ItemResult(item, on_white, rgba))
    return results


def _on_white(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:].astype(np.float32) / 255.0
    return (rgba[..., :3] * a + 255.0 * (1 - a)).round().astype(np.uint8)


def analyse(rgb: np.ndarray, options: Options) -> PhotoResult:
    """Every stage on one decoded photo; nothing is written."""
    timings: dict[str, float] = {}
    with _timed(timings, "detect"):
        detection = detect(rgb)
    if detection.is_person:
        items = person_items(rgb, detection.people, options, timings)
        preview = draw_skeleton(rgb, detection.people)
        return PhotoResult("person", detection.people, items, preview, timings)
    return PhotoResult("product", [], product_items(rgb, options, timings), rgb, timings)


def _slug(path: Path, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.") or "photo"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _preview(rgb: np.ndarray) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    scale = PREVIEW_SIDE / max(h, w)
    return cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb


def write_photo(result: PhotoResult, record: ImageRecord, out_dir: Path, slug: str, options: Options) -> ImageRecord:
    """Write the photo's artifacts under out_dir/slug/ and fill in the record's paths."""
    folder = out_dir / slug
    folder.mkdir(parents=True, exist_ok=True)
    ext = "jpg" if options.format == "jpeg" else options.format

    def put(name: str, data: bytes) -> str:
        (folder / name).write_bytes(data)
        return f"{slug}/{name}"

    record.preview = put("preview.jpg", encode_image(_preview(result.preview), "jpeg"))
    counts: dict[str, int] = {}
    for r in result.items:
        base = r.item.garment or "item"
        counts[base] = counts.get(base, 0) + 1
        name = base if counts[base] == 1 and r.item.garment else f"{base}-{counts[base]}"
        if r.item.type == "garment":
            image = encode_image(r.image, options.format, background=options.background)
        else:
            image = encode_image(r.cutout, options.format, background=options.background)
        r.item.files = ItemFiles(
            image=put(f"{name}.{ext}", image),
            cutout=put(f"{name}-cutout.png", encode_image(r.cutout, "png", background="transparent")),
            swatch=put(f"{name}-swatch.png", encode_image(np.asarray(swatch(r.item.color.rgb, options.swatch_size)), "png")),
        )
        record.items.append(r.item)
    return record


def process_file(path: Path, out_dir: Path, slug: str, options: Options) -> ImageRecord:
    """One photo from file to catalog entry. Never raises: a bad photo fails alone."""
    record = ImageRecord(source=str(path), status="ok")
    try:
        rgb = read_image(path, max_pixels=settings().max_pixels, min_side=settings().min_side)
        record.height, record.width = rgb.shape[:2]
        result = analyse(rgb, options)
        record.kind = result.kind
        record.people = len(result.people)
        record.keypoints = [p.keypoints for p in result.people] if result.kind == "person" else None
        record.timings_ms = result.timings_ms
        return write_photo(result, record, out_dir, slug, options)
    except ImageError as exc:
        return record.model_copy(update={"status": "failed", "error": str(exc), "items": []})
    except Exception as exc:  # a model or disk fault on one photo must not stop the others
        log.exception("processing %s failed", path)
        return record.model_copy(update={"status": "failed", "error": f"internal error: {exc}", "items": []})


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}


def collect(paths: Iterable[Path]) -> list[Path]:
    """Files as given (whatever their suffix, so a bad file is reported, not skipped);
    folders expanded to the image files inside them."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            found.append(path)
    return found


def run(
    paths: Iterable[Path], out_dir: Path, options: Options | None = None,
    on_photo: Callable[[ImageRecord], None] | None = None,
) -> Manifest:
    """Process photos in-process and write the catalog (files, manifest.json, index.html)."""
    from shared.gallery import write_gallery

    options = options or Options()
    out_dir.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    records = []
    for path in collect(paths):
        record = process_file(path, out_dir, _slug(path, taken), options)
        records.append(record)
        if on_photo:
            on_photo(record)
    manifest = Manifest(created=datetime.now(timezone.utc).isoformat(timespec="seconds"), options=options, images=records)
    (out_dir / "manifest.json").write_text(manifest.model_dump_json(indent=2))
    write_gallery(manifest, out_dir)
    return manifest
