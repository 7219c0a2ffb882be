"""Colour measurement on items painted onto a real, busy photo (skimage's astronaut)."""

import numpy as np
import pytest
from conftest import PUBLIC
from skimage import data, draw
from skimage.color import deltaE_ciede2000, lab2rgb

from services.color.color_names import BLACK_BELOW_L, FAMILIES, WHITE_FROM_L, lab_of, near_families
from services.color.dominant import colour_family, colour_name, dominant_color, hex_of
from shared.engine.catalog_files import swatch

BACKGROUND = data.astronaut()  # 512x512, many colours: suit, flag, skin, dark space


def delta_e(a, b) -> float:
    return float(deltaE_ciede2000(lab_of(a), lab_of(b)))


def item_mask(shape=BACKGROUND.shape[:2]) -> np.ndarray:
    """An irregular item: an ellipse and a polygon that overlap (~38,000 pixels)."""
    mask = np.zeros(shape, bool)
    mask[draw.ellipse(250, 220, 120, 70, shape=shape, rotation=0.4)] = True
    mask[draw.polygon([300, 420, 460, 330], [200, 150, 330, 380], shape=shape)] = True
    return mask


def paint(mask: np.ndarray, colours, shares=(1.0,), seed: int = 0) -> np.ndarray:
    """The background with the item painted in colours (split top to bottom by shares)
    plus mild sensor-like noise (sigma 3) on the item."""
    img = BACKGROUND.astype(np.float64)
    idx = np.flatnonzero(mask)  # raster order: splitting it cuts the item top to bottom
    bounds = np.round(np.cumsum((0.0, *shares)) * len(idx)).astype(int)
    flat = img.reshape(-1, 3)
    for colour, lo, hi in zip(colours, bounds[:-1], bounds[1:]):
        flat[idx[lo:hi]] = colour
    flat[idx] += np.random.default_rng(seed).normal(0, 3, (len(idx), 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


PAINTED = {
    "red": (200, 30, 40),
    "navy": (25, 35, 90),
    "beige": (225, 205, 170),
    "near-white": (245, 244, 240),
    "mid grey": (128, 128, 128),
}


@pytest.mark.parametrize("colour", PAINTED.values(), ids=PAINTED.keys())
def test_dominant_colour_of_a_plain_item_on_a_busy_photo(colour):
    mask = item_mask()
    result = dominant_color(paint(mask, [colour]), mask)
    assert delta_e(result.rgb, colour) < 3
    assert result.hex == hex_of(result.rgb)
    assert result.palette[0].share > 0.95  # noise does not split a plain colour
    assert sum(p.share for p in result.palette) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "colour, name, css_name", [((220, 20, 60), "red", "crimson"), ((30, 40, 90), "navy", "midnightblue")]
)
def test_item_colour_is_named_with_the_family_word_and_the_css_name_beside_it(colour, name, css_name):
    """A shopper filters by "red", not by the CSS name nearest to the shade."""
    mask = item_mask()
    result = dominant_color(paint(mask, [colour]), mask)
    assert (result.name, result.css_name) == (name, css_name)


def _neutral_grey(lightness: float) -> tuple[int, int, int]:
    """The sRGB grey of CIELAB lightness L*, a* = b* = 0."""
    value = float(lab2rgb(np.array([[[lightness, 0.0, 0.0]]])).reshape(3)[0])
    return (round(value * 255),) * 3


@pytest.mark.parametrize(
    "colour, name, near",
    [
        ((200, 0, 0), "red", []),
        ((0, 0, 0), "black", []),
        ((65, 84, 111), "navy", ["blue"]),  # a dark denim blue: navy to some, blue to others
        (_neutral_grey(WHITE_FROM_L + 0.5), "white", ["grey"]),
        (_neutral_grey(BLACK_BELOW_L - 0.5), "black", ["grey"]),
    ],
)
def test_a_colour_on_the_border_of_two_families_is_given_the_other_name_too(colour, name, near):
    """The family word of a colour a just noticeable difference from another family's is
    a coin toss, to a shopper as to the product; a colour well inside its family has no
    other name near."""
    assert (colour_family(colour), near_families(colour)) == (name, near)
    mask = item_mask()
    result = dominant_color(paint(mask, [colour]), mask)
    assert (result.name, result.near_names) == (name, near)


def test_two_colour_item_gives_its_own_colours_and_shares_not_the_background():
    green, yellow = (40, 140, 60), (230, 200, 40)
    mask = item_mask()
    result = dominant_color(paint(mask, [green, yellow], shares=(0.7, 0.3)), mask)
    assert delta_e(result.rgb, green) < 3
    first, second = result.palette[:2]
    assert delta_e(second.rgb, yellow) < 3
    assert first.share == pytest.approx(0.7, abs=0.02)
    assert second.share == pytest.approx(0.3, abs=0.02)
    assert len(result.palette) == 2  # nothing of the photo behind the item got in


def test_a_colour_split_into_shades_outweighs_a_larger_patch_of_another():
    """Silver glitter (or a satin's folds) splits into greys too far apart to merge, each
    smaller than a patch of shadow-brown beside it; a shopper calls the item grey, the
    colour most of it shares."""
    greys = [(70, 70, 72), (105, 105, 107), (140, 141, 142), (175, 175, 177)]
    brown = (60, 36, 30)
    mask = item_mask()
    result = dominant_color(paint(mask, [brown, *greys], shares=(0.28, 0.18, 0.18, 0.18, 0.18)), mask)
    assert result.name == "grey", result.palette
    first, *rest = result.palette
    assert colour_family(first.rgb) == "grey" and first.share < 0.28
    brown_at = [colour_family(p.rgb) for p in rest].index("brown")
    assert all(colour_family(p.rgb) == "grey" for p in rest[:brown_at])  # the greys, then the rest
    assert sum(p.share for p in result.palette) == pytest.approx(1.0)


def test_without_a_mask_the_whole_photo_counts():
    result = dominant_color(BACKGROUND)
    assert 1 < len(result.palette) <= 5
    assert sum(p.share for p in result.palette) == pytest.approx(1.0)
    families = [colour_family(p.rgb) for p in result.palette]
    share_of = {f: sum(p.share for p, g in zip(result.palette, families) if g == f) for f in families}
    assert share_of[families[0]] == max(share_of.values())  # the family covering most leads


def test_float_alpha_mask_counts_only_alpha_above_one_half():
    mask = item_mask()
    img = paint(mask, [PAINTED["red"]])
    alpha = np.where(mask, 0.8, 0.3)  # a faint halo over the background must not count
    assert dominant_color(img, alpha) == dominant_color(img, mask)


def test_same_seed_gives_the_same_result():
    img = BACKGROUND
    assert dominant_color(img, seed=3) == dominant_color(img, seed=3)


def test_empty_mask_raises_a_clear_error():
    with pytest.raises(ValueError, match="no item pixels to measure the colour of"):
        dominant_color(BACKGROUND, np.zeros(BACKGROUND.shape[:2], bool))
    with pytest.raises(ValueError, match="no item pixels"):
        dominant_color(BACKGROUND, np.full(BACKGROUND.shape[:2], 0.2))


def test_mask_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="mask shape"):
        dominant_color(BACKGROUND, np.ones((10, 10), bool))


