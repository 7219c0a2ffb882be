"""Train the garment head (shared/domain/garment_head.py) on clothing-small.

    PYTHONPATH=. python scripts/garment_head.py [--dataset ../shared/datasets/clothing-small]

Embeds every photo of the published splits with EfficientNet-Lite2 (the pooled 1280-d
features of the forward pass that gives the ImageNet softmax; ~0.1 s a photo, cached in
/tmp), fits a logistic regression on the train split for each C of a grid, keeps the C most
accurate on the validation split, sets the probability the head must have in a catalog
category to be used (`sure`: on the validation split, 95 % of the photos it is that sure
of are filed right), and reports the test split. The head is written to
shared/domain/data/garment_head.npz (float32, fixed zip timestamps: the same inputs give
the same bytes) with its sha256 beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from shared.domain.classifier import model_input, torch_outputs
from shared.domain.garment_head import CLASS_CATEGORY, HEAD_FILE, HEAD_SHA256
from shared.infra.imageio import read_image
from shared.infra.settings import PROJECT_ROOT

SPLITS = ("train", "validation", "test")
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
SURE_RIGHT = 0.95  # the share of the validation photos the head is sure of that it files right
BATCH = 16


def photos(dataset: Path, split: str) -> list[tuple[Path, str]]:
    return [(p, d.name) for d in sorted((dataset / split).iterdir()) if d.is_dir() for p in sorted(d.glob("*.jpg"))]


def embed(dataset: Path, split: str, cache_dir: Path) -> tuple[np.ndarray, list[str]]:
    listed = photos(dataset, split)
    key = hashlib.sha256("\n".join(f"{p.relative_to(dataset)}" for p, _ in listed).encode()).hexdigest()[:12]
    cached = cache_dir / f"garment-head-{split}-{key}.npy"
    labels = [label for _, label in listed]
    if cached.exists():
        return np.load(cached), labels
    start, rows = time.monotonic(), []
    for i in range(0, len(listed), BATCH):
        batch = model_input(*(read_image(p) for p, _ in listed[i : i + BATCH]))
        rows.append(torch_outputs(batch)[1])
        print(f"  {split}: {i + len(batch)}/{len(listed)} ({time.monotonic() - start:.0f} s)", file=sys.stderr)
    features = np.concatenate(rows).astype(np.float32)
    np.save(cached, features)
    return features, labels


def sure_threshold(probs: np.ndarray, labels: np.ndarray, classes: list[str]) -> float:
    """The lowest probability (in steps of 0.01) at which the validation photos whose
    catalog category the head is at least that sure of are SURE_RIGHT right."""
    categories = sorted(set(CLASS_CATEGORY.values()))
    fold = np.array([[CLASS_CATEGORY[c] == k for k in categories] for c in classes], dtype=np.float64)
    by_category = probs @ fold
    right = np.array(categories)[by_category.argmax(axis=1)] == np.array([CLASS_CATEGORY[y] for y in labels])
    confidence = by_category.max(axis=1)
    for t in np.arange(0.30, 1.0, 0.01):
        kept = confidence >= t
        if kept.any() and right[kept].mean() >= SURE_RIGHT:
            return round(float(t), 2)
    return 1.0


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez with fixed timestamps, so the bytes depend on the arrays alone."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            data = io.BytesIO()
            np.lib.format.write_array(data, np.asarray(array), allow_pickle=False)
            z.writestr(info, data.getvalue())
    path.write_bytes(buffer.getvalue())


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=PROJECT_ROOT.parent / "shared" / "datasets" / "clothing-small")
    parser.add_argument("--cache", type=Path, default=Path("/tmp"))
    args = parser.parse_args()

    data = {split: embed(args.dataset, split, args.cache) for split in SPLITS}
    x_train, y_train = data["train"][0], np.array(data["train"][1])
    x_val, y_val = data["validation"][0], np.array(data["validation"][1])
    x_test, y_test = data["test"][0], np.array(data["test"][1])
    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0) + 1e-6

    def fit(c: float) -> LogisticRegression:
        model = LogisticRegression(C=c, max_iter=5000, random_state=0)
        return model.fit((x_train - mean) / scale, y_train)

    scores = {}
    for c in C_GRID:
        scores[c] = float((fit(c).predict((x_val - mean) / scale) == y_val).mean())
        print(f"C={c}: validation {scores[c]:.3f}")
    best = max(C_GRID, key=lambda c: (scores[c], -c))  # ties: the stronger regularisation
    model = fit(best)
    classes = [str(c) for c in model.classes_]
    assert set(classes) == set(CLASS_CATEGORY), classes
    test_pred = model.predict((x_test - mean) / scale)
    right = int((test_pred == y_test).sum())
    to_category = np.vectorize(CLASS_CATEGORY.get)
    right_category = int((to_category(test_pred) == to_category(y_test)).sum())
    sure = sure_threshold(model.predict_proba((x_val - mean) / scale), y_val, classes)
    n = len(y_test)
    print(f"chosen C={best}; test: {right}/{n} ({right / n:.1%}) classes right, ", end="")
    print(f"{right_category}/{n} ({right_category / n:.1%}) categories right; sure={sure}")
    write_npz(
        HEAD_FILE,
        {
            "classes": np.array(classes),
            "coef": model.coef_.astype(np.float32),
            "intercept": model.intercept_.astype(np.float32),
            "mean": mean.astype(np.float32),
            "scale": scale.astype(np.float32),
            "sure": np.array(sure, dtype=np.float32),
            "c": np.array(best, dtype=np.float32),
        },
    )
    digest = hashlib.sha256(HEAD_FILE.read_bytes()).hexdigest()
    HEAD_SHA256.write_text(f"{digest}  {HEAD_FILE.name}\n")
    print(f"{HEAD_FILE.relative_to(PROJECT_ROOT)}: {HEAD_FILE.stat().st_size} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
