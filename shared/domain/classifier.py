"""The ImageNet classifier (EfficientNet-Lite2) and its fold into the catalog taxonomy.

Two stages ask it: pose (which kind of garment a crop shows, and whether a hat is worn) and
segment (the category of each product it cuts out). The model is loaded once per process
that asks, on first use. It runs in torch where torch is installed, and otherwise in
onnxruntime from its ONNX export (the CPU image carries no torch: catalog/classifier_onnx.py).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io

import numpy as np

from shared.domain.records import CategoryScore, Classification
from shared.domain.taxonomy import BACKGROUND, HEADWEAR_IMAGENET, category_scores, imagenet_categories
from shared.infra.model_registry import (
    EFFICIENTNET,
    EFFICIENTNET_ONNX,
    check_file,
    checksum_problems,
    model_loader,
    use_cuda,
)


@model_loader(EFFICIENTNET)
def efficientnet():
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    # One thread: right after ISNet's spinning threads (or beside another worker) two torch
    # threads made a 28 ms call take up to 3.3 s; one thread stays at 42-93 ms (bench/README.md).
    torch.set_num_threads(1)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
        model = EfficientNet.from_pretrained("efficientnet-lite2", weights_path=str(check_file(EFFICIENTNET)))
    return model.eval().to("cuda" if use_cuda() else "cpu")


@model_loader(EFFICIENTNET_ONNX)
def efficientnet_onnx():
    import onnxruntime as ort

    problems = checksum_problems(EFFICIENTNET_ONNX)
    if problems:
        raise FileNotFoundError(f"{EFFICIENTNET_ONNX.name}: {problems[0]}: run python -m catalog.classifier_onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # as torch above
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(EFFICIENTNET_ONNX.path()), options, providers=["CPUExecutionProvider"])


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def _to_square(rgb: np.ndarray, fill: int = 255) -> np.ndarray:
    """Pad to a square instead of centre-cropping, so a product is never cut off."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    return np.pad(rgb, ((top, side - h - top), (left, side - w - left), (0, 0)), constant_values=fill)


def model_input(*crops: np.ndarray) -> np.ndarray:
    """The classifier's input for the crops: N x size x size x 3, float32, as it was trained."""
    import cv2

    size = EFFICIENTNET.input_size
    batch = np.stack([cv2.resize(_to_square(c), (size, size), interpolation=cv2.INTER_AREA) for c in crops]).astype(
        np.float32
    )
    return (batch - 127.0) / 128.0


def imagenet_probs(*crops: np.ndarray) -> np.ndarray:
    """The ImageNet softmax of each crop (N x 1000), in one batched call: a person photo's
    garment crops or a packshot's items cost one forward pass instead of one each."""
    return imagenet_outputs(*crops)[0]


def imagenet_outputs(*crops: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The ImageNet softmax of each crop (N x 1000) and the pooled features its last layer
    reads them from (N x 1280), from the same forward pass. The features are None from an
    ONNX export made before they were one of its outputs."""
    batch = model_input(*crops)
    if not torch_installed():
        return onnx_outputs(batch)
    return torch_outputs(batch)


def onnx_probs(batch: np.ndarray) -> np.ndarray:
    return onnx_outputs(batch)[0]


def onnx_outputs(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    outputs = efficientnet_onnx().run(None, {"image": np.ascontiguousarray(batch.transpose(0, 3, 1, 2))})
    return outputs[0], (outputs[1] if len(outputs) > 1 else None)


def torch_probs(batch: np.ndarray) -> np.ndarray:
    return torch_outputs(batch)[0]


def torch_outputs(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import torch

    model = efficientnet()
    device = next(model.parameters()).device
    with torch.inference_mode():
        probs, features = softmax_and_features(model, torch.from_numpy(batch).permute(0, 3, 1, 2).to(device))
    return probs.cpu().numpy(), features.cpu().numpy()


def softmax_and_features(model, images):
    """EfficientNet's forward pass (extract_features, average pooling, the linear layer;
    dropout is off in eval mode), keeping the pooled features the logits are made from."""
    import torch

    features = model._avg_pooling(model.extract_features(images)).flatten(1)
    return torch.softmax(model._fc(features), dim=1), features


def classify(probs: np.ndarray, item_min_score: float, scores: list[tuple[str, float]] | None = None) -> Classification:
    """Fold one crop's ImageNet softmax into catalog categories (summed per category), or
    take the categories' scores given (the fold, revised by the garment head).
    background-other sums ~840 ImageNet classes, so it would win by sheer count on many
    product shots: the result is background-other only when no catalog category holds
    item_min_score."""
    scores = category_scores(probs) if scores is None else scores
    items = [(c, s) for c, s in scores if c != BACKGROUND]
    chosen = items[0] if items and items[0][1] >= item_min_score else (BACKGROUND, dict(scores).get(BACKGROUND, 0.0))
    ranked = [chosen] + [cs for cs in scores if cs[0] != chosen[0]]
    names = imagenet_categories()
    top_classes = np.argsort(probs)[::-1][:5]
    return Classification(
        category=chosen[0],
        score=round(chosen[1], 4),
        top3=[CategoryScore(category=c, score=round(s, 4)) for c, s in ranked[:3]],
        imagenet_top=[CategoryScore(category=names[i], score=round(float(probs[i]), 4)) for i in top_classes],
    )


def best_within(probs: np.ndarray, allowed: tuple[str, ...], min_score: float) -> CategoryScore:
    """The most likely of a few allowed categories for one crop's softmax (a garment crop is
    known to be clothing; the question is which kind), with its share of the classifier's
    belief among them, not its sliver of all 1000 classes. Where the classifier holds less
    than min_score in the allowed categories together it has no opinion (bare feet in a
    shoe crop, feet too small to tell): the first, most common one is kept, at the score of
    a guess among them."""
    scores = dict(category_scores(probs))
    among = sum(scores.get(c, 0.0) for c in allowed)
    if among <= 0 or among < min_score:
        return CategoryScore(category=allowed[0], score=round(1 / len(allowed), 4))
    best = max(allowed, key=lambda c: scores.get(c, 0.0))
    return CategoryScore(category=best, score=round(scores[best] / among, 4))


def headwear_score(probs: np.ndarray) -> float:
    """Classifier belief, from a head region's softmax, that it holds a hat, cap or helmet."""
    return float(sum(probs[i] for i in HEADWEAR_IMAGENET))
