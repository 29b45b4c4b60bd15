"""`find(text)`: every span of personal data in a text, overlaps resolved, placeholders left
alone. Pure apart from natasha's models, which are loaded once."""

from __future__ import annotations

from pytest_llmbench.datasets.pii.names import find_names
from pytest_llmbench.datasets.pii.spans import Span, outside_placeholders, resolve
from pytest_llmbench.datasets.pii.structured import find_structured


def find(text: str, *, names: bool = True, russian_names: bool = True) -> list[Span]:
    """The spans of `text` holding personal data, in text order, none overlapping. With
    `names` false only the structured kinds; `russian_names` false skips natasha (English
    names are still found)."""
    found = find_structured(text)
    if names:
        found.extend(find_names(text, russian_names=russian_names))
    return resolve(outside_placeholders(text, found))
