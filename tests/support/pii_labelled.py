"""The labelled PII set (tests/datasets/pii/labelled.jsonl) scored against the detector:
recall per kind, on structured kinds, on names, and precision. Used by the test that
asserts the goal and by tests/perf/pii_recall.py, which prints the figures.

A labelled span counts as found when one detected span of its kind covers it whole (a
partly replaced value leaks the rest). A detected span is correct when it overlaps a
labelled span of its kind; otherwise it is a false positive.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pytest_llmbench.datasets.pii import STRUCTURED, Span, find

LABELLED = Path(__file__).parents[1] / "datasets" / "pii" / "labelled.jsonl"


@dataclass
class Score:
    labelled: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    detected: Counter[str] = field(default_factory=Counter)
    correct: Counter[str] = field(default_factory=Counter)
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # id, kind, text
    false: list[tuple[str, str, str]] = field(default_factory=list)

    def recall(self, kinds: tuple[str, ...]) -> float:
        total = sum(self.labelled[k] for k in kinds)
        return sum(self.found[k] for k in kinds) / total if total else 1.0

    def precision(self) -> float:
        total = sum(self.detected.values())
        return sum(self.correct.values()) / total if total else 1.0


def score(prefix: str = "") -> Score:
    """The figures over the posts whose id starts with `prefix` ("hand-": the hand-written
    ones; "": all)."""
    result = Score()
    for line in LABELLED.read_text("utf-8").splitlines():
        post = json.loads(line)
        if not post["id"].startswith(prefix):
            continue
        text: str = post["text"]
        gold = [Span(s["kind"], s["start"], s["end"]) for s in post["spans"]]
        spans = find(text)
        for g in gold:
            result.labelled[g.kind] += 1
            if any(s.kind == g.kind and s.start <= g.start and g.end <= s.end for s in spans):
                result.found[g.kind] += 1
            else:
                result.misses.append((post["id"], g.kind, text[g.start : g.end]))
        for s in spans:
            result.detected[s.kind] += 1
            if any(g.kind == s.kind and g.start < s.end and s.start < g.end for g in gold):
                result.correct[s.kind] += 1
            else:
                result.false.append((post["id"], s.kind, text[s.start : s.end]))
    return result


NAMES = ("PERSON",)
__all__ = ["LABELLED", "NAMES", "STRUCTURED", "Score", "score"]
