"""Style guides: a shop's crop rules as a document (YAML or JSON), checked by this schema.

A guide lists its outputs: the whole look of each person, and any of the garments, each
framed by two of three vertical rules (a top edge, a bottom edge, an anchor that lands at
the same height in every photo), a horizontal placement and a size or aspect; and a
packshot rule for product photos. The rules are applied by the pose service's framing
(shared/domain/framing.py) and the product packshot by the color service; this module
only says what a guide may hold, so the gateway can check one without any model.

Percentages (offsets in `percent`, an anchor's `at`, a packshot's `fill` and `baseline`)
are numbers from 0 to 100."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.infra.imageio import parse_background
from shared.infra.settings import settings

# Points of the body a rule can refer to. Pairs (eyes, shoulders, ...) are the mean of the
# sides seen; `soles` is the lower of the heels and toes seen; `chin` and `head_top` are
# estimated from the eyes and the head height; `garment` is the output's own region (the
# garment's box from its keypoints, or the person's box for the look).
Reference = Literal[
    "nose",
    "eyes",
    "mouth",
    "chin",
    "head_top",
    "shoulders",
    "elbows",
    "wrists",
    "hips",
    "knees",
    "ankles",
    "heels",
    "toes",
    "soles",
    "garment",
]
# head: the head's height (crown to chin) estimated from the face; torso: shoulders to
# hips; percent: of the output's height.
Unit = Literal["head", "torso", "percent"]
# skip: the output is not made, with the reason on the photo; pad: where the crop leaves
# the photo it is filled with the background (a reference not seen still skips);
# best-effort: the crop is moved into the photo, and a missing reference falls back to
# the output's own region, with a warning on the item.
OnFail = Literal["skip", "pad", "best-effort"]
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,47}$"
# Names the styles API uses for its own routes.
# "none" in a job's style field asks for no guide, even where the key has a default.
NO_STYLE = "none"
RESERVED_NAMES = frozenset({"default", "schema", "preview", NO_STYLE})
BUILTIN_DIR = Path(__file__).parent / "data" / "styles"
# A guide document's limits, checked before it is parsed: its size, and how deep its
# mappings and lists nest (YAML's parser recurses once per level).
MAX_GUIDE_BYTES = 64 * 1024
MAX_GUIDE_DEPTH = 32
MAX_GUIDE_ALIASES = 64
# An output's aspect (width over height) lies between 1:MAX_ASPECT and MAX_ASPECT:1.
MAX_ASPECT = 10.0


def _known_background(value: str | None) -> str | None:
    parse_background(value)  # ValueError names the value and what is accepted
    return value


def _sane_size(value: tuple[int, int]) -> tuple[int, int]:
    if not all(16 <= side <= 8192 for side in value):
        raise ValueError("each side must be 16 to 8192 pixels")
    cap = settings().max_output_pixels
    if value[0] * value[1] > cap:
        raise ValueError(
            f"{value[0]}x{value[1]} is {value[0] * value[1] / 1e6:.1f} megapixels; "
            f"an image is at most {cap / 1e6:g} (CATALOG_MAX_OUTPUT_PIXELS)"
        )
    return value


# An image's width and height, and what fills its padding, as every rule takes them.
Size = Annotated[tuple[int, int], AfterValidator(_sane_size)]
Background = Annotated[str | None, AfterValidator(_known_background)]


class Strict(BaseModel):
    """Unknown fields are refused, so a misspelt rule is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Edge(Strict):
    """One edge of the crop: `offset` units `side` of the reference point, e.g. 0.1 head
    below the mouth. A list of references means the first one seen."""

    ref: Reference | list[Reference]
    offset: float = Field(0.0, ge=0, le=100)
    unit: Unit = "head"
    side: Literal["above", "below"] | None = None

    @model_validator(mode="after")
    def _side_given(self) -> Edge:
        if self.offset and self.side is None:
            raise ValueError("an offset needs a side: 'above' or 'below' the reference")
        if self.unit == "percent" and self.offset >= 100:
            raise ValueError("a percent offset must be below 100")
        return self

    @field_validator("ref")
    @classmethod
    def _some_ref(cls, value):
        if isinstance(value, list) and not value:
            raise ValueError("at least one reference point is needed")
        return value


