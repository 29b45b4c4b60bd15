"""The system under test with a parameter the variants set: how many sentences to keep."""

from __future__ import annotations

from typing import Any

from pytest_llmbench import Sample


def answer(sample: Sample, variant: Any) -> str:
    sentences = [s for s in str(sample.output).replace(";", ".").split(".") if s.strip()]
    return ". ".join(s.strip() for s in sentences[: variant.params["sentences"]]) + "."


def concise(sample: Sample, output: str) -> float:
    """1.0 for an answer of 10 words or fewer, less the longer it gets."""
    return min(1.0, 10 / max(1, len(output.split())))
