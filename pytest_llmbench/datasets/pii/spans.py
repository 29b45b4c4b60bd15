"""What a detector finds: a span of the text and the kind of personal data in it."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from typing import NamedTuple

# The kinds, in the order a placeholder table and a scrub report list them. Structured kinds
# are found by pattern and (where one exists) a checksum; PERSON by named-entity recognition.
STRUCTURED = ("EMAIL", "PHONE", "HANDLE", "PROFILE", "CARD", "IBAN", "INN", "SNILS", "PASSPORT")
KINDS = (*STRUCTURED, "PERSON")

# A placeholder the scrubber wrote (`<PHONE_2>`): never personal data itself.
PLACEHOLDER = re.compile(rf"<(?:{'|'.join(KINDS)})_[0-9]{{1,9}}>")


class Span(NamedTuple):
    kind: str  # one of KINDS
    start: int
    end: int  # exclusive, as in text[start:end]


def resolve(spans: list[Span]) -> list[Span]:
    """Overlapping spans reduced to one each, in text order: the one found first in
    `spans` wins (callers list the more precise detectors first). O(n log n) lookups: a
    text may hold tens of thousands of spans."""
    starts: list[int] = []  # of the spans taken, sorted, none overlapping
    taken: list[Span] = []  # in the same order
    for span in spans:
        if span.end <= span.start:
            continue
        index = bisect.bisect_right(starts, span.start)
        if index and taken[index - 1].end > span.start:
            continue  # overlaps the one starting before it
        if index < len(taken) and taken[index].start < span.end:
            continue  # overlaps the one starting after it
        starts.insert(index, span.start)
        taken.insert(index, span)
    return taken


def outside_placeholders(text: str, spans: list[Span]) -> list[Span]:
    """The spans that do not touch a placeholder already in the text."""
    marks = [(m.start(), m.end()) for m in PLACEHOLDER.finditer(text)]  # sorted, disjoint
    if not marks:
        return spans
    starts = [start for start, _ in marks]

    def clear(span: Span) -> bool:
        index = bisect.bisect_left(starts, span.end)  # the marks starting before its end
        return not index or marks[index - 1][1] <= span.start

    return [span for span in spans if clear(span)]


class Known:
    """Values found anywhere in a dataset (text -> kind), looked up by their first word, so
    that finding their other occurrences costs one pass over a text's words."""

    def __init__(
        self, values: dict[str, str], refuse: Callable[[str, int, int], bool] | None = None
    ) -> None:
        self.refuse = refuse  # for PERSON: an occurrence that is a place, not the person
        self.by_first: dict[str, list[tuple[str, str]]] = {}
        for value, kind in values.items():
            first = _WORD.search(value)
            if first is not None:
                self.by_first.setdefault(first.group(), []).append((value, kind))
        for candidates in self.by_first.values():
            candidates.sort(key=lambda pair: -len(pair[0]))  # the longest value first

    def spans(self, text: str) -> list[Span]:
        found: list[Span] = []
        for word in _WORD.finditer(text):
            for value, kind in self.by_first.get(word.group(), ()):
                start = word.start() - value.index(word.group())
                end = start + len(value)
                if start < 0 or not text.startswith(value, start):
                    continue
                if not (_edge(text, start - 1) and _edge(text, end)):
                    continue  # inside a longer word
                if kind == "PERSON" and self.refuse is not None and self.refuse(text, start, end):
                    continue
                found.append(Span(kind, start, end))
        return found


_WORD = re.compile(r"[^\W\d_]+|[0-9]+")  # runs of letters, runs of digits


def occurrences(text: str, spans: list[Span], known: Known) -> list[Span]:
    """`spans` and every other occurrence in `text` of a value found anywhere (`known`),
    not inside a longer word: a name the recogniser took in one sentence is not left in
    the next. Resolved, in text order."""
    extra = known.spans(text)
    return resolve([*spans, *extra]) if extra else spans


def _edge(text: str, index: int) -> bool:
    return index < 0 or index >= len(text) or not text[index].isalpha()
