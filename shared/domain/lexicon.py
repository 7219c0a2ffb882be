"""Finding a word list's entries in free text, in any of the languages the lists hold: the
one matcher behind the pack words (what is printed on a pack) and the listing words (what a
listing's title and fields say).

Matching ignores case and accents; longer entries are read first and their words are not
read again, so "ice cream" counts once and not also as "cream", "dress shoes" not also as
"dress". A Latin-script entry matches a whole word, and one of SUBSTRING_MIN_LETTERS letters
or more also inside a longer word (OCR runs words together: "READYTOEAT"); a Chinese entry
matches anywhere (Chinese has no spaces between words).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

import yaml

SUBSTRING_MIN_LETTERS = 6


def normalise(text: str) -> str:
    """Lower case without accents, runs of anything but letters and digits as one space."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.findall(r"\w+", plain))


def _is_cjk(word: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in word)


@dataclass(frozen=True)
class Entry:
    words: str  # normalised
    meanings: tuple[str, ...]  # what it names: categories, kinds, colour families
    pattern: re.Pattern[str]


class Lexicon:
    """Entries (normalised words) and what each names, matched longest first."""

    def __init__(self, meanings: Mapping[str, Iterable[str]]):
        self.entries = tuple(
            Entry(words, tuple(named), _pattern(words))
            for words, named in sorted(meanings.items(), key=lambda e: (-len(e[0]), e[0]))
        )

    def find(self, text: str) -> list[Entry]:
        """The entries found in the text, longest first; a part of the text an entry took is
        not read again."""
        return self.read(text)[0]

    def read(self, text: str) -> tuple[list[Entry], str]:
        """The entries found in the text, and the (normalised) text none of them took."""
        rest = normalise(text)
        found = []
        for entry in self.entries:
            rest, hits = entry.pattern.subn(" | ", rest)
            if hits:
                found.append(entry)
        return found, rest


def _pattern(entry: str) -> re.Pattern[str]:
    escaped = re.escape(entry)
    if _is_cjk(entry) or len(entry.replace(" ", "")) >= SUBSTRING_MIN_LETTERS:
        return re.compile(escaped)
    return re.compile(rf"(?<!\w){escaped}(?!\w)")


WordLists = dict[str, dict[str, list[str]]]  # meaning -> language -> words


def read_word_lists(package: str, path: str) -> WordLists:
    """A YAML data file of word lists: per meaning, per language."""
    return yaml.safe_load(resources.files(package).joinpath(path).read_text(encoding="utf-8"))


def lexicon_of(lists: WordLists, known: Iterable[str], source: str, *, one_meaning: bool = True) -> Lexicon:
    """The lexicon of word lists whose meanings must all be among `known`. With one_meaning,
    a word listed under two meanings is an error (it would name neither surely); without,
    it names both (a colour word on the border of two families)."""
    unknown = set(lists) - set(known)
    if unknown:
        raise ValueError(f"{source} names what is not known here: {sorted(unknown)}")
    meanings: dict[str, list[str]] = {}
    for meaning, languages in lists.items():
        for words in languages.values():
            for word in words:
                named = meanings.setdefault(normalise(str(word)), [])
                if meaning not in named:
                    named.append(meaning)
                if one_meaning and len(named) > 1:
                    raise ValueError(f"{source}: {word!r} is listed under {' and '.join(named)}")
    return Lexicon(meanings)
