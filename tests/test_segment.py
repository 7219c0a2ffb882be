"""Segment stage with the real ISNet model, measured against real cutouts.

Ground truth is made from a real photo: ISNet's own matte of skimage's coffee cup picks
the cup's pixels, and only those pixels are pasted onto a white canvas. The pasted mask
is then exactly what a perfect matte of the composite would be.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import box_contains, box_of, paste, white_canvas

from services.segment.matte import matte, split_instances
from shared.domain.records import ITEM_ALPHA
from shared.infra.imageio import cutout


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture(scope="module")
def one_cup(coffee, coffee_mask):
    """The cup pasted off-centre onto a larger white canvas: (rgb, truth, alpha)."""
    canvas, truth = white_canvas(700, 900)
    paste(canvas, truth, coffee, coffee_mask, top=220, left=260)
    return canvas, truth, matte(canvas)


@pytest.fixture(scope="module")
def cup_and_bottle(coffee, coffee_mask, bottle_object):
    """The cup and the supplement bottle side by side with a clear gap:
    (rgb, cup truth, bottle truth, alpha)."""
    canvas, cup = white_canvas(600, 1100)
    _, bottle = white_canvas(600, 1100)
    paste(canvas, cup, coffee, coffee_mask, top=100, left=20)
    paste(canvas, bottle, *bottle_object, top=125, left=720)
    assert box_of(cup)[2] + 150 < box_of(bottle)[0], "the objects must not touch"
    return canvas, cup, bottle, matte(canvas)


def test_matte_is_a_soft_alpha_of_the_photo_size(one_cup):
    rgb, _, alpha = one_cup
    assert alpha.shape == rgb.shape[:2]
    assert alpha.dtype == np.float32
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert alpha.max() > 0.99 and alpha.min() < 0.01  # sure of both object and background


def test_matte_of_a_cutout_on_white_matches_the_cutout(one_cup):
    _, truth, alpha = one_cup
    assert iou(alpha > 0.5, truth) >= 0.95
    # The white canvas is background: nothing far from the object is picked up.
    x0, y0, x1, y1 = box_of(truth)
    outside = np.ones_like(truth)
    outside[max(0, y0 - 20) : y1 + 20, max(0, x0 - 20) : x1 + 20] = False
    assert (alpha[outside] > 0.5).sum() == 0


def test_one_object_is_one_instance_around_it(one_cup):
    _, truth, alpha = one_cup
    instances = split_instances(alpha)
    assert len(instances) == 1
    inst = instances[0]
    assert box_contains(inst.box, box_of(truth))
    # Snug: a few pixels of margin, not the whole canvas.
    tx0, ty0, tx1, ty1 = box_of(truth)
    x0, y0, x1, y1 = inst.box
    assert (x1 - x0) * (y1 - y0) < 1.2 * (tx1 - tx0) * (ty1 - ty0)
    assert inst.alpha.shape == alpha.shape
    assert inst.area == int((alpha > ITEM_ALPHA).sum())


def test_two_products_side_by_side_are_two_instances(cup_and_bottle):
    _, cup, bottle, alpha = cup_and_bottle
    instances = split_instances(alpha)
    assert len(instances) == 2
    assert instances[0].area >= instances[1].area  # largest first
    by_object = {}
    for name, truth in (("cup", cup), ("bottle", bottle)):
        holding = [inst for inst in instances if box_contains(inst.box, box_of(truth))]
        assert len(holding) == 1, f"the {name} should be inside exactly one instance's box"
        by_object[name] = holding[0]
    assert by_object["cup"] is not by_object["bottle"]
    for name, truth, other in (("cup", cup, bottle), ("bottle", bottle, cup)):
        inst = by_object[name]
        # Each instance's alpha is its own object, and none of the other one.
        assert iou(inst.alpha > 0.5, truth) >= 0.95, name
        assert (inst.alpha[other] > 0).sum() == 0, name
        x0, y0, x1, y1 = inst.box
        assert not other[y0:y1, x0:x1].any(), f"the {name} box reaches into the other object"


def test_cutout_is_rgba_of_the_box_with_the_matte_as_alpha(cup_and_bottle):
    rgb, cup, _, alpha = cup_and_bottle
    for inst in split_instances(alpha):
        x0, y0, x1, y1 = inst.box
        rgba = cutout(rgb, inst.alpha, inst.box)
        assert rgba.shape == (y1 - y0, x1 - x0, 4) and rgba.dtype == np.uint8
        assert np.array_equal(rgba[..., :3], rgb[y0:y1, x0:x1])
        expected = np.round(inst.alpha[y0:y1, x0:x1] * 255)
        assert np.abs(rgba[..., 3].astype(int) - expected).max() <= 1
        assert (rgba[..., 3] == 255).mean() > 0.3  # solid where the object is
    # The cup's cutout is opaque on the cup and transparent on the white around it.
    inst = next(i for i in split_instances(alpha) if box_contains(i.box, box_of(cup)))
    x0, y0, x1, y1 = inst.box
    a = cutout(rgb, inst.alpha, inst.box)[..., 3]
    inside = cup[y0:y1, x0:x1]
    assert (a[inside] > 127).mean() > 0.97
    assert (a[~inside] <= 127).mean() > 0.9


def test_empty_matte_has_no_instances():
    assert split_instances(np.zeros((300, 400), np.float32)) == []
