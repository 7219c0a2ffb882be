"""The classifier's ONNX export (catalog/classifier_onnx.py), which the CPU image runs instead
of torch: made, checked and recorded here, then the same categories as torch's."""

from __future__ import annotations

import pytest
from conftest import BOTTLE, FOOTBALLER, SCENE

from catalog import classifier_onnx
from shared.domain import classifier
from shared.infra import model_registry
from shared.infra.imageio import read_image
from shared.infra.model_registry import EFFICIENTNET_ONNX, checksum_problems


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(model_registry, "models_dir", lambda: folder)
        assert classifier_onnx.main([]) == 0
        assert not checksum_problems(EFFICIENTNET_ONNX)
        yield folder
        classifier.efficientnet_onnx.cache_clear()


def test_onnx_classifier_matches_torch(exported, monkeypatch):
    photos = [read_image(p) for p in (BOTTLE, FOOTBALLER, SCENE)]
    with_torch, torch_features = classifier.imagenet_outputs(*photos)
    monkeypatch.setattr(classifier, "torch_installed", lambda: False)
    without, features = classifier.imagenet_outputs(*photos)
    assert abs(with_torch - without).max() < classifier_onnx.MAX_DIFF
    assert features is not None and abs(torch_features - features).max() < 1e-3  # the garment head's input
    for a, b in zip(with_torch, without):
        assert classifier.classify(a, 0.2).category == classifier.classify(b, 0.2).category


def test_only_a_checked_file_is_loaded(exported, monkeypatch):
    classifier.efficientnet_onnx.cache_clear()
    (exported / "efficientnet-lite2.onnx.sha256").write_text("0" * 64 + "  efficientnet-lite2.onnx\n")
    monkeypatch.setattr(classifier, "torch_installed", lambda: False)
    with pytest.raises(FileNotFoundError):
        classifier.imagenet_probs(read_image(BOTTLE))