def test_one_pixel_mask():
    mask = np.zeros(BACKGROUND.shape[:2], bool)
    mask[100, 200] = True
    result = dominant_color(BACKGROUND, mask)
    assert result.rgb == tuple(int(v) for v in BACKGROUND[100, 200])
    assert [p.share for p in result.palette] == [1.0]


def test_three_pixel_mask_with_fewer_pixels_than_clusters():
    img = BACKGROUND.copy()
    img[0, 0], img[0, 1], img[0, 2] = (255, 0, 0), (0, 128, 0), (0, 0, 255)
    mask = np.zeros(img.shape[:2], bool)
    mask[0, :3] = True
    result = dominant_color(img, mask, k=5)
    assert sorted(p.rgb for p in result.palette) == [(0, 0, 255), (0, 128, 0), (255, 0, 0)]
    assert [p.share for p in result.palette] == pytest.approx([1 / 3] * 3)


@pytest.mark.parametrize(
    "rgb, name",
    [
        ((255, 0, 0), "red"),
        ((0, 0, 128), "navy"),
        ((47, 79, 79), "darkslategray"),
        ((128, 128, 128), "gray"),  # CSS spells it both ways; one spelling, always
        ((0, 255, 255), "aqua"),  # = cyan
        ((250, 5, 8), "red"),  # near, not exact
    ],
)
def test_colour_name_is_the_nearest_css_name(rgb, name):
    assert colour_name(rgb) == name


