"""The pose service's model: BlazePose full (33 body landmarks) with its person detector."""

from shared.models import BLAZEPOSE, check_file, model_loader


@model_loader(BLAZEPOSE)
def pose_estimator():
    import mediapipe as mp

    check_file(BLAZEPOSE)
    return mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False)
