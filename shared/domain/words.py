"""The catalog's word lists, kept as data (``data/pack_words.yaml``,
``data/listing_words.yaml``), each made a lexicon (shared.domain.lexicon) once."""

from __future__ import annotations

from functools import cache

from shared.domain.lexicon import Lexicon, WordLists, lexicon_of, normalise, read_word_lists
from shared.domain.records import COLOUR_FAMILIES
from shared.domain.taxonomy import CATEGORIES

NO_MEANING = "none"  # listing words read so that their words are not read as anything


def category_groups() -> tuple[str, ...]:
    """The taxonomy's groups ("shoes", "clothing", ...): a word may name any of a group."""
    return tuple(sorted({c.split("/")[0] for c in CATEGORIES if "/" in c}))


@cache
def pack_word_lists() -> WordLists:
    return read_word_lists("shared.domain", "data/pack_words.yaml")


@cache
def listing_word_lists() -> dict[str, WordLists]:
    return read_word_lists("shared.domain", "data/listing_words.yaml")  # type: ignore[return-value]


@cache
def pack_lexicon() -> Lexicon:
    """Words printed on packs -> the catalog category each names."""
    return lexicon_of(pack_word_lists(), CATEGORIES, "pack_words.yaml")


@cache
def category_lexicon() -> Lexicon:
    """A listing's words for what is sold -> a category or a group: the listing words and
    the pack words (a title may name what a pack holds), no word in both."""
    known = (*CATEGORIES, *category_groups(), NO_MEANING)
    listing = listing_word_lists()["categories"]
    shared = {w for ws in _word_sets(listing) for w in ws} & {w for ws in _word_sets(pack_word_lists()) for w in ws}
    if shared:
        raise ValueError(f"listing_words.yaml: already in pack_words.yaml: {sorted(shared)}")
    return lexicon_of({**pack_word_lists(), **listing}, known, "listing_words.yaml categories")


@cache
def colour_lexicon() -> Lexicon:
    """A listing's colour words -> the colour families a shopper may mean by each."""
    return lexicon_of(listing_word_lists()["colours"], COLOUR_FAMILIES, "listing_words.yaml colours", one_meaning=False)


def _word_sets(lists: WordLists) -> list[set[str]]:
    return [{normalise(str(w)) for words in languages.values() for w in words} for languages in lists.values()]