@pytest.mark.parametrize(
    "rgb, family",
    [
        ((0, 0, 0), "black"),
        ((30, 28, 30), "black"),
        ((255, 255, 255), "white"),
        ((236, 236, 236), "white"),
        ((255, 255, 240), "white"),  # ivory: a pale tint still reads as white
        ((128, 128, 128), "grey"),
        ((80, 78, 82), "grey"),
        ((62, 62, 62), "grey"),  # dark grey: Munsell value above 2.5
        ((58, 58, 60), "black"),  # L* 24.5, a black shoe in soft light
        ((200, 30, 40), "red"),
        ((128, 0, 32), "red"),  # burgundy
        ((255, 140, 0), "orange"),
        ((250, 220, 30), "yellow"),
        ((30, 140, 60), "green"),
        ((85, 107, 47), "green"),  # olive
        ((30, 90, 200), "blue"),
        ((135, 206, 235), "blue"),  # sky blue
        ((25, 35, 90), "navy"),
        ((110, 40, 140), "purple"),
        ((255, 150, 180), "pink"),
        ((241, 67, 121), "pink"),
        ((110, 70, 40), "brown"),
        ((225, 205, 170), "beige"),
    ],
)
def test_colour_family(rgb, family):
    assert colour_family(rgb) == family


@pytest.mark.parametrize(
    "hex_, family",
    [
        ("#2f2140", "purple"),  # ISCC-NBS dark violet
        ("#32174d", "purple"),  # ISCC-NBS deep violet
        ("#4f3348", "purple"),  # a plum dress in shade
        ("#004b49", "green"),  # ISCC-NBS dark bluish green
        ("#00443f", "green"),  # ISCC-NBS deep bluish green
        ("#0b3d2e", "green"),  # a bottle-green coat
        ("#1f2a44", "navy"),
        ("#0b1a33", "navy"),
        ("#002147", "navy"),  # oxford blue
        ("#191970", "navy"),  # midnight blue
        ("#4a0000", "red"),  # oxblood
        ("#3c2218", "brown"),  # espresso
    ],
)
def test_a_very_dark_colour_is_named_by_its_hue_and_only_a_dark_blue_is_navy(hex_, family):
    assert colour_family(tuple(int(hex_[i : i + 2], 16) for i in (1, 3, 5))) == family


def test_colour_family_always_answers_a_family_word():
    rng = np.random.default_rng(0)
    assert {colour_family(c) for c in rng.integers(0, 256, (300, 3))} <= set(FAMILIES)


@pytest.mark.parametrize("size", [50, 7])
def test_swatch_has_the_size_and_exact_colour(size):
    img = swatch((110, 74, 64), size)
    assert img.mode == "RGB" and img.size == (size, size)
    assert img.getcolors() == [(size * size, (110, 74, 64))]


def test_hex_of():
    assert hex_of((255, 0, 16)) == "#ff0010"


def test_without_tone_drops_skin_but_never_everything():
    from services.color.color_names import lab_of
    from services.color.dominant import without_tone

    skin, shoe = (224, 172, 140), (20, 20, 24)
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[:, :30] = skin  # three quarters bare foot, one quarter black shoe
    rgb[:, 30:] = shoe
    mask = np.ones((40, 40), bool)
    kept = without_tone(rgb, mask, lab_of(skin))
    assert kept[:, 30:].all() and not kept[:, :30].any()
    assert dominant_color(rgb, kept).hex == "#141418"
    # A garment the colour of skin keeps its pixels rather than losing all of them.
    beige = np.full((40, 40, 3), skin, np.uint8)
    assert without_tone(beige, mask, lab_of(skin)).all()


