"""Make the int8 matte from the fp32 ISNet file (run by `make setup`, once per machine).

    python -m services.segment.quantize [--force]

NNCF's post-training quantization with static calibration: activation ranges are measured
on scikit-image's bundled photos (and the same photos as white-sweep packshots and
mirrored), never on the photos anything checks the matte against. The result is OpenVINO IR
(.xml graph, .bin weights). Keeping layers in fp32 (the first convolution and the output head,
or the whole full-resolution decoder) did not raise the worst photo's agreement with fp32
(bench/README.md), so every layer is int8; the photos where int8 is unsure get the fp32 matte
instead (services.segment.matte.matte).

Before it is used, the int8 matte is checked against the fp32 one on the test fixtures
(IoU at alpha 0.5). Only a file that passes gets its checksums recorded, and only a recorded
file is ever loaded: a machine where the check fails keeps the fp32 matte.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from services.segment.matte import isnet_input, mask_iou, matte
from services.segment.models import compile_openvino
from shared.infra.model_registry import (
    ISNET,
    ISNET_INT8,
    check_file,
    checksum_problems,
    checksum_record,
    record_checksums,
)
from shared.infra.settings import PROJECT_ROOT

CALIBRATION_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "hubble_deep_field")
CALIBRATION_EXTRA = ("ihc", "retina", "color", "logo")
CHECK_PHOTOS = PROJECT_ROOT / "tests" / "fixtures"
# Every check photo with something salient must agree this well with the fp32 matte.
MIN_IOU = 0.95


def _on_white(rgb: np.ndarray) -> np.ndarray:
    """The photo in the middle of a white canvas 1.6 times its size: a packshot's framing."""
    h, w = rgb.shape[:2]
    canvas = np.full((int(h * 1.6), int(w * 1.6), 3), 255, np.uint8)
    top, left = int(h * 0.3), int(w * 0.3)
    canvas[top : top + h, left : left + w] = rgb
    return canvas


def calibration_images() -> list[np.ndarray]:
    from skimage import data, io

    folder = Path(data.__file__).parent
    photos = []
    for name in (*CALIBRATION_PHOTOS, *CALIBRATION_EXTRA):
        image = io.imread(next(folder.glob(f"{name}.*")))
        photos.append(np.dstack([image] * 3) if image.ndim == 2 else image[..., :3])
    varied = [v for rgb in photos[: len(CALIBRATION_PHOTOS)] for v in (_on_white(rgb), rgb[:, ::-1])]
    return photos + varied


def quantize(target: Path) -> None:
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(check_file(ISNET)))
    images = calibration_images()
    quantized = nncf.quantize(
        model,
        nncf.Dataset(images, isnet_input),
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(images),
    )
    ov.save_model(quantized, str(target), compress_to_fp16=False)


def check(model: Path) -> list[tuple[str, float]]:
    """IoU at alpha 0.5 of the int8 model's matte against the fp32 one, per check photo that
    has something salient (a fp32 matte over at least 0.5% of the photo)."""
    from shared.infra.imageio import read_image

    compiled = compile_openvino(model)
    results = []
    for path in sorted(CHECK_PHOTOS.glob("*.jpg")):
        rgb = read_image(path)
        reference = matte(rgb, "fp32") > 0.5
        if reference.mean() >= 0.005:
            int8 = matte(rgb, run=lambda x: compiled(x)[0]) > 0.5
            results.append((path.name, mask_iou(int8, reference)))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="make it again even if a checked one is there")
    args = parser.parse_args()
    if not args.force and not checksum_problems(ISNET_INT8):
        print(f"{ISNET_INT8.name}: ok ({ISNET_INT8.path()})")
        return 0
    checksum_record(ISNET_INT8).unlink(missing_ok=True)
    start = time.monotonic()
    print(f"{ISNET_INT8.name}: quantizing {ISNET.file} (a few minutes) ...", flush=True)
    quantize(ISNET_INT8.path())
    results = check(ISNET_INT8.path())
    failed = [(name, iou) for name, iou in results if iou < MIN_IOU]
    summary = ", ".join(f"{name} {iou:.3f}" for name, iou in results)
    if failed or not results:
        print(
            f"{ISNET_INT8.name}: NOT used, its matte differs from fp32 (IoU below {MIN_IOU}) or no check "
            f"photo was found in {CHECK_PHOTOS}: {summary or 'none'}. "
            "The segment service keeps the fp32 matte.",
            file=sys.stderr,
        )
        return 0  # the product still works, on fp32
    record_checksums(ISNET_INT8)
    print(f"{ISNET_INT8.name}: ok in {time.monotonic() - start:.0f} s, IoU against fp32: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
