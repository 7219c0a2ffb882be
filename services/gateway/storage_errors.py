"""The blob store out of reach: a 503 to try again, not a 500. Only the calls that reach the
store are wrapped, so an OSError of anything else stays the bug it is."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException, status

from shared.infra.storage import BlobNotFound

RETRY_AFTER = {"Retry-After": "5"}
log = logging.getLogger(__name__)


@contextmanager
def storage_calls(not_found: str | None = None) -> Iterator[None]:
    """OSError inside -> 503 with Retry-After. BlobNotFound (an OSError too) is no outage:
    a 404 saying `not_found` when given, else left to the caller."""
    try:
        yield
    except BlobNotFound:
        if not_found is None:
            raise
        raise HTTPException(status.HTTP_404_NOT_FOUND, not_found) from None
    except OSError as exc:  # its kind only: the exception's text may hold a server path
        log.warning("the blob store failed: %s", exc)
        reason = exc.strerror or type(exc).__name__
        detail = f"the file store is unavailable ({reason}); try again"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail, headers=RETRY_AFTER) from exc
