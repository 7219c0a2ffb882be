"""Products named from the text on their packs: the lexicon in the languages packs are
printed in, the OCR model reading a real pack, the text kept in the manifest, and OCR run
only where it can change the answer."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import PUBLIC
from PIL import Image, ImageDraw, ImageFont

from services.segment import category as product_category
from services.segment.pack_words import text_categories
from shared.infra.imageio import read_image

DEV = PUBLIC.parent / "dev"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


@pytest.mark.parametrize(
    "line, category",
    [
        ("Dark CHOCOLATE", "food/desserts"),
        ("Chocolat noir", "food/desserts"),
        ("Zartbitter Schokolade", "food/desserts"),
        ("Barra de chocolate", "food/desserts"),
        ("Cioccolato fondente", "food/desserts"),
        ("Pure chocolade", "food/desserts"),
        ("Горький шоколад", "food/desserts"),
        ("Eau minérale naturelle", "food/drinks"),
        ("Frische Vollmilch", "food/drinks"),
        ("Leche entera", "food/drinks"),
        ("Acqua minerale", "food/drinks"),
        ("Volle melk", "food/drinks"),
        ("Молоко", "food/drinks"),
        ("纯牛奶", "food/drinks"),
        ("Shampooing doux", "cosmetics/haircare"),
        ("Crème hydratante visage", "cosmetics/skincare"),
    ],
)
def test_the_lexicon_names_the_category_in_each_language(line, category):
    assert text_categories([(line, 1.0)])[0][0] == category


def test_longer_entries_first_and_words_run_together():
    assert text_categories([("Vanilla ICE CREAM", 1.0)]) == [("food/desserts", 1.0)]  # not "cream": skincare
    assert text_categories([("Eau de Parfum", 1.0)]) == [("cosmetics/perfume", 1.0)]
    assert text_categories([("READYTOEAT CHICKENTIKKASAMOSA", 1.0)]) == [("food/dishes", 1.0)]
    assert text_categories([("375g", 1.0), ("NUTRI-SCORE", 1.0)]) == []


def test_the_largest_print_weighs_most():
    # A crepe pack's name, with milk among its small-print ingredients.
    (first, share), *_ = text_categories([("CREPES", 1.0), ("farine de blé, lait", 0.3)])
    assert first == "food/bakery" and share > 0.7


def _pack_photo(words: list[str]) -> np.ndarray:
    """A flat box printed with words, standing on a white sweep."""
    photo = Image.new("RGB", (900, 900), "white")
    draw = ImageDraw.Draw(photo)
    draw.rectangle((200, 150, 700, 750), fill=(92, 52, 30))
    draw.rectangle((230, 300, 670, 560), fill=(240, 226, 200))
    for k, word in enumerate(words):
        font = ImageFont.truetype(BOLD, 72 if k == 0 else 40)
        draw.text((450, 360 + 110 * k), word, fill=(92, 52, 30), font=font, anchor="mm")
    return np.asarray(photo)


@pytest.fixture
def ocr_calls(monkeypatch):
    """The real OCR, counted."""
    calls = []

    def counted(rgb):
        calls.append(rgb.shape)
        return read_lines(rgb)

    read_lines = product_category.read_lines
    monkeypatch.setattr(product_category, "read_lines", counted)
    return calls


def test_a_pack_is_named_by_its_text_and_the_text_is_kept(ocr_calls):
    from catalog.runner import analyse
    from shared.domain.records import Options

    result = analyse(_pack_photo(["CHOCOLAT", "NOIR 70%"]), Options())
    assert result.kind == "product" and len(result.items) == 1
    item = result.items[0].item
    assert ocr_calls, "the image alone cannot tell what is in a brown box"
    assert item.category == "food/desserts", item.top3
    assert item.text[0] == "CHOCOLAT" and "NOIR 70%" in item.text
    assert 0 < item.category_score <= 1 and item.top3[0].category == "food/desserts"


@pytest.mark.parametrize(
    "name, accepted",
    [
        ("drink_packaged_02.jpg", {"food/drinks"}),  # a milk carton the image takes for sunscreen
        ("food_packaged_11.jpg", {"food/bakery", "food/desserts"}),  # muesli, "kitchen-appliances" by image
        ("food_packaged_14.jpg", {"food/dishes"}),  # a samosa tray, "skincare" by image
    ],
)
def test_real_packs_are_named_by_what_they_say(name, accepted, ocr_calls):
    if not (DEV / name).exists():
        pytest.skip(f"dev photos not found at {DEV}")
    from catalog.runner import analyse
    from shared.domain.records import Options

    result = analyse(read_image(DEV / name), Options())
    assert ocr_calls and result.items[0].item.category in accepted, result.items[0].item.top3


def test_the_main_product_reads_the_whole_photo(ocr_calls):
    # Coca-Cola bottles seen close up: the matte splits them and keeps their dark glass
    # above the labels, so no product's own box holds a word. The largest reads the photo.
    if not (DEV / "drink_packaged_03.jpg").exists():
        pytest.skip(f"dev photos not found at {DEV}")
    from catalog.runner import analyse
    from shared.domain.records import Options

    rgb = read_image(DEV / "drink_packaged_03.jpg")
    result = analyse(rgb, Options())
    assert len(result.items) > 1
    main = result.items[0].item
    assert ocr_calls[0][:2] == rgb.shape[:2]
    assert main.category == "food/drinks", main.top3
    assert any("Coca" in line for line in main.text)


def test_a_product_the_image_is_sure_of_pays_no_ocr(ocr_calls):
    # A red sneaker-like shape is not needed: the classifier is sure of scikit-image's coffee cup.
    from skimage import data

    from catalog.runner import analyse
    from shared.domain.records import Options

    result = analyse(np.ascontiguousarray(data.coffee()), Options())
    assert result.items[0].item.category == "food/drinks"
    assert ocr_calls == [] and result.items[0].item.text == []


def test_a_failing_ocr_leaves_the_classifiers_answer(monkeypatch, caplog):
    """Text is extra evidence: if reading it fails, the photo still comes back, named by
    the image alone (a fault injected into the real pipeline)."""
    from catalog.runner import analyse
    from shared.domain.records import Options

    def broken(rgb):
        raise RuntimeError("OCR model crashed")

    monkeypatch.setattr(product_category, "read_lines", broken)
    result = analyse(_pack_photo(["CHOCOLAT", "NOIR 70%"]), Options())
    item = result.items[0].item
    assert item.text == [] and item.category != "food/desserts"
    assert "OCR failed" in caplog.text
