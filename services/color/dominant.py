"""Colour of an item: dominant colour, palette and name (pure functions, no I/O).

Clustering is done in CIELAB rather than RGB so that cluster sizes and merges follow what
people see: equal distances in Lab are roughly equal perceived differences.
"""

from __future__ import annotations

import numpy as np
from skimage.color import deltaE_ciede2000, lab2rgb, rgb2lab
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from services.color.color_names import RGB, colour_families, colour_family, colour_name, lab_of, near_families
from services.color.settings import color_settings
from shared.domain.records import ColorResult, PaletteEntry

__all__ = ["dominant_color", "colour_name", "colour_family", "hex_of", "rgb_of_lab"]


def hex_of(rgb: RGB) -> str:
    """'#rrggbb' (lowercase) of an (r, g, b) colour, 0..255."""
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def rgb_of_lab(lab: np.ndarray) -> tuple[int, int, int]:
    """sRGB (0..255) of one Lab colour; colours outside sRGB are clipped to it."""
    rgb = lab2rgb(np.asarray(lab, dtype=np.float64).reshape(1, 1, 3)).reshape(3)
    r, g, b = np.clip(np.round(rgb * 255), 0, 255).astype(int)
    return int(r), int(g), int(b)


def _item_pixels(rgb: np.ndarray, mask: np.ndarray | None, max_pixels: int, seed: int) -> np.ndarray:
    """The item's pixels (N x 3 uint8), a seeded random sample of at most max_pixels."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {rgb.shape}")
    flat = rgb.reshape(-1, 3)
    if mask is None:
        idx = np.arange(len(flat))
    else:
        mask = np.asarray(mask)
        if mask.shape != rgb.shape[:2]:
            raise ValueError(f"mask shape {mask.shape} does not match image shape {rgb.shape[:2]}")
        # A soft alpha matte counts as the item where it is more item than background.
        idx = np.flatnonzero(mask if mask.dtype == bool else mask > 0.5)
    if len(idx) == 0:
        raise ValueError("no item pixels to measure the colour of")
    if len(idx) > max_pixels:
        # A sample this size pins the shares to about +-0.5% and keeps k-means fast; sampling
        # before the Lab conversion means only the sampled pixels are converted.
        idx = np.random.default_rng(seed).choice(idx, max_pixels, replace=False)
    return flat[idx]


def _merge_close(means: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge clusters whose Lab means are within merge_delta_e (settings), closest pair first."""
    limit = color_settings().merge_delta_e
    means, counts = means.copy(), counts.astype(np.float64)
    while len(means) > 1:
        d = deltaE_ciede2000(means[:, None, :], means[None, :, :])
        np.fill_diagonal(d, np.inf)
        i, j = np.unravel_index(np.argmin(d), d.shape)
        if d[i, j] >= limit:
            break
        # The merged mean is the mean of all pixels of both clusters.
        means[i] = (means[i] * counts[i] + means[j] * counts[j]) / (counts[i] + counts[j])
        counts[i] += counts[j]
        means, counts = np.delete(means, j, axis=0), np.delete(counts, j)
    return means, counts


def dominant_color(
    rgb: np.ndarray,
    mask: np.ndarray | None = None,
    k: int = 5,
    max_pixels: int | None = None,
    seed: int = 0,
) -> ColorResult:
    """Dominant colour and palette of the masked item in an HxWx3 uint8 image.

    ``mask`` (HxW, bool or float alpha) selects the item's own pixels; the caller leaves out
    background and skin there. The palette is the item's colour clusters, with shares
    summing to 1: those of the colour family that covers most of the item first, then the
    others, each largest first; the dominant colour is the first of them.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    pixels = _item_pixels(np.asarray(rgb), mask, max_pixels or color_settings().max_pixels, seed)
    lab = rgb2lab(pixels.reshape(-1, 1, 3)).reshape(-1, 3)

    # k-means cannot find more clusters than there are distinct colours (1 to 3 pixel masks,
    # flat artwork); a single colour needs no clustering at all.
    n_distinct = len(np.unique(pixels @ np.array([65536, 256, 1])))  # one int per colour
    n_clusters = min(k, n_distinct)
    if n_clusters == 1:
        labels = np.zeros(len(lab), dtype=int)
    else:
        # One k-means++ start: 2.9x faster than three, and the dominant colour moved by a
        # median CIEDE2000 of 0.0 on real item mattes (bench/README.md).
        # One thread: on 20k pixels OpenMP's hand-offs cost more than they save, and on a
        # busy machine each iteration waits for a descheduled thread (20x slower).
        with threadpool_limits(limits=1):
            labels = KMeans(n_clusters=n_clusters, n_init=1, random_state=seed).fit_predict(lab)

    # Each colour is the exact mean of its pixels (what a merge of two clusters averages).
    counts = np.bincount(labels, minlength=n_clusters)
    means = np.stack([lab[labels == c].mean(axis=0) for c in range(n_clusters)])
    means, counts = _merge_close(means, counts)

    order = np.argsort(-counts, kind="stable")  # stable: ties keep a deterministic order
    shares = counts[order] / counts.sum()
    colours = [rgb_of_lab(means[c]) for c in order]
    palette = [
        PaletteEntry(hex=hex_of(rgb), rgb=rgb, share=float(share), name=family, near_names=near_families(rgb))
        for rgb, share, family in zip(colours, shares, colour_families(colours))
    ]
    family, palette = _dominant_family_first(palette)
    top = palette[0]
    return ColorResult(
        hex=top.hex,
        rgb=top.rgb,
        name=family,
        css_name=colour_name(top.rgb),
        palette=palette,
        near_names=top.near_names,
    )


def _dominant_family_first(palette: list[PaletteEntry]) -> tuple[str, list[PaletteEntry]]:
    """The colour family that covers most of the item, and the palette with that family
    first, its largest shade leading. Texture and shading split one colour into shades too
    far apart to merge (silver glitter into four greys, each smaller than a patch of
    shadow), and a shopper names the colour the shades share."""
    families = [str(entry.name) for entry in palette]
    cover: dict[str, float] = {}
    for family, entry in zip(families, palette):
        cover[family] = cover.get(family, 0.0) + entry.share
    dominant = max(cover, key=lambda family: cover[family])  # ties: the largest shade's
    first = [entry for family, entry in zip(families, palette) if family == dominant]
    return dominant, first + [entry for family, entry in zip(families, palette) if family != dominant]


def without_tone(
    rgb: np.ndarray,
    mask: np.ndarray,
    tone_lab: np.ndarray,
    max_delta_e: float | None = None,
    keep_at_least: float | None = None,
) -> np.ndarray:
    """The mask less the pixels close to any of the colours in tone_lab (3, or k x 3 Lab: a
    person's skin, sampled from the face and the hands), so bare arms or feet in sandals do
    not decide a garment's colour. When nearly everything matches (a skin-coloured
    garment), the mask is kept as it was."""
    s = color_settings()
    max_delta_e = s.skin_delta_e if max_delta_e is None else max_delta_e
    keep_at_least = s.skin_keep_at_least if keep_at_least is None else keep_at_least
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return mask
    lab = lab_of(rgb[ys, xs])
    tones = np.atleast_2d(tone_lab)
    far = np.all([deltaE_ciede2000(lab, np.broadcast_to(t, lab.shape)) > max_delta_e for t in tones], axis=0)
    if far.mean() < keep_at_least:
        return mask
    kept = np.zeros_like(mask, dtype=bool)
    kept[ys[far], xs[far]] = True
    return kept
