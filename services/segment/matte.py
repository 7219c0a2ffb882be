"""Soft alpha mattes (ISNet), instance splitting and cutouts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from services.segment.models import isnet_fp32_openvino, isnet_int8, isnet_session, matte_backend
from services.segment.settings import segment_settings
from shared.domain.records import ITEM_ALPHA, Box
from shared.infra.model_registry import ISNET


@dataclass
class Instance:
    box: Box
    alpha: np.ndarray  # float32 HxW of the whole photo, zero outside this instance
    area: int


def isnet_input(rgb: np.ndarray) -> np.ndarray:
    """The photo as ISNet's input: 1x3xNxN float32, N its input size."""
    size = ISNET.input_size
    x = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    return np.ascontiguousarray(((x - 128.0) / 256.0).transpose(2, 0, 1)[None])


def run_fp32(x: np.ndarray) -> np.ndarray:
    return isnet_session().run(["output"], {"input": x})[0]


def run_int8(x: np.ndarray) -> np.ndarray:
    return isnet_int8()(x)[0]


RUNS = {"fp32": run_fp32, "int8": run_int8}


Run = Callable[[np.ndarray], np.ndarray]  # ISNet's input to its output, both NCHW


def matte(rgb: np.ndarray, backend: str | None = None, run: Run | None = None) -> np.ndarray:
    """Soft alpha in [0, 1], HxW float32, for the photo's salient objects: from the given
    backend's model (default the settings'), or from a model's own `run`. With int8, a matte
    int8 is unsure of is made again in fp32 (unsure_int8)."""
    x = isnet_input(rgb)
    if run is not None:
        out = run(x)[0, 0]
    else:
        backend = backend or matte_backend()
        out = RUNS[backend](x)[0, 0]
        if backend == "int8" and unsure_int8(out):
            out = isnet_fp32_openvino()(x)[0][0, 0]
    h, w = rgb.shape[:2]
    return np.clip(cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def unsure_int8(alpha: np.ndarray) -> bool:
    """Whether int8's matte has a wide soft band for the size of its objects (nothing
    clearly salient, small or thin objects, low contrast): where int8 and fp32 disagree most
    (bench/README.md, segment_vs_rembg)."""
    solid = float((alpha > 0.5).mean())
    soft = float(((alpha > 0.1) & (alpha < 0.9)).mean())
    return soft > segment_settings().int8_max_soft_share * max(solid, 1e-4)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def split_instances(alpha: np.ndarray) -> list[Instance]:
    """Connected components of the matte above the minimum areas, largest first. Each
    keeps the soft alpha around its component (a few pixels of its own edge)."""
    h, w = alpha.shape
    solid = (alpha > ITEM_ALPHA).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    if not len(areas):
        return []
    s = segment_settings()
    keep_from = max(s.min_area_of_image * h * w, s.min_area_of_largest * areas.max())
    margin = max(3, int(0.01 * max(h, w)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    instances = []
    for label in np.argsort(areas)[::-1] + 1:
        area = int(stats[label, cv2.CC_STAT_AREA])
        if area < keep_from:
            break
        x, y, bw, bh = stats[label, :4]
        region = cv2.dilate((labels == label).astype(np.uint8), kernel).astype(bool)
        instances.append(
            Instance(
                box=(
                    int(max(0, x - margin)),
                    int(max(0, y - margin)),
                    int(min(w, x + bw + margin)),
                    int(min(h, y + bh + margin)),
                ),
                alpha=np.where(region, alpha, 0.0).astype(np.float32),
                area=area,
            )
        )
    return instances
