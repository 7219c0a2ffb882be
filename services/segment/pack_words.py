"""Catalog categories from the words printed on a pack.

The lexicon is data (``data/pack_words.yaml``: per category, per language). Matching
ignores case and accents; longer entries are read first and their words are not read
again, so "ice cream" counts for desserts and not also "cream" for skincare.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from importlib import resources

import yaml

from shared.domain.taxonomy import CATEGORIES

SUBSTRING_MIN_LETTERS = 6  # OCR runs words together ("READYTOEAT"): long words match inside others


def normalise(text: str) -> str:
    """Lower case without accents, runs of anything but letters and digits as one space."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.findall(r"\w+", plain))


def _is_cjk(word: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in word)


@cache
def lexicon() -> tuple[tuple[str, str, re.Pattern[str]], ...]:
    """(entry, category, pattern) for every word in the lexicon, longest entries first."""
    data = yaml.safe_load(
        resources.files("services.segment").joinpath("data/pack_words.yaml").read_text(encoding="utf-8")
    )
    unknown = set(data) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"pack_words.yaml names categories the taxonomy lacks: {sorted(unknown)}")
    entries: dict[str, str] = {}
    for category, languages in data.items():
        for words in languages.values():
            for word in words:
                entry = normalise(str(word))
                if entries.setdefault(entry, category) != category:
                    raise ValueError(f"pack_words.yaml: {word!r} is listed under two categories")
    compiled = []
    for entry, category in sorted(entries.items(), key=lambda e: -len(e[0])):
        escaped = re.escape(entry)
        if _is_cjk(entry) or len(entry.replace(" ", "")) >= SUBSTRING_MIN_LETTERS:
            pattern = escaped
        else:
            pattern = rf"(?<!\w){escaped}(?!\w)"
        compiled.append((entry, category, re.compile(pattern)))
    return tuple(compiled)


def words_found(line: str) -> list[tuple[str, str]]:
    """(entry, category) for each lexicon entry found in one line of text, longest first."""
    text = normalise(line)
    found = []
    for entry, category, pattern in lexicon():
        text, hits = pattern.subn(" | ", text)
        if hits:
            found.append((entry, category))
    return found


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
