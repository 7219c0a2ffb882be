"""The matte backends: the int8 model `make setup` made and checked, its agreement with the
fp32 reference on real photos it was not calibrated on, the fp32 second opinion where int8
is unsure, the choice by CATALOG_MATTE_BACKEND, and a damaged int8 file never used."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from conftest import FIXTURES, PUBLIC
from pydantic import ValidationError

from services.segment import models
from services.segment.matte import isnet_input, mask_iou, matte, run_int8, unsure_int8
from services.segment.settings import SegmentSettings, segment_settings
from shared.infra.imageio import read_image
from shared.infra.model_registry import ISNET, ISNET_INT8, checksum_problems, spec_files
from shared.infra.settings import settings


def _clear_caches():
    for cached in (settings, segment_settings, models.matte_backend, models.isnet_int8):
        cached.cache_clear()


@pytest.fixture
def fresh_settings():
    _clear_caches()
    yield
    _clear_caches()


def test_setup_made_and_recorded_the_int8_matte_and_auto_picks_it_on_a_cpu(fresh_settings):
    assert checksum_problems(ISNET_INT8) == []
    assert all(f.stat().st_size > 1_000_000 for f in spec_files(ISNET_INT8))
    assert models.matte_backend() == "int8"


def _photos_not_calibrated_on():
    """The committed fixtures, and the public photos when they are beside the project
    (calibration used only scikit-image's photos)."""
    public = sorted(PUBLIC.glob("*.jpg"))[::6] if PUBLIC.exists() else []
    return sorted(FIXTURES.glob("*.jpg")) + public


@pytest.mark.parametrize("path", _photos_not_calibrated_on(), ids=lambda p: p.stem)
def test_int8_matte_agrees_with_fp32_on_real_photos(path):
    rgb = read_image(path)
    reference = matte(rgb, "fp32") > 0.5
    assert reference.mean() > 0.005, "a photo with something salient"
    assert mask_iou(matte(rgb, "int8") > 0.5, reference) >= 0.95


def test_unsure_means_a_soft_band_wide_for_the_objects_size():
    crisp = np.zeros((1024, 1024), np.float32)
    cv2.circle(crisp, (512, 512), 300, 1.0, -1)
    assert not unsure_int8(crisp)
    assert not unsure_int8(cv2.GaussianBlur(crisp, (0, 0), 4))  # a soft edge round a large object
    thin = np.zeros_like(crisp)
    cv2.circle(thin, (512, 512), 300, 1.0, 6)  # a thin ring: all edge
    assert unsure_int8(cv2.GaussianBlur(thin, (0, 0), 4))
    assert unsure_int8(np.full_like(crisp, 0.4))  # nothing clearly salient


def test_where_int8_is_unsure_the_matte_is_fp32s():
    # A chessboard: nothing clearly salient, so int8's matte is mostly soft band.
    from skimage import data

    rgb = np.ascontiguousarray(data.checkerboard()[..., None].repeat(3, axis=2))
    assert unsure_int8(run_int8(isnet_input(rgb))[0, 0])
    np.testing.assert_allclose(matte(rgb, "int8"), matte(rgb, "fp32"), atol=1e-3)


def test_the_setting_chooses_the_backend_and_refuses_an_unknown_one(monkeypatch, fresh_settings):
    monkeypatch.setenv("CATALOG_MATTE_BACKEND", "fp32")
    assert models.matte_backend() == "fp32"
    monkeypatch.setenv("CATALOG_MATTE_BACKEND", "int4")
    with pytest.raises(ValidationError, match="CATALOG_MATTE_BACKEND"):
        SegmentSettings()


def test_a_damaged_int8_file_is_never_loaded(tmp_path, monkeypatch, fresh_settings):
    for spec in (ISNET, ISNET_INT8):
        for f in spec_files(spec):
            (tmp_path / f.name).symlink_to(f)
    record = ISNET_INT8.path().with_name(ISNET_INT8.path().name + ".sha256")
    shutil.copy(record, tmp_path / record.name)
    weights = tmp_path / ISNET_INT8.companion
    weights.unlink()
    damaged = bytearray(spec_files(ISNET_INT8)[1].read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    weights.write_bytes(bytes(damaged))
    monkeypatch.setenv("CATALOG_MODELS_DIR", str(tmp_path))
    _clear_caches()

    assert any("isnet-medium-int8.bin" in p for p in checksum_problems(ISNET_INT8))
    assert models.matte_backend() == "fp32"  # auto: the product goes on, on fp32
    monkeypatch.setenv("CATALOG_MATTE_BACKEND", "int8")
    _clear_caches()
    with pytest.raises(FileNotFoundError, match="make setup"):
        matte(np.zeros((64, 64, 3), np.uint8))
