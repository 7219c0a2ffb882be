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
    # The face detector's own default: below it, faces are mostly patterns (prints, knots).
    face_min_score: float = Field(0.5, ge=0, le=1)


@cache
def detect_settings() -> DetectSettings:
    return DetectSettings()
