"""Person names: Russian by natasha's named-entity recogniser, English by a bundled list.

natasha (the `pii` extra) is Russian-only; its models ship inside its registry packages
(navec embeddings, slovnet NER and morphology), so it runs offline. Its PER spans are kept
when they hold a Cyrillic letter and are not a street, square or institution named after a
person ("улица Гагарина", "библиотека имени Пушкина").

English names (natasha does not read English): a given name from `first_names_en.txt`
followed by one or two capitalised words (the surname; "O'Brien", "Smith-Jones"), or a
title (Mr, Mrs, Ms, Dr) and a capitalised word. A given name alone is not taken (too many
are ordinary words: Grace, Bill, Mark).
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import re
from collections.abc import Iterator
from typing import Any

from pytest_llmbench.datasets.pii.spans import Span

EXTRA_MISSING = "person names need the pii extra: pip install 'pytest-llmbench[pii]'"
NER_CHUNK_CHARS = 4000  # natasha reads long texts in pieces cut at line ends
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
# The word before a PER span that makes it a place or an institution, not a person.
NAMED_AFTER = re.compile(
    r"(?:улиц[аеуы]|ул\.|проспект[аеу]?|пр-т[аеу]?|переул[оке]к?[аеу]?|пер\.|площад[ьи]|пл\."
    r"|бульвар[аеу]?|набережн\w+|шоссе|имени|им\.|памятник[аеу]?|сквер[аеу]?|парк[аеу]?"
    r"|станци[яиюей]|метро|аэропорт[аеу]?)\s+$",
    re.IGNORECASE,
)
SURNAME = r"(?:[A-Z]['’])?[A-Z][a-z]+(?:-[A-Z][a-z]+)?"
# "на Ленина, 40": one word and a house number after it is a street, not a person (an
# age, "Петров, 45 лет", is not a house number).
HOUSE_NUMBER = re.compile(
    r",\s?[0-9]{1,3}[а-яА-Я]?(?:/[0-9]{1,3})?(?![0-9,]|[.:][0-9])(?!\s*(?:лет|год|г\.))"
)
NAME_GRAMMEMES = frozenset({"Name", "Surn", "Patr"})
SURNAME_STOP = frozenset(
    {  # words after a given name that make it a place, a date or prose
        "Street", "Road", "Avenue", "Lane", "Park", "Square", "Hall", "Hotel", "House",
        "School", "College", "University", "Church", "Bridge", "Station", "Airport", "Centre",
        "Center", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
        "January", "February", "March", "April", "May", "June", "July", "August", "September",
        "October", "November", "December", "And", "Or", "The", "Is", "Was", "Will", "To",
        "From", "In", "On", "At", "Of", "For", "With", "By",
    }
)  # fmt: skip
TITLE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|Sir)\.? (" + SURNAME + r")\b")


@functools.cache
def given_names() -> frozenset[str]:
    text = importlib.resources.files(__package__).joinpath("first_names_en.txt").read_text("utf-8")
    return frozenset(w.strip() for w in text.splitlines() if w.strip() and w[0] != "#")


@functools.cache
def english_pattern() -> re.Pattern[str]:
    given = "|".join(sorted(given_names(), key=len, reverse=True))
    return re.compile(rf"\b(?:{given}) {SURNAME}(?: {SURNAME})?\b")


def english(text: str) -> Iterator[Span]:
    for m in english_pattern().finditer(text):
        words = m.group().split(" ")
        while len(words) > 1 and words[-1] in SURNAME_STOP:
            words.pop()
        if len(words) > 1:
            yield Span("PERSON", m.start(), m.start() + len(" ".join(words)))
    for m in TITLE.finditer(text):
        if m.group(1) not in SURNAME_STOP:
            yield Span("PERSON", m.start(), m.end())


def place_like(text: str, start: int, end: int) -> bool:
    """Whether the name at text[start:end] names a place or an institution there: after
    улица, имени, памятник...; one word before a house number ("Гагарина, 5"); one word in
    «quotes» (a bus stop, a club: «Гагарина»)."""
    if NAMED_AFTER.search(text[max(0, start - 24) : start]):
        return True
    if " " in text[start:end].strip():
        return False
    quoted = start > 0 and text[start - 1] in '«"' and text[end : end + 1] in ("»", '"')
    return quoted or HOUSE_NUMBER.match(text, end) is not None


def available() -> bool:
    """Whether natasha (the `pii` extra) is installed."""
    try:
        import natasha  # noqa: F401
    except ImportError:
        return False
    return True


def natasha_version() -> str:
    from importlib.metadata import version

    return version("natasha")


_DICT_PATH = "PYMORPHY2_DICT_PATH"


def _morph_vocab() -> Any:
    """natasha's MorphVocab. Its pymorphy2 finds the Russian dictionary through
    pkg_resources, which setuptools no longer ships (and venvs of Python 3.12 and later
    have no setuptools at all): it is given the dictionary's path instead, for this call."""
    from natasha import MorphVocab

    if _DICT_PATH in os.environ:
        return MorphVocab()
    import pymorphy2_dicts_ru

    os.environ[_DICT_PATH] = pymorphy2_dicts_ru.get_path()
    try:
        return MorphVocab()
    finally:
        os.environ.pop(_DICT_PATH, None)