class Anchor(Strict):
    """A reference point that lands `at` percent of the output's height from its top in
    every photo, e.g. the eyes at 12."""

    ref: Reference | list[Reference]
    at: float = Field(ge=0, le=100)


class Output(Strict):
    """The framing of one output."""

    top: Edge | None = None
    bottom: Edge | None = None
    anchor: Anchor | None = None
    # The crop's horizontal centre: the body's axis (shoulders and hips), the centre of
    # the output's own region, or the photo's centre.
    horizontal: Literal["body", "garment", "photo"] = "body"
    aspect: str | None = Field(None, pattern=r"^\d+(\.\d+)?:\d+(\.\d+)?$", description="width:height, e.g. 3:4")
    size: Size | None = Field(None, description="output width and height in pixels")
    background: Background = Field(None, description="where padded: white, transparent or #rrggbb")
    on_fail: OnFail = "pad"
    # Grow the crop (keeping its aspect, about the anchor or the centre) until the whole
    # region fits across it: a garment is never cut at the sides, and the vertical rules
    # become the least the crop shows.
    contain: bool = False

    @model_validator(mode="after")
    def _well_posed(self) -> Output:
        given = [name for name in ("top", "bottom", "anchor") if getattr(self, name) is not None]
        if len(given) != 2:
            raise ValueError(
                f"give exactly two of top, bottom and anchor (given: {', '.join(given) or 'none'}): "
                "two fix the crop's height and place"
            )
        if self.aspect and self.size:
            raise ValueError("give an aspect or a size, not both (a size has its own aspect)")
        if self.aspect and self.ratio <= 0:
            raise ValueError("aspect: both sides must be above 0")
        if not 1 / MAX_ASPECT <= self.ratio <= MAX_ASPECT:
            raise ValueError(f"the aspect must lie between 1:{MAX_ASPECT:g} and {MAX_ASPECT:g}:1")
        if self.height_share() == 0:
            raise ValueError(
                "the rules leave the crop's height open: the two rules move with the crop alike "
                "(both in percent of the output, adding up to the same place)"
            )
        factor, cap = self.crop_factor(), settings().max_crop_factor
        if factor > cap:
            raise ValueError(
                f"the rules can ask for a crop {factor:.1f} times the photo's height; at most {cap:g} "
                "(CATALOG_MAX_CROP_FACTOR): use smaller offsets, or percents that leave more of the output"
            )
        return self

    def _terms(self) -> list[tuple[float, float]]:
        """Each vertical rule as (c, o): its point lies c x the crop's height below the
        crop's top, and o (in heads or torsos) from its reference point."""
        terms = []
        for name in ("top", "bottom", "anchor"):
            part = getattr(self, name)
            if isinstance(part, Anchor):
                terms.append((part.at / 100, 0.0))
            elif isinstance(part, Edge):
                sign = 1.0 if part.side == "below" else -1.0
                at_bottom = 1.0 if name == "bottom" else 0.0
                if part.unit == "percent":
                    terms.append((at_bottom - sign * part.offset / 100, 0.0))
                else:
                    terms.append((at_bottom, part.offset))
        return terms

    def height_share(self) -> float:
        """How much the distance between the two rules' points grows per pixel of crop
        height (0: the rules cannot fix the height)."""
        (c1, _), (c2, _) = self._terms()
        return abs(c2 - c1)

    def crop_factor(self) -> float:
        """The tallest crop these rules can ask for, in photo heights: the two reference
        points at most a photo apart, a head or a torso at most a photo tall."""
        (c1, o1), (c2, o2) = self._terms()
        return (1 + o1 + o2) / abs(c2 - c1)

    @property
    def ratio(self) -> float:
        """Width over height (3:4 when neither an aspect nor a size is given)."""
        if self.size:
            return self.size[0] / self.size[1]
        w, h = (float(v) for v in (self.aspect or "3:4").split(":"))
        return w / h if h else 0.0


class Outputs(Strict):
    look: Output | None = None
    top: Output | None = None
    bottom: Output | None = None
    headwear: Output | None = None
    shoes: Output | None = None

    def given(self) -> dict[str, Output]:
        return {name: rule for name, rule in self if rule is not None}


