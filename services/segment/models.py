"""The segment service's models: ISNet (dichotomous image segmentation) as the fp32 ONNX
reference on onnxruntime (CPU or CUDA), and as the int8 OpenVINO model `make setup` makes
from it (CPU). Which one a photo gets: matte_backend()."""

from __future__ import annotations

import logging
import os
from functools import cache
from pathlib import Path
from typing import Any

from services.segment.settings import segment_settings
from shared.infra.model_registry import ISNET, ISNET_INT8, check_file, checksum_problems, model_loader, onnx_providers

log = logging.getLogger(__name__)


def threads() -> int:
    return segment_settings().threads or os.cpu_count() or 1


@model_loader(ISNET)
def isnet_session():
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Denormal floats made some photos 2.5x slower; flushing them changes nothing visible.
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    options.intra_op_num_threads = threads()
    return ort.InferenceSession(str(check_file(ISNET)), options, providers=onnx_providers())


def compile_openvino(path: Path) -> Any:
    import openvino as ov

    config = {
        "INFERENCE_NUM_THREADS": threads(),
        # OpenVINO pins its threads to cores by default: two 1-thread workers then shared one
        # core (0.39-0.40 photos/s together, against 0.55 unpinned).
        "ENABLE_CPU_PINNING": False,
        "PERFORMANCE_HINT": "LATENCY",
        # Where the CPU has bf16 (Zen 4, Sapphire Rapids) OpenVINO would run the float layers
        # in bf16: the fp32 second opinion would then differ from onnxruntime's fp32 matte by
        # up to 0.02 alpha, and the int8 file would run unlike the way setup checked it.
        "INFERENCE_PRECISION_HINT": "f32",
    }
    return ov.Core().compile_model(str(path), "CPU", config)


@model_loader(ISNET_INT8)
def isnet_int8():
    problems = checksum_problems(ISNET_INT8)
    if problems:
        raise FileNotFoundError(f"model {ISNET_INT8.name} is not usable ({'; '.join(problems)}): run `make setup`")
    return compile_openvino(ISNET_INT8.path())


@model_loader(ISNET)
def isnet_fp32_openvino():
    """The fp32 file on OpenVINO: the int8 backend's second opinion. The same matte as
    onnxruntime's (IoU 1.0), at half its memory, beside the int8 model in one process."""
    return compile_openvino(check_file(ISNET))


@cache
def matte_backend() -> str:
    """fp32 or int8: the setting, or for `auto` int8 on a CPU when `make setup` made and
    checked it, else fp32 (always on CUDA, where onnxruntime runs the fp32 file)."""
    chosen = segment_settings().matte_backend
    if chosen != "auto":
        return chosen
    if "CUDAExecutionProvider" in onnx_providers():
        return "fp32"
    problems = checksum_problems(ISNET_INT8)
    if problems:
        log.warning("int8 matte not usable (%s): using fp32; run `make setup` to make it", "; ".join(problems))
        return "fp32"
    return "int8"
