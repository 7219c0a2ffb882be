"""What a listing names, read with the listing words (shared.domain.words): the categories
or garment kinds it sells, the colour families its colour words mean, and the words a pack
under it should carry.

The category field is read first (a taxonomy id as it is, else its words), then the title,
then the description; the colour field first, then the title. In a title, a word that is
both a colour and a category ("olive", "chocolate", "cream") is a colour where another word
names what is sold ("olive chinos"), and what is sold where none does ("olives").
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.lexicon import normalise
from shared.domain.listing import Listing
from shared.domain.taxonomy import CATEGORIES
from shared.domain.words import NO_MEANING, category_groups, category_lexicon, colour_lexicon

# Words of a title too common to tell a pack by ("the", "de", "100"): shorter than this.
TEXT_WORD_MIN_LETTERS = 4


@dataclass(frozen=True)
class ListedTerms:
    categories: tuple[str, ...] = ()  # taxonomy ids or groups ("shoes"), as named
    colour_words: tuple[str, ...] = ()  # the colour words read, normalised
    colours: tuple[str, ...] = ()  # the colour families they may mean
    words: tuple[str, ...] = ()  # the title's and brand's words a pack may carry


def read_listing(listing: Listing) -> ListedTerms:
    categories, title_colours = _title_terms(listing.title or "")
    if listing.category:
        categories = _categories_of(listing.category) or categories
    if not categories and listing.description:
        categories, _ = _title_terms(listing.description)
    colours = _colours_of(listing.colour or "") or title_colours
    words = normalise(f"{listing.title or ''} {listing.brand or ''}").split()
    return ListedTerms(
        categories=categories,
        colour_words=tuple(word for word, _ in colours),
        colours=tuple(dict.fromkeys(family for _, families in colours for family in families)),
        words=tuple(dict.fromkeys(w for w in words if len(w) >= TEXT_WORD_MIN_LETTERS and not w.isdigit())),
    )


def _categories_of(text: str) -> tuple[str, ...]:
    if text.strip() in CATEGORIES or text.strip() in category_groups():
        return (text.strip(),)
    return tuple(dict.fromkeys(m for e in category_lexicon().find(text) for m in e.meanings if m != NO_MEANING))


def _colours_of(text: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(entry.words, entry.meanings) for entry in colour_lexicon().find(text)]


def _title_terms(text: str) -> tuple[tuple[str, ...], list[tuple[str, tuple[str, ...]]]]:
    """The categories a title names and its colour words (see the module's note)."""
    found, rest = category_lexicon().read(text)
    found = [e for e in found if NO_MEANING not in e.meanings]
    colour_words = {e.words for e in colour_lexicon().entries}
    sold = [e for e in found if e.words not in colour_words]
    also_colours = [e.words for e in found if e.words in colour_words] if sold else []
    categories = tuple(dict.fromkeys(m for e in (sold or found) for m in e.meanings))
    return categories, _colours_of(" ".join([rest, *also_colours]))