class Packshot(Strict):
    """A product's cutout placed on a fixed canvas: its longer side takes `fill` percent
    of the canvas's shorter side, centred, or standing with its bottom on `baseline`
    (percent of the height from the top), centred across."""

    fill: float = Field(84, gt=0, le=100)
    align: Literal["center", "bottom"] = "center"
    baseline: float = Field(92, gt=0, le=100)
    size: Size = (1200, 1200)
    background: Background = None

    @field_validator("size")
    @classmethod
    def _sane_aspect(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1 / MAX_ASPECT <= value[0] / value[1] <= MAX_ASPECT:
            raise ValueError(f"the aspect must lie between 1:{MAX_ASPECT:g} and {MAX_ASPECT:g}:1")
        return value


class StyleGuide(Strict):
    name: str = Field(pattern=NAME_PATTERN, description="lower-case letters, digits and dashes")
    description: str = Field("", max_length=500)
    outputs: Outputs = Field(default_factory=Outputs)
    product: Packshot | None = None

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_NAMES:
            raise ValueError(f"{value!r} is reserved: choose another name")
        return value

    @model_validator(mode="after")
    def _makes_something(self) -> StyleGuide:
        if not self.outputs.given() and self.product is None:
            raise ValueError("a guide needs at least one output or a product rule")
        return self

    @property
    def sha256(self) -> str:
        """The content hash the manifest records: the same rules give the same hash,
        however the document was written (YAML or JSON, key order, defaults left out)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class StyleRef(BaseModel):
    """Which guide made a photo's images."""

    name: str
    sha256: str


class GuideError(ValueError):
    """A document that is not a valid guide; the message names each field and rule."""


def parse_guide(text: str | bytes | dict) -> StyleGuide:
    """A guide from YAML or JSON text (JSON is YAML), or from its parsed mapping."""
    if isinstance(text, dict):
        data = text
    else:
        try:
            _check_document(text)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise GuideError(f"not YAML or JSON: {exc}".replace("\n", " ")) from None
        except RecursionError:  # a backstop: _check_document bounds the depth first
            raise GuideError(f"the document nests too deeply (at most {MAX_GUIDE_DEPTH} levels)") from None
    if not isinstance(data, dict):
        raise GuideError("a guide is a mapping with a name and its outputs")
    try:
        return StyleGuide.model_validate(data)
    except ValidationError as exc:
        raise GuideError(describe(exc)) from None


def _check_document(text: str | bytes) -> None:
    """Size, nesting depth and aliases, from the parser's events, before anything is built
    from them (the event parser keeps a stack, where building recurses once per level)."""
    if len(text) > MAX_GUIDE_BYTES:
        raise GuideError(f"the guide is {len(text)} bytes; at most {MAX_GUIDE_BYTES}")
    depth = aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):  # each one repeats a whole part: bounded too
            aliases += 1
            if aliases > MAX_GUIDE_ALIASES:
                raise GuideError(f"the guide repeats parts by alias (*name) more than {MAX_GUIDE_ALIASES} times")
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_GUIDE_DEPTH:
                raise GuideError(f"the document nests too deeply (at most {MAX_GUIDE_DEPTH} levels)")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def describe(exc: ValidationError) -> str:
    """Each problem as `field.path: message`, e.g. `outputs.top.top.ref: Input should be ...`."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-after"))
        parts.append(f"{where or 'guide'}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


@cache
def builtin_guides() -> dict[str, StyleGuide]:
    """The guides that ship with the product (shared/domain/data/styles/*.yaml), by name."""
    guides = {}
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        guide = parse_guide(path.read_text())
        guides[guide.name] = guide
    return guides


def load_guide(name_or_path: str) -> StyleGuide:
    """A built-in guide by name, or a guide file (for the CLI)."""
    if name_or_path in builtin_guides():
        return builtin_guides()[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        known = ", ".join(builtin_guides())
        raise GuideError(f"no built-in guide and no file named {name_or_path!r} (built-in: {known})")
    return parse_guide(path.read_text())
