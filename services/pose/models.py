"""The pose service's model: BlazePose heavy (33 body landmarks), run by MediaPipe's solution
with its person detector, and directly (LiteRT) on a region of interest."""

from shared.infra.model_registry import BLAZEPOSE, check_file, model_loader


@model_loader(BLAZEPOSE)
def pose_estimator():
    import mediapipe as mp

    check_file(BLAZEPOSE)
    return mp.solutions.pose.Pose(static_image_mode=True, model_complexity=2, enable_segmentation=False)


@model_loader(BLAZEPOSE)
def landmark_model():
    from ai_edge_litert.interpreter import Interpreter

    model = Interpreter(model_path=str(check_file(BLAZEPOSE)), num_threads=1)
    model.allocate_tensors()
    return model
