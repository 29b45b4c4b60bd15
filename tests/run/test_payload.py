"""The sample payload: the judge's words and raw scores go in only when there are some,
bounded whatever judge produced them, and reach the record's sample unchanged."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.judging.output_sources import Produced
from pytest_llmbench.judging.reply_parsing import TEXT_LIMIT
from pytest_llmbench.judging.result import JudgeResult
from pytest_llmbench.results.validation import MAX_NUMBER, check
from pytest_llmbench.run import payload


def build(judged: JudgeResult | None, **changes: Any) -> Any:
    arguments: dict[str, Any] = {
        "scenario": "digest",
        "sample_id": "s-01",
        "item_id": "s-01",
        "position": 0,
        "nodeid": "benchmarks/test_digest.py::test_digest[s-01]",
        "outcome": "passed",
        "judged": judged,
        "live": True,
        "judged_metrics": ("coverage",),
        "field_values": {},
        "extra_scores": {},
        "prompt_sha256": None,
        "failure": None,
    }
    arguments.update(changes)
    return payload.build(**arguments)


def test_the_judges_words_and_raw_scores_reach_the_payload_and_the_record() -> None:
    judged = JudgeResult(
        status="scored",
        scores={"coverage": 0.75},
        raw_scores={"coverage": 4.0},
        reasoning="Misses the date.",
        raw_reply='{"coverage": 4}',
    )
    data = build(judged)
    assert (data["raw_scores"], data["judge_reasoning"], data["judge_raw"]) == (
        {"coverage": 4.0},
        "Misses the date.",
        '{"coverage": 4}',
    )
    entry = payload.to_entry(data)
    assert entry["scores"] == {"coverage": 0.75}
    assert (entry["raw_scores"], entry["judge_reasoning"], entry["judge_raw"]) == (
        {"coverage": 4.0},
        "Misses the date.",
        '{"coverage": 4}',
    )


def test_empty_words_and_no_scale_leave_no_keys() -> None:
    for judged in (JudgeResult(status="scored", scores={"coverage": 0.5}), None):
        data = build(judged)
        entry = payload.to_entry(data)
        for key in ("raw_scores", "judge_reasoning", "judge_raw"):
            assert key not in data and key not in entry


def test_an_unscored_sample_keeps_the_reply_the_judge_could_not_read_but_no_raw_scores() -> None:
    judged = JudgeResult(
        status="unscored",
        reason="unusable judge reply: ambiguous reply",
        raw_scores={"coverage": 4.0},
        raw_reply='{"coverage": 0} {"coverage": 4}',
    )
    entry = payload.to_entry(build(judged))
    assert entry["status"] == "unscored"
    assert entry["judge_raw"] == '{"coverage": 0} {"coverage": 4}'
    assert "raw_scores" not in entry and "judge_reasoning" not in entry


def test_words_from_any_judge_are_bounded_in_the_payload() -> None:
    judged = JudgeResult(
        status="scored", scores={"coverage": 1.0}, reasoning="r" * 10_000, raw_reply="x" * 5_000
    )
    data = build(judged)
    assert len(data["judge_reasoning"]) <= TEXT_LIMIT
    assert len(data["judge_raw"]) <= TEXT_LIMIT
    assert "characters cut" in data["judge_reasoning"]


@given(
    st.one_of(
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.text(max_size=5),
        st.none(),
    )
)
def test_a_field_value_reaches_the_scores_only_as_a_number_a_record_reader_accepts(
    value: object,
) -> None:
    scores = build(None, judged_metrics=(), field_values={"latency": value})["scores"]
    kept = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and abs(value) <= MAX_NUMBER
        and math.isfinite(value)
    )
    assert scores == ({"latency": float(value)} if kept else {})  # type: ignore[arg-type]


def test_a_300_digit_field_value_is_dropped_not_an_overflow() -> None:
    assert build(None, judged_metrics=(), field_values={"latency": 10**299})["scores"] == {}


def test_where_the_output_came_from_reaches_the_record_only_with_an_output_cache() -> None:
    scored = JudgeResult(status="scored", scores={"coverage": 0.5})
    assert "output_cached" not in build(scored)
    assert "output_cached" not in payload.to_entry(build(scored))
    for cached in (True, False):
        data = build(scored, output_cached=cached)
        assert data["output_cached"] is cached
        assert payload.to_entry(data)["output_cached"] is cached


def test_an_output_cached_that_is_not_a_boolean_is_not_kept() -> None:
    data = build(JudgeResult(status="scored", scores={"coverage": 0.5}))
    data["output_cached"] = "yes"  # a payload is read as it came from a worker
    assert "output_cached" not in payload.to_entry(data)


def test_an_unscored_custom_metric_makes_a_scored_sample_unscored_keeping_its_scores() -> None:
    built = build(
        JudgeResult(status="scored", scores={"coverage": 0.9}),
        extra_scores={"words": 7.0},
        unscored_metrics={"b": "my:b: returned nan, not a finite number", "a": "my:a: raised E"},
    )
    assert (built["status"], built["reason"], built["reason_code"], built["scores"]) == (
        "unscored",
        "metric a: my:a: raised E (and 1 more)",
        "metric",
        {"coverage": 0.9, "words": 7.0},
    )


def test_a_judge_failure_is_the_reason_even_when_a_custom_metric_failed_too() -> None:
    built = build(
        JudgeResult(status="unscored", reason="unusable reply"),
        unscored_metrics={"a": "my:a: raised E"},
    )
    assert (built["status"], built["reason"], built["reason_code"]) == (
        "unscored",
        "unusable reply",
        "judge",
    )


def test_an_output_reaches_the_record_only_when_an_output_function_produced_it() -> None:
    scored = JudgeResult(status="scored", scores={"coverage": 0.5})
    assert "output" not in payload.to_entry(build(scored))
    entry = payload.to_entry(build(scored, produced=Produced({"summary": "ok", "n": (1, 2)})))
    assert entry["output"] == {"summary": "ok", "n": [1, 2]}
    assert "output_truncated" not in entry
    assert payload.to_entry(build(scored, produced=Produced(None)))["output"] is None


def test_an_output_over_64_kib_is_cut_at_a_character_and_marked_truncated() -> None:
    text = "я" * payload.OUTPUT_BYTES  # 2 bytes a character
    entry = payload.to_entry(build(None, produced=Produced(text)))
    assert entry["output"] == "я" * (payload.OUTPUT_BYTES // 2)
    assert entry["output_truncated"] is True


class _Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (float("nan"), "NaN"),
        ({"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}, None),
        (10**20, "100000000000000000000"),
        ("half \ud800 pair", "half ? pair"),
        (_Opaque(), "<opaque>"),
    ],
    ids=["nan", "too-deep", "huge-int", "lone-surrogate", "object"],
)
def test_an_output_a_record_cannot_hold_as_json_is_kept_as_its_text(
    value: object, kept: str | None
) -> None:
    bounded, truncated = payload.bound_output(value)
    assert isinstance(bounded, str) and not truncated
    assert bounded == (kept if kept is not None else json.dumps(value))


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )
)
def test_any_output_is_bounded_to_what_a_record_reader_accepts(value: object) -> None:
    bounded, _ = payload.bound_output(value)
    check(bounded, Any)
    text = json.dumps(bounded, ensure_ascii=False, allow_nan=False)
    assert len(text.encode("utf-8")) <= payload.OUTPUT_BYTES + 2  # a string's quotes
