"""Names for colours: the nearest CSS colour name, and a plain family word for shoppers.

Both work in CIELAB and compare with CIEDE2000, the colour difference that best follows
what people see (plain RGB distance calls a dark navy and a black "far apart" and two
clearly different yellows "close").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.colors import CSS4_COLORS
from skimage.color import deltaE_ciede2000, rgb2lab

from shared.domain.records import COLOUR_FAMILIES

RGB = Sequence[int]  # (r, g, b), each 0..255

FAMILIES = COLOUR_FAMILIES


def lab_of(rgb: RGB | np.ndarray) -> np.ndarray:
    """CIELAB of one sRGB colour or of an (..., 3) array of them (0..255)."""
    arr = np.asarray(rgb, dtype=np.float64) / 255.0
    return rgb2lab(arr.reshape(-1, 1, 3)).reshape(arr.shape)


def _rgb_of_hex(h: str) -> tuple[int, int, int]:
    return int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)


# --- CSS names ---------------------------------------------------------------------------
# CSS Color 4 lists some colours twice (gray/grey, aqua/cyan, fuchsia/magenta); keeping the
# alphabetically first name per value makes the answer deterministic (and picks "gray",
# "aqua", "fuchsia").
_css: dict[str, str] = {}
for _name in sorted(CSS4_COLORS):
    _css.setdefault(str(CSS4_COLORS[_name]).lower(), _name)
_CSS_NAMES = list(_css.values())
_CSS_LAB = lab_of(np.array([_rgb_of_hex(h) for h in _css]))  # computed once, at import


def colour_name(rgb: RGB) -> str:
    """The CSS colour name nearest to ``rgb`` (CIEDE2000 in Lab), e.g. 'darkslategray'."""
    d = deltaE_ciede2000(_CSS_LAB, lab_of(rgb)[None, :])
    return _CSS_NAMES[int(np.argmin(d))]


# --- Families ----------------------------------------------------------------------------
# Hues are judged by the nearest of a few reference colours per family (dark, mid and light
# shades, and the muted ones garments often come in); greys are decided by lightness alone.
_REFERENCES = {
    "red": ["#ff0000", "#d0202a", "#b22222", "#8b0000", "#800020", "#a52a2a", "#c0392b",
            "#ff6347", "#cd5c5c"],
    "orange": ["#ffa500", "#ff8c00", "#ff7f50", "#e8743b", "#cc5500", "#f4a460"],
    "yellow": ["#ffff00", "#ffd700", "#f0e68c", "#e1ad01", "#fff176", "#c9b037"],
    "green": ["#008000", "#00ff00", "#006400", "#228b22", "#2e8b57", "#808000", "#556b2f",
              "#8fbc8f", "#98fb98", "#9caf88", "#008080", "#3cb371", "#6b8e23", "#738678"],
    "blue": ["#0000ff", "#4169e1", "#1e90ff", "#87ceeb", "#add8e6", "#4682b4", "#6495ed",
             "#1560bd", "#0047ab", "#5f9ea0", "#40e0d0", "#b0c4de", "#6a7ba2"],
    "navy": ["#000080", "#191970", "#1c2841", "#2c3e50"],
    "purple": ["#800080", "#9370db", "#4b0082", "#8a2be2", "#663399", "#dda0dd", "#d8bfd8",
               "#e6e6fa", "#b19cd9", "#856088"],
    "pink": ["#ffc0cb", "#ffb6c1", "#ff69b4", "#ff1493", "#db7093", "#c71585", "#ff00ff",
             "#f4c2c2", "#e75480"],
    "brown": ["#8b4513", "#a0522d", "#654321", "#5c4033", "#964b00", "#7b5c4a", "#483c32",
              "#8b5a2b", "#6f4e37"],
    "beige": ["#f5f5dc", "#d2b48c", "#f5deb3", "#e8d8c0", "#c8ad7f", "#ffe4c4", "#c19a6b",
              "#d6c6ac"],
}  # fmt: skip
# The darkest shades: the centroids of all eight ISCC-NBS "very dark" colour names (Kelly
# and Judd, Color: Universal Language and Dictionary of Names, NBS 1976), each filed under
# the family of its hue word (a very dark blue under navy). Without them the darkest
# references were navy's, so a very dark green or purple was called navy.
_VERY_DARK = {
    "red": ["#3f1728", "#38152c"],  # very dark red, very dark purplish red
    "green": ["#1c352d", "#002a29", "#173620"],  # very dark green, bluish green, yellowish green
    "navy": ["#002e3b"],  # very dark greenish blue
    "purple": ["#301934", "#341731"],  # very dark purple, very dark reddish purple
}
_SHADES = {family: hexes + _VERY_DARK.get(family, []) for family, hexes in _REFERENCES.items()}
_REF_FAMILY = [f for f, hexes in _SHADES.items() for _ in hexes]
_REF_LAB = lab_of(np.array([_rgb_of_hex(h) for hexes in _SHADES.values() for h in hexes]))

# Below GREY_CHROMA (C* of LCh) a colour reads as a grey to a shopper. Near the ends of the
# lightness scale more chroma is needed before a colour shows: a near-black burgundy still
# looks black, and ivory or honeydew still look white.
GREY_CHROMA = 6.0
DARK_L, DARK_GREY_CHROMA = 15.0, 12.0
PALE_L, PALE_GREY_CHROMA = 90.0, 10.0
# Lightness cut-offs for black / grey / white. Black is below Munsell value 2.5 (L* 25.3),
# where the ISCC-NBS colour names put it: the labelled photos' black shoes and swimwear
# measure L* 22-25 (a charcoal knit, 'black' acceptable, 24.9). White is set fairly low on
# purpose: white items photographed in ordinary light measure L* 70-90, not 100.
BLACK_BELOW_L, WHITE_FROM_L = 25.3, 68.0


# Colours closer than a just noticeable difference (CIE76 delta E*ab 2.3, Mahy, Van Eycken
# and Oosterlinck 1994) look the same side by side.
JUST_NOTICEABLE = 2.3
# The 26 directions from the centre of a cube to its faces, edges and corners, unit length.
_AROUND = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if (a, b, c) != (0, 0, 0)])
_AROUND = _AROUND / np.linalg.norm(_AROUND, axis=1, keepdims=True)


def colour_family(rgb: RGB) -> str:
    """A basic colour word (one of FAMILIES) for ``rgb``, e.g. (110, 74, 64) -> 'brown'."""
    return colour_families([rgb])[0]


def colour_families(rgbs: Sequence[RGB]) -> list[str]:
    """The family word of each of several colours, in one pass."""
    return _families_of_lab(lab_of(np.asarray(rgbs)).reshape(-1, 3))


def near_families(rgb: RGB) -> list[str]:
    """The other family words a just noticeable difference away from ``rgb`` (in FAMILIES
    order): a colour on the border of two families (navy and blue, white and grey) is one
    a shopper may call by either word."""
    lab = lab_of(rgb)
    own, *around = _families_of_lab(np.vstack([lab, lab + JUST_NOTICEABLE * _AROUND]))
    return [family for family in FAMILIES if family != own and family in around]


def _families_of_lab(lab: np.ndarray) -> list[str]:
    """The family word of each CIELAB colour of an n x 3 array."""
    lightness, chroma = lab[:, 0], np.hypot(lab[:, 1], lab[:, 2])
    grey_below = np.where(
        lightness < DARK_L, DARK_GREY_CHROMA, np.where(lightness >= PALE_L, PALE_GREY_CHROMA, GREY_CHROMA)
    )
    neutral = np.where(lightness < BLACK_BELOW_L, "black", np.where(lightness >= WHITE_FROM_L, "white", "grey"))
    d = deltaE_ciede2000(_REF_LAB[None, :, :], lab[:, None, :])  # colour x reference
    hue = np.asarray(_REF_FAMILY)[np.argmin(d, axis=1)]
    return [str(n) if c < g else str(h) for n, h, c, g in zip(neutral, hue, chroma, grey_below)]
