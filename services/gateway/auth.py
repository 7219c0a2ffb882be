"""API keys: who is calling. Keys come from CATALOG_API_KEYS; with none set, keys are off
and every caller is the one local user."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status

from shared.jobs import owner_of
from shared.settings import settings


def presented_key(request: Request) -> str | None:
    """The key from `X-API-Key`, or from `Authorization: Bearer <key>`."""
    if key := request.headers.get("x-api-key"):
        return key.strip()
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def caller(request: Request) -> str:
    """The owner of the jobs this request may see (a FastAPI dependency); 401 without a
    valid key when keys are on."""
    keys = settings().api_keys
    if not keys:
        return owner_of(None)
    key = presented_key(request)
    if key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "an API key is required: send it in the X-API-Key header",
                            headers={"WWW-Authenticate": "Bearer"})
    # Compared in constant time against every key, so timing says nothing about them.
    if not any([hmac.compare_digest(key.encode(), k.encode()) for k in keys]):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
    return owner_of(key)
