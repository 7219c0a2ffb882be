"""End to end: catalog.runner.run and the `catalog run` command on real photos and on
broken or unusual files, with the real models.

One run (conftest's catalog_run, session-scoped) writes the catalog; the tests read what
a user gets: manifest.json, the written images and index.html.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import PAINT, encode, small
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab

from shared.domain.records import Manifest, Options

GOOD = ["footballer", "coffee", "painted"]
UNUSUAL_BUT_VALID = ["cmyk", "grey", "grey16", "palette", "rotated"]
BROKEN = {
    # input -> words the user must see in the error
    "not_an_image": ["not a supported image", "JPEG", "PNG"],
    "truncated": ["truncated or corrupt"],
    "empty": ["empty file"],
    "huge": ["too large", "900 megapixels", "limit is 50 megapixels"],
    "over_limit": ["too large", "8000x7000", "limit is 50 megapixels"],
}


def open_image(path: Path) -> Image.Image:
    im = Image.open(path)
    im.load()
    return im


def preview_of(run, name: str) -> np.ndarray:
    return np.asarray(open_image(run.out / run.records[name].preview).convert("RGB")).astype(int)


def delta_e(rgb_a, rgb_b) -> float:
    lab = rgb2lab(np.array([[rgb_a, rgb_b]], np.uint8))
    return float(deltaE_ciede2000(lab[0, 0], lab[0, 1]))


# --- the manifest ----------------------------------------------------------------------------


def test_manifest_json_is_a_valid_manifest_of_every_input(catalog_run):
    text = (catalog_run.out / "manifest.json").read_text()
    manifest = Manifest.model_validate_json(text)
    assert manifest == catalog_run.manifest
    assert manifest.options == Options()
    # One record per input, in the order given, whether it worked or not.
    assert [Path(r.source) for r in manifest.images] == list(catalog_run.inputs.values())
    assert [r.source for r in catalog_run.reported] == [r.source for r in manifest.images]


def test_bad_files_do_not_stop_the_good_ones(catalog_run):
    for name in GOOD + UNUSUAL_BUT_VALID:
        record = catalog_run.records[name]
        assert record.status == "ok", f"{name}: {record.error}"
        assert record.error is None
        assert record.items, f"{name} gave no catalog items"


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_file_fails_alone_with_a_clear_reason(catalog_run, name):
    record = catalog_run.records[name]
    assert record.status == "failed"
    for words in BROKEN[name]:
        assert words in record.error, f"{name}: {record.error!r} does not say {words!r}"
    assert "internal error" not in record.error
    assert record.items == [] and record.kind is None and record.preview is None


def test_tiny_photo_is_processed_or_refused_clearly(catalog_run):
    record = catalog_run.records["tiny"]
    if record.status == "ok":
        assert (record.width, record.height) == (40, 40)
        assert record.items
    else:
        assert "too small" in record.error, record.error


def test_photo_sizes_are_the_decoded_upright_sizes(catalog_run):
    expected = {"coffee": (600, 400), "painted": (760, 500), "footballer": (548, 342)}
    expected.update({name: (300, 200) for name in UNUSUAL_BUT_VALID})
    for name, size in expected.items():
        record = catalog_run.records[name]
        assert (record.width, record.height) == size, name


# --- person and product records ------------------------------------------------------------


def test_person_record(catalog_run):
    record = catalog_run.records["footballer"]
    assert record.kind == "person"
    assert record.people == 1
    assert len(record.keypoints) == record.people
    assert all(len(keypoints) == 33 for keypoints in record.keypoints)
    assert record.items
    for item in record.items:
        assert item.type == "garment"
        assert item.garment in ("top", "bottom", "shoes", "headwear")
        assert 0 <= item.person < record.people
        assert item.color is not None


@pytest.mark.parametrize("name", ["coffee", "painted"] + UNUSUAL_BUT_VALID)
def test_product_record(catalog_run, name):
    record = catalog_run.records[name]
    assert record.kind == "product"
    assert record.people == 0
    assert record.keypoints is None
    for item in record.items:
        assert item.type == "product"
        assert item.garment is None and item.person is None
        assert len(item.top3) == 3
        x0, y0, x1, y1 = item.box
        assert 0 <= x0 < x1 <= record.width and 0 <= y0 < y1 <= record.height


def test_coffee_is_one_drink(catalog_run):
    record = catalog_run.records["coffee"]
    assert len(record.items) == 1
    assert record.items[0].category == "food/drinks"


def test_painted_product_has_its_paint_colour(catalog_run):
    record = catalog_run.records["painted"]
    assert len(record.items) == 1
    colour = record.items[0].color
    distance = delta_e(colour.rgb, PAINT)
    assert distance <= 3, (
        f"{colour.hex} is {distance:.1f} from the painted {PAINT}; the white background must not count"
    )
    assert colour.palette[0].share > 0.8


# --- the files written -------------------------------------------------------------------------


def written_files(record):
    yield "preview", record.preview
    for item in record.items:
        yield "image", item.files.image
        yield "cutout", item.files.cutout
        yield "swatch", item.files.swatch


def test_every_file_in_the_manifest_is_a_valid_image_of_its_format(catalog_run):
    checked = 0
    for record in catalog_run.manifest.images:
        if record.status != "ok":
            continue
        assert open_image(catalog_run.out / record.preview).format == "JPEG"
        for item in record.items:
            x0, y0, x1, y1 = item.box
            for kind, rel in [
                ("image", item.files.image),
                ("cutout", item.files.cutout),
                ("swatch", item.files.swatch),
            ]:
                assert rel and not Path(rel).is_absolute() and ".." not in Path(rel).parts, rel
                path = catalog_run.out / rel
                assert path.is_file(), f"{record.source}: {rel} is in the manifest but not on disk"
                im = open_image(path)
                if kind == "image":
                    assert im.format == "JPEG" and path.suffix == ".jpg"  # the default format
                    assert im.size == (x1 - x0, y1 - y0)
                elif kind == "cutout":
                    assert im.format == "PNG" and im.mode == "RGBA"
                    assert im.size == (x1 - x0, y1 - y0)
                    alpha = np.asarray(im)[..., 3]
                    assert alpha.max() > 127, f"{rel}: the item is transparent everywhere"
                    assert alpha.min() < 128 or record.kind == "product", f"{rel}: a garment cutout without background"
                else:
                    assert im.format == "PNG" and im.size == (50, 50)
                    colours = im.convert("RGB").getcolors()
                    assert colours == [(2500, item.color.rgb)], f"{rel} is not filled with {item.color.hex}"
                    assert item.color.hex == "#{:02x}{:02x}{:02x}".format(*item.color.rgb)
                checked += 1
    assert checked >= 3 * 10


def test_index_html_shows_every_photo_its_preview_cutouts_and_swatches(catalog_run):
    page = (catalog_run.out / "index.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert 'href="manifest.json"' in page
    for record in catalog_run.manifest.images:
        assert html.escape(Path(record.source).name) in page
        if record.status == "failed":
            assert html.escape(record.error) in page, f"the gallery does not show why {record.source} failed"
            continue
        for kind, rel in written_files(record):
            if kind != "image":
                assert f'"{html.escape(rel)}"' in page, f"index.html does not reference the {kind} {rel}"


def test_index_html_links_every_item_image(catalog_run):
    """The item image (the catalog picture in the chosen format and background) must be
    reachable from the gallery, for products as well as garments."""
    page = (catalog_run.out / "index.html").read_text(encoding="utf-8")
    missing = [
        item.files.image
        for record in catalog_run.manifest.images
        for item in record.items
        if f'"{html.escape(item.files.image)}"' not in page
    ]
    assert missing == [], f"index.html does not reference these item images: {missing}"


# --- unusual encodings come out right -------------------------------------------------------


def test_cmyk_and_greyscale_photos_keep_their_look(catalog_run, coffee):
    cup = small(coffee).astype(int)
    assert np.abs(preview_of(catalog_run, "cmyk") - cup).mean() < 8  # not inverted, not colour-shifted
    grey = np.asarray(Image.fromarray(small(coffee)).convert("L")).astype(int)
    for name in ("grey", "grey16"):  # 16-bit is scaled, not clipped to white
        preview = preview_of(catalog_run, name)
        assert np.abs(preview - grey[..., None]).mean() < 8, name


def test_exif_rotated_photo_is_processed_upright(catalog_run, coffee):
    record = catalog_run.records["rotated"]
    stored = Image.open(catalog_run.inputs["rotated"])
    assert stored.size == (200, 300)  # on its side in the file
    assert (record.width, record.height) == (300, 200)
    assert np.abs(preview_of(catalog_run, "rotated") - small(coffee).astype(int)).mean() < 8


def test_transparent_palette_png_is_on_white(catalog_run, coffee_mask):
    preview = preview_of(catalog_run, "palette")
    background = ~small(coffee_mask)
    assert np.abs(preview[background] - 255).mean() < 6  # transparent -> white, not the green palette entry
    assert not ((preview[..., 1] > 200) & (preview[..., 0] < 80)).any()


# --- writing options, and a photo with nothing in it --------------------------------------------


def test_blank_photo_is_one_whole_photo_item():
    from catalog.runner import analyse

    blank = np.full((300, 400, 3), 255, np.uint8)
    result = analyse(blank, Options())
    assert result.kind == "product" and result.people == []
    assert len(result.items) == 1
    item = result.items[0].item
    assert item.box == (0, 0, 400, 300)
    assert item.color.rgb == (255, 255, 255)


def test_item_writer_honours_format_background_and_swatch_size(tmp_path):
    """The catalog writer the colour step uses, alone (no models): a red disc product on a
    transparent cutout, two items of one photo."""
    from catalog.runner import local_files
    from shared.domain.records import ColorResult, ItemState, PaletteEntry
    from shared.engine.catalog_files import item_names, write_item_files

    yy, xx = np.mgrid[:60, :80]
    disc = (yy - 30) ** 2 + (xx - 40) ** 2 < 25**2
    rgba = np.zeros((60, 80, 4), np.uint8)
    rgba[disc] = (200, 0, 0, 255)
    red = ColorResult(
        hex="#c80000",
        rgb=(200, 0, 0),
        name="red",
        css_name="firebrick",
        palette=[PaletteEntry(hex="#c80000", rgb=(200, 0, 0), share=1.0)],
    )
    items = [
        ItemState(type="product", category="background-other", category_score=0.9, box=(0, 0, 80, 60), color=red)
        for _ in range(2)
    ]
    for options, fmt, mode in [
        (Options(format="png", background="transparent", swatch_size=20), "PNG", "RGBA"),
        (Options(format="webp", background="#0000ff", swatch_size=20), "WEBP", "RGB"),
    ]:
        out = tmp_path / options.format
        files = local_files(out, "disc")
        written = [write_item_files(files, name, it, rgba, rgba, options) for it, name in zip(items, item_names(items))]
        names = [f.image for f in written] + [f.cutout for f in written]
        assert len(set(names)) == 4, f"two items or an image and a cutout share a file: {names}"
        for f in written:
            im = open_image(out / f.image)
            assert im.format == fmt and im.mode == mode and im.size == (80, 60)
            corner = np.asarray(im.convert("RGBA"))[0, 0]
            if mode == "RGBA":
                assert corner[3] == 0  # transparent kept
            else:
                assert np.abs(corner[:3].astype(int) - (0, 0, 255)).max() <= 8  # flattened onto the chosen colour
            assert open_image(out / f.swatch).size == (20, 20)
            assert np.asarray(open_image(out / f.cutout))[0, 0, 3] == 0


# --- configuration -----------------------------------------------------------------------------


@pytest.fixture
def fresh_settings(monkeypatch):
    from shared.infra.settings import settings

    settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    settings.cache_clear()


def test_max_pixels_setting_limits_the_photos_processed(fresh_settings, tmp_path, coffee):
    """CATALOG_MAX_PIXELS (shared.infra.settings.Settings.max_pixels) is the configured limit."""
    from catalog.runner import process_file
    from shared.infra.settings import settings

    fresh_settings.setenv("CATALOG_MAX_PIXELS", "20000")
    assert settings().max_pixels == 20000
    photo = tmp_path / "cup.png"
    photo.write_bytes(encode(small(coffee)))  # 300x200 = 60000 pixels
    record = process_file(photo, tmp_path / "out", "cup", Options())
    assert record.status == "failed" and "too large" in (record.error or ""), (
        f"a 60000-pixel photo passed a 20000-pixel limit: {record.status} {record.error}"
    )


# --- the command line ----------------------------------------------------------------------------


def catalog_command() -> list[str]:
    script = Path(sys.executable).parent / "catalog"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "catalog.cli"]


def test_catalog_run_command_reports_a_bad_file_and_writes_the_catalog(tmp_path, coffee):
    good, bad = tmp_path / "cup.png", tmp_path / "broken.jpg"
    good.write_bytes(encode(small(coffee)))
    whole = encode(small(coffee), "JPEG", quality=90)
    bad.write_bytes(whole[: len(whole) // 2])
    out = tmp_path / "catalog"
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    proc = subprocess.run(
        [*catalog_command(), "run", str(good), str(bad), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    said = re.sub(r"\s+", " ", proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken.jpg" in said and "truncated or corrupt" in said, said
    assert "1 ok, 1 failed" in said, said
    manifest = Manifest.model_validate_json((out / "manifest.json").read_text())
    assert [r.status for r in manifest.images] == ["ok", "failed"]
    assert (out / "index.html").is_file()
    assert (out / manifest.images[0].items[0].files.image).is_file()


def test_catalog_run_command_refuses_a_missing_path(tmp_path):
    proc = subprocess.run(
        [*catalog_command(), "run", str(tmp_path / "nope.jpg"), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode != 0
    assert "does not exist" in re.sub(r"\s+", " ", proc.stdout + proc.stderr)
    assert not (tmp_path / "out" / "manifest.json").exists()
