"""The /v1/styles endpoints (docs/api.md): an account's style guides, its default guide,
and the live preview of a guide's crops on a photo whose keypoints are known."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from services.gateway.api_models import ErrorBody
from services.gateway.auth import caller
from services.gateway.style_store import StyleLimit, StyleStore
from shared.domain.body import LANDMARKS, body_settings
from shared.domain.framing import preview
from shared.domain.records import Box, Keypoint, Skipped
from shared.domain.styles import (
    MAX_GUIDE_BYTES,
    NO_STYLE,
    GuideError,
    StyleGuide,
    StyleRef,
    builtin_guides,
    parse_guide,
)
from shared.engine.jobs.store import job_store
from shared.infra.imageio import MAX_SIDE

router = APIRouter(
    prefix="/v1/styles",
    tags=["styles"],
    responses={
        400: {"model": ErrorBody, "description": "A body that cannot be parsed (not JSON)"},
        401: {"model": ErrorBody, "description": "No API key, or an unknown one"},
        503: {"model": ErrorBody, "description": "Redis is out of reach: try again"},
    },
)
Owner = Annotated[str, Depends(caller)]
# A guide is a few kB; anything much larger is not one.
GUIDE_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/plain")
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"model": ErrorBody, "description": "No such guide (or another key's)"}}
BAD_GUIDE: Responses = {
    422: {"model": ErrorBody, "description": "Not a valid guide: each field and rule at fault, named"}
}


class StyleSummary(BaseModel):
    name: str
    description: str
    builtin: bool
    sha256: str

    @classmethod
    def of(cls, guide: StyleGuide) -> StyleSummary:
        return cls(
            name=guide.name,
            description=guide.description,
            builtin=guide.name in builtin_guides(),
            sha256=guide.sha256,
        )


class StyleList(BaseModel):
    default: str | None = Field(description="The guide a job of this key follows when it names none")
    styles: list[StyleSummary]


class DefaultStyle(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(description="A guide's name, or null for none")


class PreviewRequest(BaseModel):
    """A guide (by name, or as its text) and a photo as a manifest record has it."""

    model_config = ConfigDict(extra="forbid")
    style: str | None = Field(None, description="A guide's name (built-in or this key's)")
    guide: str | None = Field(None, max_length=MAX_GUIDE_BYTES, description="A guide as YAML or JSON text")
    width: int = Field(ge=1, le=MAX_SIDE)
    height: int = Field(ge=1, le=MAX_SIDE)
    keypoints: list[list[Keypoint]] = Field(max_length=64, description="33 per person, as the manifest has them")

    @field_validator("keypoints")
    @classmethod
    def _all_landmarks(cls, people: list[list[Keypoint]]) -> list[list[Keypoint]]:
        for person in people:
            if sorted(k.name for k in person) != sorted(LANDMARKS):
                raise ValueError(f"each person needs the {len(LANDMARKS)} BlazePose landmarks by name, once each")
        return people


class PreviewOutput(BaseModel):
    output: str
    person: int
    box: Box
    size: tuple[int, int]
    warnings: list[str]


class PreviewResponse(BaseModel):
    style: StyleRef
    outputs: list[PreviewOutput]
    skipped: list[Skipped]


def styles() -> StyleStore:
    store = job_store()
    return StyleStore(store.redis, store.ns)


def guide_or_422(text: str | bytes) -> StyleGuide:
    try:
        return parse_guide(text)
    except GuideError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"invalid style guide: {exc}") from None


def find_guide(owner: str, name: str) -> StyleGuide:
    guide = styles().get(owner, name)
    if guide is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no style guide {name!r}")
    return guide


def job_style(owner: str, name: str | None) -> StyleGuide | None:
    """The guide a new job follows: the one it names (422 when there is none of that name;
    "none" for no guide), else the key's default, else none."""
    store = styles()
    if name == NO_STYLE:
        return None
    if not name:
        default = store.default(owner)
        return store.get(owner, default) if default else None
    guide = store.get(owner, name)
    if guide is None:
        known = ", ".join([*builtin_guides(), *store.own(owner)])
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"invalid options: style: no style guide {name!r} (known: {known})"
        )
    return guide


@router.get("", response_model=StyleList, summary="The built-in guides and this key's own")
def list_styles(owner: Owner):
    store = styles()
    guides = [*builtin_guides().values(), *store.own(owner).values()]
    return StyleList(default=store.default(owner), styles=[StyleSummary.of(g) for g in guides])


@router.get("/schema", summary="The JSON Schema a guide is checked against")
def guide_schema() -> dict[str, Any]:
    return StyleGuide.model_json_schema()


@router.put("/default", response_model=StyleList, responses=NOT_FOUND, summary="Set or clear this key's default guide")
def set_default(owner: Owner, body: DefaultStyle):
    if body.name is not None:
        find_guide(owner, body.name)
    styles().set_default(owner, body.name)
    return list_styles(owner)


@router.post(
    "/preview",
    response_model=PreviewResponse,
    responses={**NOT_FOUND, **BAD_GUIDE},
    summary="Where a guide's crops fall on a photo (for the web page's live preview)",
)
def preview_style(owner: Owner, body: PreviewRequest):
    if (body.style is None) == (body.guide is None):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give a guide's name (style) or its text (guide)")
    guide = find_guide(owner, body.style) if body.style else guide_or_422(body.guide or "")
    framed, skipped = preview(guide, body.keypoints, body.width, body.height, body_settings().visible)
    return PreviewResponse(
        style=StyleRef(name=guide.name, sha256=guide.sha256),
        outputs=[
            PreviewOutput(output=output, person=person, box=f.box, size=f.size, warnings=f.warnings)
            for output, person, f in framed
        ],
        skipped=skipped,
    )


@router.get("/{name}", response_model=StyleGuide, responses=NOT_FOUND, summary="One guide, whole")
def get_style(name: str, owner: Owner):
    return find_guide(owner, name)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=StyleSummary,
    responses={
        200: {"model": StyleSummary, "description": "A guide of that name was replaced"},
        409: {"model": ErrorBody, "description": "The name is a built-in guide's, or the account has 100 guides"},
        413: {"model": ErrorBody, "description": "Over 64 KiB: not a guide"},
        415: {"model": ErrorBody, "description": "Not JSON or YAML"},
        **BAD_GUIDE,
    },
    summary="Store a guide (JSON or YAML) under this key",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {kind: {"schema": {"$ref": "#/components/schemas/StyleGuide"}} for kind in GUIDE_TYPES[:2]},
        }
    },
)
async def create_style(request: Request, response: Response, owner: Owner):
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in GUIDE_TYPES:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"a guide is sent as JSON or YAML (Content-Type one of {', '.join(GUIDE_TYPES)}), not {kind or 'nothing'}",
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_GUIDE_BYTES:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "a guide is at most 64 KiB")
    guide = guide_or_422(bytes(body))
    try:
        created = await run_in_threadpool(styles().put, owner, guide)
    except (ValueError, StyleLimit) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if not created:
        response.status_code = status.HTTP_200_OK
    return StyleSummary.of(guide)


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND, 409: {"model": ErrorBody, "description": "A built-in guide"}},
    summary="Delete one of this key's guides",
)
def delete_style(name: str, owner: Owner):
    if name in builtin_guides():
        raise HTTPException(status.HTTP_409_CONFLICT, f"{name!r} is a built-in guide: it cannot be deleted")
    if not styles().delete(owner, name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no style guide {name!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
