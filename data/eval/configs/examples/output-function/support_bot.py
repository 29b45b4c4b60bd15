"""The system under test. A real one calls your model; this one answers from the stored
answer, so the example runs offline."""

from __future__ import annotations

from pytest_llmbench import Sample


def answer(sample: Sample) -> str:
    return f"{sample.output} Anything else I can help with?"
