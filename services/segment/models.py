"""The segment service's model: ISNet (dichotomous image segmentation), ONNX, on onnxruntime."""

import os

from shared.models import ISNET, check_file, model_loader, onnx_providers


@model_loader(ISNET)
def isnet_session():
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Denormal floats made some photos 2.5x slower; flushing them changes nothing visible.
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    options.intra_op_num_threads = os.cpu_count() or 1
    return ort.InferenceSession(str(check_file(ISNET)), options, providers=onnx_providers())
