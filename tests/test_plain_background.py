"""A product's matte completed from its plain background, where the matte model kept only
what stood out most (the print on a cream knit on a white sweep)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BOTTLE, PUBLIC, SCENE

from services.segment.matte import matte, split_instances
from services.segment.plain_background import completed_on_plain_background
from shared.domain.records import ITEM_ALPHA
from shared.infra.imageio import read_image

DEV = PUBLIC.parent / "dev"


def cream_vest_with_a_print() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A cream garment (CIEDE2000 about 7 from the white sweep) with a dark print on its
    front: the photo, the garment's pixels, the print's."""
    rng = np.random.default_rng(0)
    rgb = np.full((400, 300, 3), 255, np.uint8)
    garment = np.zeros((400, 300), bool)
    garment[60:360, 50:250] = True
    rgb[garment] = (246, 240, 222)
    rgb[garment] = np.clip(rgb[garment] + rng.normal(0, 2, (garment.sum(), 3)), 0, 255).astype(np.uint8)  # knit
    printed = np.zeros_like(garment)
    printed[150:260, 110:190] = True
    rgb[printed] = (30, 30, 30)
    return rgb, garment, printed


def test_a_matte_holding_only_the_print_grows_to_the_whole_garment():
    rgb, garment, printed = cream_vest_with_a_print()
    alpha = completed_on_plain_background(rgb, printed.astype(np.float32))
    solid = alpha > ITEM_ALPHA
    assert (solid & garment).sum() / garment.sum() > 0.95  # the whole garment, print and all
    assert (solid & ~garment).sum() / garment.sum() < 0.03  # and not the sweep around it


def test_a_whole_matte_is_left_as_the_model_made_it():
    rgb, garment, _ = cream_vest_with_a_print()
    alpha = garment.astype(np.float32)
    assert completed_on_plain_background(rgb, alpha) is alpha


@pytest.mark.parametrize("photo", [BOTTLE, SCENE])
def test_real_mattes_are_kept(photo):
    """A packshot whose matte is whole, and a scene without a plain edge, keep ISNet's matte."""
    rgb = read_image(photo)
    alpha = matte(rgb)
    assert completed_on_plain_background(rgb, alpha) is alpha


def test_a_cream_knit_on_white_is_cut_out_whole():
    """ISNet keeps the cartoon printed on a cream knit vest and drops the vest: the cut-out
    is the vest, and its colour the cream, not the print's black."""
    path = DEV / "knit_white_bg_02.jpg"
    if not path.is_file():
        pytest.skip("shared test photo knit_white_bg_02.jpg not found")
    from catalog.runner import analyse
    from shared.domain.records import Options

    rgb = read_image(path)
    alpha = matte(rgb)
    assert (alpha > ITEM_ALPHA).mean() < 0.1  # what the model alone keeps: the print
    assert (split_instances(completed_on_plain_background(rgb, alpha))[0].alpha > ITEM_ALPHA).mean() > 0.3
    item = analyse(rgb, Options()).items[0].item
    assert item.color is not None and item.color.name in ("white", "beige"), item.color
