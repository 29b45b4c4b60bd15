"""Scrub a dataset file, or check one for residual personal data.

Every string in the chosen fields is scrubbed, recursively into lists and objects (object
keys are left as they are); the id field never is, so the scrubbed file keeps its samples'
identities. The file is read with the plugin's own reader (a file the plugin would refuse
is refused here with the same line) and written so that it reads back the same way.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmbench.benchmark.dataset import Sample, load_dataset
from pytest_llmbench.datasets.pii.detect import find
from pytest_llmbench.datasets.pii.names import place_like, russian
from pytest_llmbench.datasets.pii.placeholders import Placeholders
from pytest_llmbench.datasets.pii.spans import (
    KINDS,
    Known,
    Span,
    occurrences,
    outside_placeholders,
)
from pytest_llmbench.errors import DatasetError, os_reason

EXCERPT_CHARS = 30  # each side of a finding in check-pii's masked excerpt
_BLANKS = re.compile(r"\s+")


@dataclass(frozen=True)
class Selection:
    """Which fields of a sample are scrubbed or checked."""

    id_field: str = "id"
    skip: Collection[str] = ()
    only: Collection[str] | None = None  # None: every field but the id and `skip`
    names: bool = True  # PERSON too (natasha); False: the structured kinds only

    def fields(self, sample: Sample) -> Iterator[str]:
        for key in sample.fields:
            if key == self.id_field or key in self.skip:
                continue
            if self.only is None or key in self.only:
                yield key


@dataclass(frozen=True)
class Finding:
    """Residual personal data: where, and what kind; never the value."""

    line: int
    field: str  # "input", "meta.author", "tags[2]"
    kind: str
    excerpt: str  # the text around it with every finding masked as <KIND>


def strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, text) for every string inside `value`, in order."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, f"{path}.{key}")


def mapped(value: Any, fn: Callable[[str], str]) -> Any:
    """`value` with `fn` applied to every string inside it."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [mapped(item, fn) for item in value]
    if isinstance(value, dict):
        return {key: mapped(item, fn) for key, item in value.items()}
    return value


def spans_of(text: str, names: bool) -> list[Span]:
    return find(text, names=names)


def scrub_text(
    text: str,
    table: Placeholders,
    names: bool = True,
    known: Known | None = None,
    found: list[Span] | None = None,
) -> str:
    """`text` with its personal data replaced by the table's placeholders: what the
    detectors find in it (or `found`, when they already read it), and every other
    occurrence of what they found in it or of a `known` value (found elsewhere in the
    dataset)."""
    spans = spans_of(text, names) if found is None else found
    here = Known({text[s.start : s.end]: s.kind for s in spans}, place_like)
    spans = occurrences(text, spans, here)
    if known is not None:
        spans = occurrences(text, spans, known)
    return table.replace(text, outside_placeholders(text, spans))


def placeholders(names: bool) -> Placeholders:
    lemma = functools.lru_cache(maxsize=65536)(russian().lemma) if names else None
    return Placeholders(lemma)


def scrub_samples(
    samples: tuple[Sample, ...], selection: Selection
) -> tuple[list[str], Counter[str]]:
    """The scrubbed samples as JSONL lines, and the placeholders written per kind. Two
    passes: the first finds the values (held in memory only) and the spans of every string,
    the second replaces them and every other occurrence of them anywhere in the dataset,
    visiting the strings in the same order."""
    table = placeholders(selection.names)
    values: dict[str, str] = {}
    found: deque[list[Span]] = deque()
    for sample in samples:
        for key in selection.fields(sample):
            for _, text in strings(sample.fields[key], key):
                spans = spans_of(text, selection.names)
                found.append(spans)
                values.update((text[s.start : s.end], s.kind) for s in spans)

    known = Known(values, place_like)

    def scrub(text: str) -> str:
        return scrub_text(text, table, selection.names, known, found.popleft())

    lines = []
    for sample in samples:
        chosen = set(selection.fields(sample))
        record = {
            key: mapped(value, scrub) if key in chosen else value
            for key, value in sample.fields.items()
        }
        lines.append(jsonl_line(record))
    return lines, table.counts


def jsonl_line(record: dict[str, Any]) -> str:
    line = json.dumps(record, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the file): keep it escaped
        line = json.dumps(record)
    return line + "\n"


def scrub_file(
    source: Path, out: Path, selection: Selection, display: str | None = None
) -> dict[str, int]:
    """Write the scrubbed dataset to `out` (whole, then renamed into place); the counts
    per kind, in KINDS order."""
    data = load_dataset(source, display or str(source))
    lines, counts = scrub_samples(data.samples, selection)
    partial = out.with_name(out.name + ".partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # a new version's folder, as export makes
        partial.write_text("".join(lines), encoding="utf-8")
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DatasetError(
            f"{out}: cannot write the scrubbed dataset ({os_reason(exc, out)})"
        ) from None
    return {kind: counts[kind] for kind in KINDS if counts[kind]}


def masked(text: str, spans: list[Span]) -> tuple[str, list[int]]:
    """`text` with every span replaced by ``<KIND>``, and where each span now starts."""
    out: list[str] = []
    starts: list[int] = []
    position = 0
    length = 0
    for span in spans:
        piece = text[position : span.start]
        out.append(piece)
        length += len(piece)
        starts.append(length)
        mark = f"<{span.kind}>"
        out.append(mark)
        length += len(mark)
        position = span.end
    out.append(text[position:])
    return "".join(out), starts


def excerpt(masked_text: str, start: int, kind: str) -> str:
    """EXCERPT_CHARS of the masked text each side of the finding's mark."""
    left = max(0, start - EXCERPT_CHARS)
    right = min(len(masked_text), start + len(kind) + 2 + EXCERPT_CHARS)
    piece = _BLANKS.sub(" ", masked_text[left:right])
    piece = "".join(c if c.isprintable() else "\ufffd" for c in piece)
    return ("…" if left else "") + piece + ("…" if right < len(masked_text) else "")


def check_samples(samples: tuple[Sample, ...], selection: Selection) -> list[Finding]:
    findings: list[Finding] = []
    for sample in samples:
        for key in selection.fields(sample):
            for path, text in strings(sample.fields[key], key):
                spans = spans_of(text, selection.names)
                if not spans:
                    continue
                masked_text, starts = masked(text, spans)
                findings.extend(
                    Finding(sample.line, path, span.kind, excerpt(masked_text, start, span.kind))
                    for span, start in zip(spans, starts, strict=True)
                )
    return findings


def check_file(
    path: Path, selection: Selection, display: str | None = None
) -> tuple[int, list[Finding]]:
    """The number of samples in the file, and its residual personal data."""
    data = load_dataset(path, display or str(path))
    return len(data.samples), check_samples(data.samples, selection)
