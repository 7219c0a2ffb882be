"""The detect service's models: MediaPipe's selfie segmentation (the person matte), its
full-range face detector (many faces, small ones included) and its hand detector, and a
COCO person detector."""

from services.detect.settings import detect_settings
from shared.infra.model_registry import FACES, HANDS, PALMS, PERSON_DETECTOR, SELFIE, check_file, model_loader


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


@model_loader(PERSON_DETECTOR)
def person_detector():
    """SSD MobileNet v2 (COCO, int8, with its box decoding and non-maximum suppression), run
    by LiteRT as BlazePose's region model is."""
    from ai_edge_litert.interpreter import Interpreter

    model = Interpreter(model_path=str(check_file(PERSON_DETECTOR)), num_threads=1)
    model.allocate_tensors()
    return model


@model_loader(HANDS)
def hand_detector():
    import mediapipe as mp

    check_file(PALMS)
    check_file(HANDS)
    return mp.solutions.hands.Hands(
        static_image_mode=True,
        max_num_hands=2,
        model_complexity=1,
        min_detection_confidence=detect_settings().hand_min_score,
    )