def test_without_tone_drops_every_skin_tone_given():
    """The face in shade and the hands in the sun: bare legs lit like the hands go too."""
    from services.color.color_names import lab_of
    from services.color.dominant import without_tone

    face, hands, shoe = (150, 105, 85), (235, 190, 160), (20, 20, 24)
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[:, :10], rgb[:, 10:30], rgb[:, 30:] = face, hands, shoe
    mask = np.ones((40, 40), bool)
    assert without_tone(rgb, mask, lab_of(face))[:, 10:30].all()  # the face alone keeps the legs
    kept = without_tone(rgb, mask, np.stack([lab_of(face), lab_of(hands)]))
    assert kept[:, 30:].all() and not kept[:, :30].any()


def test_skin_tone_comes_from_the_hands_when_the_face_is_out_of_frame():
    """A shot cut at the chin: the wearer's skin, to take out of the garments, is sampled
    from the hands, and it matches what the face would have given."""
    from conftest import FOOTBALLER

    from services.color.step import skin_tones
    from services.pose.people import estimate_people
    from shared.domain.body import body_settings
    from shared.domain.body_masks import hand_mask
    from shared.infra.imageio import read_image

    rgb = read_image(FOOTBALLER)
    person = estimate_people(rgb)[0]
    h, w = rgb.shape[:2]
    assert hand_mask(person, w, h, body_settings().visible) is not None
    both = skin_tones(rgb, person, body_settings().visible)
    faceless = person.model_copy(deep=True)
    for kp in faceless.keypoints:
        if kp.name in ("nose", "mouth_left", "mouth_right") or "eye" in kp.name or "ear" in kp.name:
            kp.visibility = 0.0
    from_hands = skin_tones(rgb, faceless, body_settings().visible)
    assert both is not None and from_hands is not None
    assert len(both) == 2 and len(from_hands) == 1  # the face's and the hands'; the hands' alone
    assert deltaE_ciede2000(both[0], from_hands[0]) < 15


DEV = PUBLIC.parent / "dev"


@pytest.mark.skipif(not (DEV / "headless_04.jpg").exists(), reason="dev photos not found")
def test_shoes_of_a_headless_shot_are_not_the_colour_of_the_bare_feet():
    from catalog.runner import analyse
    from shared.domain.records import Options
    from shared.infra.imageio import read_image

    result = analyse(read_image(DEV / "headless_04.jpg"), Options())
    (shoes,) = [r.item for r in result.items if r.item.garment == "shoes"]
    assert shoes.color.name == "black", shoes.color  # labelled black; the bare feet are pink


@pytest.mark.parametrize(
    ("photo", "labelled"),
    [
        (PUBLIC / "person_fullbody_scene_15.jpg", (138, 139, 140)),  # silver glitter heels, bare shins
        (DEV / "headless_01.jpg", (62, 60, 64)),  # black slides, bare feet; no face in frame
    ],
)
def test_open_shoes_on_bare_feet_take_the_colour_of_the_shoe(photo, labelled):
    """Open shoes show more foot than shoe, and the feet are in other light than the face
    and the hands: the skin taken out of the shoes is also sampled from the bare shins
    just above them, so the shoes keep their own colour (both were brown, the feet's)."""
    if not photo.exists():
        pytest.skip(f"{photo.name} not found")
    from catalog.runner import analyse
    from shared.domain.records import Options
    from shared.infra.imageio import read_image

    result = analyse(read_image(photo), Options())
    shoes = [r.item for r in result.items if r.item.garment == "shoes" and r.item.person == 0]
    assert len(shoes) == 1
    assert delta_e(shoes[0].color.rgb, labelled) < 10, shoes[0].color


@pytest.mark.skipif(not (DEV / "group_13.jpg").exists(), reason="dev photos not found")
def test_a_garment_colour_in_a_group_leaves_out_the_neighbours():
    """Seven friends in a row, the man in the middle in a black henley among women in crop
    tops and lace, close enough that their bodies reach into his torso region: the others'
    torsos and legs are left out of his garments' pixels, and his shirt comes out black."""
    from catalog.runner import analyse
    from shared.domain.records import Options
    from shared.infra.imageio import read_image

    result = analyse(read_image(DEV / "group_13.jpg"), Options())
    assert len({r.item.person for r in result.items}) > 1
    (top,) = [r.item for r in result.items if r.item.garment == "top" and r.item.person == 0]
    assert top.color.name == "black", top.color  # labelled black