class Russian:
    """natasha's pipeline, loaded once (about a second and 100 MB)."""

    def __init__(self) -> None:
        from natasha import NewsEmbedding, NewsMorphTagger, NewsNERTagger, Segmenter

        embedding = NewsEmbedding()
        self.segmenter = Segmenter()
        self.ner = NewsNERTagger(embedding)
        self.morph = NewsMorphTagger(embedding)
        self.vocab = _morph_vocab()

    def doc(self, text: str) -> Any:
        from natasha import Doc

        doc = Doc(text)
        doc.segment(self.segmenter)
        doc.tag_ner(self.ner)
        return doc

    def spans(self, text: str) -> Iterator[Span]:
        for offset, chunk in chunks(text):
            if not CYRILLIC.search(chunk):
                continue
            for found in self.doc(chunk).spans:
                start, end = offset + found.start, offset + found.stop
                if found.type != "PER" or not CYRILLIC.search(found.text):
                    continue
                if place_like(text, start, end):
                    continue
                if " " not in found.text.strip() and not self.name_like(found.text):
                    continue
                yield Span("PERSON", start, end)

    def name_like(self, word: str) -> bool:
        """Whether the morphology knows `word` as a given name, surname or patronymic: one
        word alone is taken as a person only then (natasha reads unknown places, such as
        a small town's name in the genitive, as people)."""
        return any(NAME_GRAMMEMES & set(parse.tag.grammemes) for parse in self.vocab.parse(word))

    def lemma(self, name: str) -> str:
        """The name in the nominative ("Марии Сидоровой" -> "мария сидорова"), for one
        placeholder per person whatever the case; the name itself when natasha cannot."""
        doc = self.doc(name)
        doc.tag_morph(self.morph)
        for found in doc.spans:
            if found.type == "PER" and found.start == 0 and found.stop == len(name):
                found.normalize(self.vocab)
                return str(found.normal)
        return name


@functools.cache
def russian() -> Russian:
    return Russian()


def chunks(text: str) -> Iterator[tuple[int, str]]:
    """`text` in pieces of at most NER_CHUNK_CHARS, cut after a line end (or a space) where
    there is one, each with its offset."""
    start = 0
    while start < len(text):
        end = min(len(text), start + NER_CHUNK_CHARS)
        if end < len(text):
            cut = max(text.rfind("\n", start, end), text.rfind(" ", start, end))
            if cut > start:
                end = cut + 1
        yield start, text[start:end]
        start = end


def find_names(text: str, *, russian_names: bool = True) -> list[Span]:
    """PERSON spans: English by the list, Russian by natasha (when `russian_names`)."""
    found = list(english(text))
    if russian_names:
        found.extend(russian().spans(text))
    return found
