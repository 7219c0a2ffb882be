"""The blob store: originals, intermediates and catalog files, addressed by key.

A key is a relative, '/'-separated path such as ``jobs/<job_id>/catalog/<slug>/top.jpg``.
The store is any fsspec filesystem under a root URL:

- ``file:///abs/dir`` (the default, ``<project>/data/blobs``): one machine, or a shared volume;
- ``s3://bucket/prefix``: S3 or an S3-compatible server (``CATALOG_S3_ENDPOINT_URL``), through
  s3fs, for workers on several nodes; credentials come from the usual ``AWS_*`` variables;
- ``memory://name``: in-process scratch space (the in-process pipeline's intermediates).

Errors: a missing key raises BlobNotFound (a FileNotFoundError); other storage faults
surface as the OSError the filesystem raised, which the workers retry as transient.
"""

from __future__ import annotations

import os
import posixpath
from functools import cache
from typing import IO
from urllib.parse import unquote, urlsplit

from fsspec import filesystem
from fsspec.core import url_to_fs

from shared.infra.settings import settings


class BlobNotFound(FileNotFoundError):
    """No blob under this key."""


def check_key(key: str) -> str:
    """The key itself when it is a clean relative path; ValueError otherwise (absolute,
    empty parts, '.', '..', backslashes): a key can never leave the store's root."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or "\0" in key or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid blob key {key!r}")
    return key


def join(*parts: str) -> str:
    """Keys joined with '/', empty parts left out: join("", "a/b") == "a/b"."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


class BlobStore:
    """Bytes by key under one root URL (see the module docstring)."""

    def __init__(self, url: str, *, endpoint_url: str | None = None, **storage_options):
        """`url`: file:///abs/dir (percent-encoded, as Path.as_uri gives), s3://bucket/prefix,
        memory://name, or any fsspec URL; `storage_options` go to the fsspec filesystem."""
        self.url = url.rstrip("/")
        if url.startswith(("s3://", "s3a://")):
            # Listings are cached by default; another process's writes must be seen at once.
            storage_options.setdefault("use_listings_cache", False)
            if endpoint_url:
                storage_options.setdefault("endpoint_url", endpoint_url)
        if url.startswith("file:"):
            # A file URL is percent-encoded (Path.as_uri): fsspec would keep "%20" literally.
            self.fs, self.root = filesystem("file"), os.path.abspath(unquote(urlsplit(url).path))
        else:
            self.fs, self.root = url_to_fs(self.url, **storage_options)
        self.root = self.root.rstrip("/")
        self.local = "file" in _protocols(self.fs)

    def __repr__(self) -> str:
        return f"BlobStore({self.url!r})"

    def path(self, key: str) -> str:
        """The filesystem path of a key (for fsspec calls and local debugging)."""
        return f"{self.root}/{check_key(key)}" if self.root else check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self.path(key)
        if self.local:
            # Written under a temporary name and renamed, so a reader never sees half a file.
            os.makedirs(posixpath.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        else:
            self.fs.pipe_file(path, data)

    def put_stream(self, key: str, source: IO[bytes], chunk_size: int = 1 << 20) -> int:
        """put() from a binary file object, copied in chunks (an upload is never held whole
        in memory); returns the bytes written."""
        path, written = self.path(key), 0
        if self.local:
            os.makedirs(posixpath.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                while chunk := source.read(chunk_size):
                    written += f.write(chunk)
            os.replace(tmp, path)
        else:
            with self.fs.open(path, "wb") as f:
                while chunk := source.read(chunk_size):
                    f.write(chunk)
                    written += len(chunk)
        return written

    def get(self, key: str) -> bytes:
        try:
            return self.fs.cat_file(self.path(key))
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def open(self, key: str, mode: str = "rb") -> IO[bytes]:
        """A file object for streaming (a download, an archive) without reading it whole."""
        if "w" in mode and self.local:
            os.makedirs(posixpath.dirname(self.path(key)), exist_ok=True)
        try:
            return self.fs.open(self.path(key), mode)
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def exists(self, key: str) -> bool:
        return self.fs.isfile(self.path(key))

    def size(self, key: str) -> int:
        try:
            return int(self.fs.size(self.path(key)))
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def list(self, prefix: str) -> list[str]:
        """Keys under a folder-like prefix ('jobs/1' holds 'jobs/1/a', never 'jobs/10/a'),
        sorted, relative to the store's root."""
        base = self.path(prefix.rstrip("/"))
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        root = f"{self.root}/" if self.root else ""
        keys = [p[len(root) :] if p.startswith(root) else p for p in (str(x) for x in found)]
        return sorted(k for k in keys if k.startswith(prefix.rstrip("/") + "/") and not k.endswith(".tmp"))

    def delete(self, key: str) -> None:
        try:
            self.fs.rm_file(self.path(key))
        except FileNotFoundError:
            pass

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under a folder-like prefix; returns how many were deleted."""
        keys = self.list(prefix)
        if keys:
            self.fs.rm([self.path(k) for k in keys])
        if self.local:
            base = self.path(prefix.rstrip("/"))
            if os.path.isdir(base):
                self.fs.rm(base, recursive=True)  # the emptied folders
        return len(keys)

    def check(self) -> None:
        """Write, read back and delete a small probe key: raises what the store raises when
        it cannot be used (a readiness check)."""
        key = f"health/{os.uname().nodename}-{os.getpid()}"
        self.put(key, b"ok")
        if self.get(key) != b"ok":
            raise OSError(f"{self} gave back other bytes than it was given")
        self.delete(key)


def _protocols(fs) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


_stores: dict[tuple[int, str, str | None], BlobStore] = {}


def blob_store() -> BlobStore:
    """The store configured by CATALOG_STORAGE_URL / CATALOG_S3_ENDPOINT_URL, one per process
    (a forked worker child makes its own: s3fs's event loop does not survive a fork)."""
    s = settings()
    key = (os.getpid(), s.storage_url, s.s3_endpoint_url)
    if key not in _stores:
        _stores[key] = BlobStore(s.storage_url, endpoint_url=s.s3_endpoint_url)
    return _stores[key]


@cache
def memory_store() -> BlobStore:
    """Process-local scratch space (fsspec's in-memory filesystem)."""
    return BlobStore("memory://catalog-scratch")


__all__ = ["BlobNotFound", "BlobStore", "blob_store", "check_key", "join", "memory_store"]
