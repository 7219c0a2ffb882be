"""The detect service's models: MediaPipe's selfie segmentation (the person matte) and its
full-range face detector (many faces, small ones included)."""

from services.detect.settings import detect_settings
from shared.infra.model_registry import FACES, SELFIE, check_file, model_loader


@model_loader(SELFIE)
def selfie_segmenter():
    import mediapipe as mp

    check_file(SELFIE)
    return mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)


@model_loader(FACES)
def face_detector():
    import mediapipe as mp

    check_file(FACES)
    return mp.solutions.face_detection.FaceDetection(
        model_selection=1, min_detection_confidence=detect_settings().face_min_score
    )
