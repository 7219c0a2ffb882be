"""The detect stage's thresholds (environment: CATALOG_DETECT_<NAME>, e.g. CATALOG_DETECT_PERSON_MATTE_MIN=0.6)."""

from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DetectSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_DETECT_")

    # A photo whose person matte is this sure of a person somewhere may show people, and
    # goes to pose, which confirms each body. Keep it at most pose's torso_coverage: a body
    # pose would accept always has a matte pixel at least that sure.
    person_matte_min: float = Field(0.5, ge=0, le=1)
    # A face counts where the person matte is at least this sure at its centre: a face
    # printed on a pack or a poster is on no one. Lower than person_matte_min, as the face
    # is evidence of its own and the matte is weakest on people in the dark: on the public
    # and dev photos the faces off people (a watch dial, a trouser print) sit at 0.0, and
    # the real faces at 0.38 and 0.47 (in a crowd, a woman in black in a dim bar) or above 0.5.
    face_matte_min: float = Field(0.25, ge=0, le=1)
    # The face detector's own default: below it, faces are mostly patterns (prints, knots).
    face_min_score: float = Field(0.5, ge=0, le=1)
    # Where the detector sees a face in the whole photo it also looks in its four corners,
    # each this share of the photo's width and height: faces come 1.7 times larger, and the
    # four tiles overlap, so a face on a seam is whole in one of them.
    corner_tile: float = Field(0.6, gt=0, le=1)
    # A face found again in a corner overlaps the first find by more than this (IoU).
    same_face_iou: float = Field(0.3, ge=0, le=1)
    # The COCO person detector's boxes kept as evidence of a person (services/detect/persons.py).
    # Set before looking at this project's figures, the usual cut; ../shared/MODELS.md has
    # its top person score on the dev photos (0.6 keeps 27 of 32 people photos, no other).
    person_box_min: float = Field(0.5, ge=0, le=1)
    # The hand detector's own default: a hand on the person matte is evidence of a person
    # beside a detector's box where no face is seen (a garment laid flat has no hands).
    hand_min_score: float = Field(0.5, ge=0, le=1)
    # Two of its person boxes overlapping by more than this (IoU) are one person boxed twice:
    # a suppression of our own over the person boxes, after the model's (the usual cut, not
    # fitted).
    same_person_iou: float = Field(0.5, ge=0, le=1)


@cache
def detect_settings() -> DetectSettings:
    return DetectSettings()
