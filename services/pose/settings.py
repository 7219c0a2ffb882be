"""The pose stage's thresholds (environment: CATALOG_POSE_<NAME>, e.g. CATALOG_POSE_MAX_PEOPLE=8)."""

from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PoseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_POSE_")

    # Share of a body's torso the person matte must cover for the body to count.
    torso_coverage: float = Field(0.5, ge=0, le=1)
    # The same for a body found under a face (detect's face_matte_min): the face is evidence
    # of its own, so the matte need only half agree. On the public and dev photos, the bodies
    # under faces the matte is unsure of (a dim bar, a crowd) cover 0.19-0.43 of their torsos.
    face_torso_coverage: float = Field(0.25, ge=0, le=1)
    # BlazePose finds one person per call; each found person is greyed out and the photo
    # searched again, at most this many times.
    max_people: int = Field(6, ge=1)
    # A body found again through the grey patch overlaps a found one by this share of the
    # smaller box: the search stops there.
    same_person_overlap: float = Field(0.6, ge=0, le=1)
    # A faceless body with this share of its box inside a body with a face is part of it:
    # a raised leg or arm read as a body of its own (seen in groups).
    limb_inside: float = Field(0.9, ge=0, le=1)
    # A face is someone found already when their nose is on its box grown by this share;
    # any other face on the person matte is looked under for a body of its own.
    face_claim_margin: float = Field(0.2, ge=0)
    # Where a body lies under a face the search missed (services/pose/roi.py), in face
    # heights: its centre (the hips) this far below the face, inside a square region this
    # wide, tried in order. A standing adult's hips are about 3 heads below the face and the
    # whole body 7-8 heads tall; the nearer and wider guesses cover a seated or a close,
    # cut-off person.
    face_body_guesses: tuple[tuple[float, float], ...] = ((3.0, 9.0), (2.0, 6.0), (4.0, 12.0))
    # That body belongs to the face when its nose lands on the face box grown by this share.
    face_nose_margin: float = Field(0.5, ge=0)
    # The landmark model's own confidence that a body is in the region (the solution's is 0.5).
    face_body_presence: float = Field(0.5, ge=0, le=1)
    # A region has settled when refining it from its landmarks moves its centre by at most
    # this share of its side; a guess not settled after this many model calls is dropped.
    face_region_settled: float = Field(0.05, ge=0)
    face_region_steps: int = Field(4, ge=1)
    # A detector's person box is someone's found already when their nose or the centre of
    # their torso (shoulders and hips) lies in the middle of the box, this share of its
    # width; a body found in the box must have its torso there too. People side by side
    # overlap at their boxes' edges, not in their middles. Half, chosen on the dev groups
    # (group_13, group_15: arm in arm, overlapping); the public photos are the check.
    box_core: float = Field(0.5, gt=0, le=1)
    # A detector's person box no body covers is looked in for one (services/pose/roi.py): the
    # region is the box, square, grown by this share of its long side (as margin_share).
    box_region_margin: float = Field(0.25, ge=0)
    # The landmark model's confidence that a body is in that region (the solution's is 0.5).
    box_body_presence: float = Field(0.5, ge=0, le=1)
    # Where nothing but a person box and a body with both legs seen in full says a photo
    # shows a person (no face, no hand, no body found by the search: a shot of legs and
    # feet), the box must be at least this share of the photo's height: such a shot is
    # framed on the legs, while a figure printed on a T-shirt laid flat (the landmark model
    # finds legs there too) is a quarter of the photo tall. Half: the person is the subject.
    legs_box_min_height: float = Field(0.5, ge=0, le=1)
    # The grey margin (share of the long side) of the retry for a person who fills the frame.
    margin_share: float = Field(0.25, ge=0)
    # That retry runs only where the person matte (at torso_coverage) covers this share of
    # the frame. On the public and dev photos that reach pose it found two people (covering
    # 0.43 and 0.50) and a pack (0.57); it ran on 44 others for nothing, 21 under 0.2.
    margin_retry_min_fill: float = Field(0.2, ge=0, le=1)
    # A hat must hold at least this much of the classifier's belief on the headwear region or
    # on the whole head, the surer of the two. On every person of the public and dev photos,
    # the 83 bare heads scored at most 0.098 (a head in a crowd whose view takes in a
    # neighbour's fedora; the main people at most 0.076) and the 7 hats at least 0.189 (a
    # cap seen from behind): the threshold lies between the two, about 1.5 times the one and
    # 0.8 times the other.
    headwear_min_score: float = Field(0.15, ge=0, le=1)
    # Below this the classifier has no opinion on which kind of garment a crop shows.
    garment_min_score: float = Field(0.05, ge=0, le=1)
    # A top's or a bottom's kind: p proportional to (share + 0.02) ** slope * exp(bias[kind])
    # (services/pose/garment_kinds.py), fitted by bench/garment_kinds.py on the 69 labelled tops and
    # bottoms of the public and dev photos' main people. There the classifier alone called
    # 16 of them swimwear (4 were) and no dress's lower half a dress; left out one photo at a
    # time, the model gets 0.783 of the kinds right, the classifier alone 0.536. Slope 1 and
    # no biases keep the classifier's order.
    garment_kind_slope: float = Field(1.409, gt=0)
    garment_kind_bias: dict[str, float] = {
        "clothing/tops": 1.909,
        "clothing/outerwear": -1.178,
        "clothing/dresses": 2.009,
        "clothing/swimwear-underwear": -2.375,
        "clothing/bottoms": -0.364,
    }


@cache
def pose_settings() -> PoseSettings:
    return PoseSettings()
