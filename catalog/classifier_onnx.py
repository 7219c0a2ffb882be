"""Export the classifier (EfficientNet-Lite2) to ONNX, for machines without torch.

    python -m catalog.classifier_onnx [--force]

Run where torch is installed: docker/Dockerfile runs it in the CPU image's build stage, then
removes torch, whose Linux build on PyPI brings gigabytes of CUDA libraries a CPU never uses
(the PyTorch CPU index is not reachable from every build). shared.domain.classifier runs this file
in onnxruntime wherever torch is missing.

The export has two outputs: the softmax, and the pooled features the last layer reads (the
garment head's input, shared.domain.garment_head). The export is checked against
torch on the test fixtures, whole and in quarters: every softmax within MAX_DIFF of torch's
and the same top class. Only a file that passes gets its checksum recorded, and only a
recorded file is ever loaded.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from shared.domain.classifier import efficientnet, model_input, onnx_probs, softmax_and_features, torch_probs
from shared.infra.imageio import collect_photos, read_image
from shared.infra.model_registry import (
    EFFICIENTNET,
    EFFICIENTNET_ONNX,
    checksum_problems,
    checksum_record,
    record_checksums,
)
from shared.infra.settings import PROJECT_ROOT

CHECK_PHOTOS = PROJECT_ROOT / "tests" / "fixtures"
MAX_DIFF = 1e-4  # on probabilities; float32 runtimes differ around 1e-6


def export(target: Path) -> None:
    import torch

    size = EFFICIENTNET.input_size

    class WithFeatures(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, images):
            return softmax_and_features(self.net, images)

    model = WithFeatures(efficientnet().cpu()).eval()
    partial = target.with_suffix(".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    # The TorchScript exporter: the model is a plain CNN, and it needs no onnxscript. Its
    # deprecation and constant-folding notes are not for the reader of a build log.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, size, size),),
            str(partial),
            input_names=["image"],
            output_names=["probs", "features"],
            dynamic_axes={"image": {0: "n"}, "probs": {0: "n"}, "features": {0: "n"}},
            opset_version=17,
            dynamo=False,
        )
    partial.replace(target)


def crops(rgb: np.ndarray) -> list[np.ndarray]:
    h, w = rgb.shape[:2]
    return [rgb] + [rgb[y : y + h // 2, x : x + w // 2] for y in (0, h // 2) for x in (0, w // 2)]


def check() -> float:
    """The largest difference from torch's softmax over the check photos; raises when the
    top class differs for any crop."""
    worst = 0.0
    for photo in collect_photos([CHECK_PHOTOS]):
        batch = model_input(*crops(read_image(photo)))
        expected, got = torch_probs(batch), onnx_probs(batch)
        if (expected.argmax(axis=1) != got.argmax(axis=1)).any():
            raise RuntimeError(f"{photo.name}: the ONNX classifier's top class differs from torch's")
        worst = max(worst, float(np.abs(expected - got).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="export again even when a checked file is there")
    args = parser.parse_args(argv)
    target = EFFICIENTNET_ONNX.path()
    if not args.force and not checksum_problems(EFFICIENTNET_ONNX):
        print(f"{EFFICIENTNET_ONNX.name}: ok ({target})")
        return 0
    export(target)
    record_checksums(EFFICIENTNET_ONNX)  # the classifier loads only a recorded file
    try:
        worst = check()
        if worst > MAX_DIFF:
            raise RuntimeError(f"differs from torch by {worst:.2e} (> {MAX_DIFF:.0e})")
    except RuntimeError as error:
        checksum_record(EFFICIENTNET_ONNX).unlink()
        print(f"{EFFICIENTNET_ONNX.name}: {error}", file=sys.stderr)
        return 1
    print(f"{EFFICIENTNET_ONNX.name}: exported to {target}, within {worst:.1e} of torch on {CHECK_PHOTOS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
