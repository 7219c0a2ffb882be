"""The in-process runner: every stage's step in order on each photo, in this process, and
the catalog writer (files, manifest.json, index.html).

person photo:  detect -> pose (landmarks, garment crops and kinds) -> segment (matte) -> color
product photo: detect -> segment (instances, their categories) -> color

The Celery workers run the very same steps, one task per stage (shared.engine.worker); here the
catalog files go to the output folder and the intermediates to in-memory scratch space.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from shared.domain.listing import Listing
from shared.domain.records import ImageRecord, Item, Manifest, Options, Person, slugify
from shared.domain.review import reviewed_item
from shared.engine.catalog_files import skeleton_view
from shared.engine.gallery import write_gallery
from shared.engine.photo_state import PhotoState, photo_record
from shared.engine.stage import Artifacts, StepContext, decode_photo, internal_error, run_steps
from shared.infra.imageio import ImageError, collect_photos, on_white, read_file, read_png, sized_cutout
from shared.infra.storage import BlobStore, memory_store

log = logging.getLogger(__name__)


@dataclass
class ItemResult:
    item: Item  # files filled in when written
    image: np.ndarray  # RGB crop of the photo (garment, look) or the product on white
    cutout: np.ndarray  # RGBA, alpha from the matte


@dataclass
class PhotoResult:
    kind: str | None
    people: list[Person]
    items: list[ItemResult]
    preview: np.ndarray
    timings_ms: dict[str, float] = field(default_factory=dict)


def _scratch() -> tuple[BlobStore, str]:
    """In-memory space for one photo's intermediates (and, for analyse, its files)."""
    return memory_store(), f"photo-{uuid.uuid4().hex}"


def analyse_state(
    rgb: np.ndarray,
    options: Options,
    files: Artifacts,
    source: str = "photo",
    scaled_from: tuple[int, int] | None = None,
    listing: Listing | None = None,
) -> PhotoState:
    """Every step on one decoded photo, its files written through `files`; its listing,
    where given, checked."""
    state = PhotoState(source=source, slug=files.slug, scaled_from=scaled_from, listing=listing)
    try:
        return run_steps(StepContext(state, files, load_photo=lambda: rgb, load_options=lambda: options, _rgb=rgb))
    finally:
        files.clear_work()


def analyse(rgb: np.ndarray, options: Options) -> PhotoResult:
    """Every step on one decoded photo; nothing is written to disk (the steps' files go to
    scratch memory, and the arrays come back in the result)."""
    store, prefix = _scratch()
    files = Artifacts(store, f"{prefix}/out", "photo", store, f"{prefix}/work")
    try:
        state = analyse_state(rgb, options, files)
        items = []
        for item in state.items:
            assert item.files is not None and item.files.cutout is not None
            rgba = read_png(store.get(f"{prefix}/out/{item.files.cutout}"))
            # The photo in a garment's or look's box (black where a style guide pads it).
            size = item.size or (item.box[2] - item.box[0], item.box[3] - item.box[1])
            image = sized_cutout(rgb, None, item.box, size)[..., :3] if item.type != "product" else on_white(rgba)
            items.append(ItemResult(reviewed_item(item), image, rgba))
        return PhotoResult(state.kind, state.people, items, skeleton_view(rgb, state.people), state.timings_ms)
    finally:
        store.delete_prefix(prefix)


def local_files(out_dir: Path, slug: str) -> Artifacts:
    """Catalog files under out_dir/<slug>/, intermediates in scratch memory."""
    store, prefix = _scratch()
    return Artifacts(BlobStore(Path(out_dir).resolve().as_uri()), "", slug, store, prefix)


def process_file(path: Path, out_dir: Path, slug: str, options: Options, listing: Listing | None = None) -> ImageRecord:
    """One photo from file to catalog entry: every step in order, the files written under
    out_dir/slug/, its listing (where given) checked. Never raises: a bad photo fails alone."""
    record = ImageRecord(source=str(path), status="ok")
    try:
        rgb, scaled_from = decode_photo(read_file(path))
        record.height, record.width = rgb.shape[:2]
        files = local_files(out_dir, slug)
        state = analyse_state(rgb, options, files, source=str(path), scaled_from=scaled_from, listing=listing)
        return photo_record(state)
    except ImageError as exc:
        return record.model_copy(update={"status": "failed", "error": str(exc), "items": []})
    except Exception as exc:  # a model or disk fault on one photo must not stop the others
        log.exception("processing %s failed", path)
        return record.model_copy(update={"status": "failed", "error": internal_error("processing", exc), "items": []})


def run(
    paths: Iterable[Path],
    out_dir: Path,
    options: Options | None = None,
    on_photo: Callable[[ImageRecord], None] | None = None,
    listings: Mapping[str, Listing] | None = None,
) -> Manifest:
    """Process photos in-process and write the catalog (files, manifest.json, index.html).
    `listings` holds a photo's listing by its file name."""
    options = options or Options()
    out_dir.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    records = []
    for path in collect_photos(paths):
        listing = (listings or {}).get(path.name)
        record = process_file(path, out_dir, slugify(path.name, taken), options, listing)
        records.append(record)
        if on_photo:
            on_photo(record)
    manifest = Manifest(created=datetime.now(UTC).isoformat(timespec="seconds"), options=options, images=records)
    (out_dir / "manifest.json").write_text(manifest.model_dump_json(indent=2))
    write_gallery(manifest, out_dir)
    return manifest
