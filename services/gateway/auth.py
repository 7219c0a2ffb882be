"""API keys: who is calling. Keys come from CATALOG_API_KEYS; with none set, keys are off
and every caller is the one local user.

The key is read through FastAPI's security classes, so the OpenAPI document declares both
ways to send it and /docs has an Authorize button. They never answer themselves
(auto_error=False): caller() gives the 401, with our wording."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import HTTPException, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers

from shared.engine.jobs.keys import owner_of
from shared.infra.settings import settings

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key of CATALOG_API_KEYS")
bearer = HTTPBearer(auto_error=False, description="The same key as `Authorization: Bearer <key>`")


def caller(
    api_key: Annotated[str | None, Security(api_key_header)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> str:
    """The owner of the jobs this request may see (a FastAPI dependency); 401 without a
    valid key when keys are on. `X-API-Key` wins over `Authorization: Bearer`."""
    key = (api_key or "").strip() or (credentials.credentials.strip() if credentials else None)
    return owner_of_key(key)


def owner_of_headers(headers: Headers) -> str:
    """caller() from the raw headers: for a route that must know the caller before it reads
    the body (an upload is not read for a caller without a key)."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    key = headers.get("x-api-key", "").strip() or (value.strip() if scheme.lower() == "bearer" else "")
    return owner_of_key(key or None)


def owner_of_key(key: str | None) -> str:
    keys = settings().api_keys
    if not keys:
        return owner_of(None)
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "an API key is required: send it in the X-API-Key header",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # Compared in constant time against every key, so timing says nothing about them.
    if not any([hmac.compare_digest(key.encode(), k.encode()) for k in keys]):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
    return owner_of(key)
