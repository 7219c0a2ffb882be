"""Style guides stored per account (the API key's owner), in Redis beside the jobs:

    {ns}:styles:{owner}         hash: guide name -> the guide as JSON
    {ns}:styles:{owner}:default the name of the account's default guide

Built-in guides are not stored: every account sees them, none can replace or delete them."""

from __future__ import annotations

import redis

from shared.domain.styles import StyleGuide, builtin_guides

# An account's own guides, at most (each a few kB).
MAX_GUIDES = 100


class StyleLimit(Exception):
    """An account has as many guides as it may keep."""


class StyleStore:
    def __init__(self, client: redis.Redis, namespace: str = "catalog"):
        self.redis, self.ns = client, namespace

    def _hash(self, owner: str) -> str:
        return f"{self.ns}:styles:{owner}"

    def _default(self, owner: str) -> str:
        return f"{self.ns}:styles:{owner}:default"

    def own(self, owner: str) -> dict[str, StyleGuide]:
        stored = self.redis.hgetall(self._hash(owner))
        return {name: StyleGuide.model_validate_json(text) for name, text in sorted(stored.items())}

    def get(self, owner: str, name: str) -> StyleGuide | None:
        """A built-in guide, or the account's own, by name."""
        if name in builtin_guides():
            return builtin_guides()[name]
        text = self.redis.hget(self._hash(owner), name)
        return StyleGuide.model_validate_json(text) if text else None

    def put(self, owner: str, guide: StyleGuide) -> bool:
        """Store a guide; True when it is new, False when it replaced one of that name."""
        if guide.name in builtin_guides():
            raise ValueError(f"{guide.name!r} is a built-in guide: choose another name")
        key = self._hash(owner)
        if not self.redis.hexists(key, guide.name) and self.redis.hlen(key) >= MAX_GUIDES:
            raise StyleLimit(f"an account keeps at most {MAX_GUIDES} guides: delete one first")
        return bool(self.redis.hset(key, guide.name, guide.model_dump_json()))

    def delete(self, owner: str, name: str) -> bool:
        """Delete one of the account's guides (and the default, if it was that one)."""
        deleted = bool(self.redis.hdel(self._hash(owner), name))
        if deleted and self.redis.get(self._default(owner)) == name:
            self.redis.delete(self._default(owner))
        return deleted

    def default(self, owner: str) -> str | None:
        name = self.redis.get(self._default(owner))
        return name if name and self.get(owner, name) else None

    def set_default(self, owner: str, name: str | None) -> None:
        if name is None:
            self.redis.delete(self._default(owner))
        else:
            self.redis.set(self._default(owner), name)
