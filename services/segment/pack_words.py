"""Catalog categories from the words printed on a pack.

The lexicon is data (``shared/domain/data/pack_words.yaml``: per category, per language),
matched by the catalog's one word matcher (shared.domain.lexicon: case and accents ignored,
longer entries first, so "ice cream" counts for desserts and not also "cream" for skincare).
"""

from __future__ import annotations

from shared.domain.words import pack_lexicon


def words_found(line: str) -> list[tuple[str, str]]:
    """(entry, category) for each lexicon entry found in one line of text, longest first."""
    return [(entry.words, entry.meanings[0]) for entry in pack_lexicon().find(line)]


def text_categories(lines: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Catalog categories that lines of text name, as shares (best first). Each line comes
    with its weight (how large it is printed); an entry counts once, at its largest."""
    weights: dict[tuple[str, str], float] = {}
    for line, weight in lines:
        for found in words_found(line):
            weights[found] = max(weights.get(found, 0.0), weight)
    votes: dict[str, float] = {}
    for (_, category), weight in weights.items():
        votes[category] = votes.get(category, 0.0) + weight
    total = sum(votes.values())
    shares = [(category, vote / total) for category, vote in votes.items()] if total else []
    return sorted(shares, key=lambda cs: -cs[1])
