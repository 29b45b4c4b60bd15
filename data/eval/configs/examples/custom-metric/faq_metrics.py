"""Custom metrics: plain functions of (sample, output) returning a number."""

from __future__ import annotations

from pytest_llmbench import Sample


def word_count(sample: Sample, output: str) -> float:
    return float(len(output.split()))


def overlap(sample: Sample, output: str) -> float:
    """1.0 when the answer repeats a word (4 letters or more) of the question, else 0.0."""
    asked = {w.strip("?.,").lower() for w in str(sample.input).split() if len(w) >= 4}
    return 1.0 if any(w.strip("?.,;:").lower() in asked for w in output.split()) else 0.0
