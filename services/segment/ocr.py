"""Text printed on a product (PP-OCRv4 through rapidocr-onnxruntime): the lines read, each
with its height, since a pack prints its name large and its ingredients small."""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from services.segment.models import threads
from services.segment.settings import segment_settings
from shared.infra.model_registry import OCR_DETECT, OCR_READ, OCR_TURN, check_file, model_loader

MIN_LINE_SCORE = 0.8  # the reader's own confidence in a line: below it, mostly misreadings


@dataclass(frozen=True)
class TextLine:
    text: str
    height: float  # px, in the photo
    score: float


@model_loader(OCR_DETECT)
def reader() -> Any:
    from rapidocr_onnxruntime import RapidOCR

    side = segment_settings().ocr_max_side
    logging.getLogger("RapidOCR").setLevel(logging.WARNING)  # it logs each model it opens
    with contextlib.redirect_stdout(io.StringIO()):
        return RapidOCR(
            det_model_path=str(check_file(OCR_DETECT)),
            rec_model_path=str(check_file(OCR_READ)),
            cls_model_path=str(check_file(OCR_TURN)),
            # The photo arrives at ocr_max_side: the detector takes it as it is, not enlarged.
            det_limit_type="max",
            det_limit_side_len=side,
            intra_op_num_threads=threads(),
            inter_op_num_threads=1,
        )


def read_lines(rgb: np.ndarray) -> list[TextLine]:
    """The lines of text OCR reads with confidence in an RGB image, tallest first."""
    h, w = rgb.shape[:2]
    scale = min(1.0, segment_settings().ocr_max_side / max(h, w))
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    found, _ = reader()(np.ascontiguousarray(small[..., ::-1]), use_cls=False)  # it takes BGR
    lines = []
    for box, text, score in found or []:
        corners = np.asarray(box, np.float32)
        height = (np.linalg.norm(corners[3] - corners[0]) + np.linalg.norm(corners[2] - corners[1])) / 2 / scale
        if float(score) >= MIN_LINE_SCORE and text.strip():
            lines.append(TextLine(text=text.strip(), height=float(height), score=round(float(score), 3)))
    return sorted(lines, key=lambda line: -line.height)
