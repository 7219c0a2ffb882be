"""The detect service's model: MediaPipe's selfie segmentation (the person matte)."""

from shared.models import SELFIE, check_file, model_loader


@model_loader(SELFIE)
def selfie_segmenter():
    import mediapipe as mp

    check_file(SELFIE)
    return mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
