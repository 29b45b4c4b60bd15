"""What the controller can judge ahead: the text a scenario's test will judge, when the
dataset already holds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_llmbench.benchmark.config import ScenarioConfig
from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.run.ahead_of_items import stored_text


def scenario(output: str | None) -> ScenarioConfig:
    return ScenarioConfig(
        "digest", Path("/d.jsonl"), "d.jsonl", "p@v1", "default", (), output=output
    )


def sample(**fields: Any) -> Sample:
    return Sample("s-1", "s-1", 0, 1, output=fields.get("output"), fields=fields)


@pytest.mark.parametrize(
    ("output", "fields", "expected"),
    [
        (None, {"output": "the digest"}, "the digest"),  # the plain body judges sample.output
        (None, {"output": 42}, "42"),  # as judge(x) sends it: str(x)
        (None, {}, None),  # no stored output: nothing to judge ahead
        (None, {"output": None}, None),
        ("summary", {"summary": "a summary", "output": "other"}, "a summary"),
        ("summary", {"output": "other"}, None),  # the field is missing: the item says so
        ("my_app:make", {"output": "other"}, None),  # produced by a function, in the item
    ],
)
def test_the_stored_text_is_what_the_test_will_judge(
    output: str | None, fields: dict[str, Any], expected: str | None
) -> None:
    assert stored_text(scenario(output), sample(**fields)) == expected
