"""Custom metrics: functions of (sample, output), named in the YAML as `source: my_metrics:NAME`."""

from __future__ import annotations

import asyncio

from pytest_llmbench import Sample


def word_count(sample: Sample, output: str) -> float:
    """A number: the metric's score for this sample."""
    return float(len(output.split()))


def lengths(sample: Sample, output: str) -> dict[str, float]:
    """A dict of numbers: each metric with this source reads its `key:` (default: its name)."""
    return {"chars": float(len(output)), "ratio": len(output) / max(1, len(str(sample.input)))}


async def mentions_input(sample: Sample, output: str) -> float:
    """Async works too (it runs on the plugin's background loop): 1.0 when the output
    repeats a word of the input, else 0.0."""
    await asyncio.sleep(0)  # a real one would await an HTTP call here
    seen = {word.lower() for word in str(sample.input).split()}
    return 1.0 if any(word.lower() in seen for word in output.split()) else 0.0
