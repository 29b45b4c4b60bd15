from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.judging.reply_parsing import UnusableReply, extract_message, parse_scores

METRICS = ("coverage", "faithfulness")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"coverage": 0.8, "faithfulness": 1}', {"coverage": 0.8, "faithfulness": 1.0}),
        (
            '```json\n{"coverage": 0.8, "faithfulness": 0.5}\n```',
            {"coverage": 0.8, "faithfulness": 0.5},
        ),
        (
            'Sure! Here you go:\n```\n{"coverage": 0.25, "faithfulness": 0}\n```\nThanks.',
            {"coverage": 0.25, "faithfulness": 0.0},
        ),
        (
            'My verdict is {"coverage": 0.7, "faithfulness": 0.9} overall.',
            {"coverage": 0.7, "faithfulness": 0.9},
        ),
        (
            'Ignoring {braces} and {"note": "x"}: {"coverage": 0.1, "faithfulness": 0.2}',
            {"coverage": 0.1, "faithfulness": 0.2},
        ),
        ('{"coverage": "0.8", "faithfulness": " 0.6 "}', {"coverage": 0.8, "faithfulness": 0.6}),
        ('{"coverage": "85%", "faithfulness": "100 %"}', {"coverage": 0.85, "faithfulness": 1.0}),
        (
            '{"scores": {"coverage": 0.4, "faithfulness": 0.3}, "rationale": "ok"}',
            {"coverage": 0.4, "faithfulness": 0.3},
        ),
        (
            '{"coverage": 0.4, "faithfulness": 0.3, "extra": 7, "why": "text"}',
            {"coverage": 0.4, "faithfulness": 0.3},
        ),
        (
            '{"coverage": 1.0000000001, "faithfulness": -1e-10}',
            {"coverage": 1.0, "faithfulness": 0.0},
        ),
        (
            '{"coverage": "a } brace", "x": 1} {"coverage": 0.5, "faithfulness": 0.5}',
            {"coverage": 0.5, "faithfulness": 0.5},
        ),
    ],
    ids=[
        "plain",
        "json-fence",
        "bare-fence-with-prose",
        "prose-around",
        "first-object-with-the-metrics",
        "numbers-as-strings",
        "percentages",
        "nested-scores",
        "extra-keys-ignored",
        "float-noise-clamped",
        "braces-inside-strings",
    ],
)
def test_parse_scores_reads_what_can_be_read_without_guessing(
    text: str, expected: dict[str, float]
) -> None:
    assert parse_scores(text, METRICS) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty reply"),
        ("   \n", "empty reply"),
        ("The answer is good.", "no JSON object in the reply: 'The answer is good.'"),
        ("[0.5, 0.5]", "no JSON object in the reply: '[0.5, 0.5]'"),
        ('{"coverage": 0.5}', 'reply has no score for "faithfulness"'),
        ("{}", 'reply has no score for "coverage", "faithfulness"'),
        ('{"coverage": 8, "faithfulness": 0.5}', "coverage=8 is outside 0..1"),
        ('{"coverage": 0.5, "faithfulness": 85}', "faithfulness=85 is outside 0..1"),
        ('{"coverage": "150%", "faithfulness": 0.5}', "coverage=150% is outside 0..1"),
        ('{"coverage": -0.2, "faithfulness": 0.5}', "coverage=-0.2 is outside 0..1"),
        ('{"coverage": NaN, "faithfulness": 0.5}', "coverage=nan is not a finite number"),
        ('{"coverage": Infinity, "faithfulness": 0.5}', "coverage=inf is not a finite number"),
        ('{"coverage": "nan", "faithfulness": 0.5}', "coverage=nan is not a finite number"),
        ('{"coverage": true, "faithfulness": 0.5}', "coverage=true is not a number"),
        ('{"coverage": null, "faithfulness": 0.5}', "coverage=null is not a number"),
        ('{"coverage": "high", "faithfulness": 0.5}', 'coverage="high" is not a number'),
        ('{"coverage": [0.5], "faithfulness": 0.5}', "coverage=[0.5] is not a number"),
        ('{"coverage": 1e999, "faithfulness": 0.5}', "coverage=inf is not a finite number"),
    ],
    ids=[
        "empty",
        "blank",
        "prose-only",
        "array",
        "one-missing",
        "all-missing",
        "ten-scale",
        "hundred-scale",
        "percent-over",
        "negative",
        "nan",
        "infinity",
        "nan-string",
        "bool",
        "null",
        "word",
        "list",
        "overflow",
    ],
)
def test_parse_scores_refuses_what_would_need_a_guess(text: str, reason: str) -> None:
    with pytest.raises(UnusableReply) as caught:
        parse_scores(text, METRICS)
    assert caught.value.reason == reason
    assert str(caught.value) == reason


def test_a_long_prose_reply_is_shortened_in_the_reason() -> None:
    with pytest.raises(UnusableReply) as caught:
        parse_scores("word " * 100, METRICS)
    assert len(caught.value.reason) < 100
    assert caught.value.reason.endswith("...'")


def test_top_level_metrics_win_over_a_nested_scores_key() -> None:
    text = '{"coverage": 0.1, "faithfulness": 0.2, "scores": {"coverage": 0.9}}'
    assert parse_scores(text, METRICS) == {"coverage": 0.1, "faithfulness": 0.2}


@given(st.text())
def test_parse_scores_raises_nothing_but_unusable_reply(text: str) -> None:
    try:
        scores = parse_scores(text, METRICS)
    except UnusableReply:
        return
    assert set(scores) == set(METRICS)
    assert all(0.0 <= value <= 1.0 for value in scores.values())


@given(
    st.text(alphabet='{}[]":,0123456789.-eE%` \nabcNaInfty', max_size=200),
)
def test_parse_scores_raises_nothing_but_unusable_reply_on_json_like_text(text: str) -> None:
    with contextlib.suppress(UnusableReply):
        parse_scores(text, ("a",))


@given(st.dictionaries(st.sampled_from(METRICS), st.floats(0, 1), min_size=2), st.text())
def test_parse_scores_finds_the_object_in_any_prose(scores: dict[str, float], prose: str) -> None:
    prose = prose.replace("{", "(").replace("`", "'")
    assert parse_scores(f"{prose}\n{json.dumps(scores)}\n{prose}", METRICS) == scores


def test_deep_nesting_is_unusable_not_a_crash() -> None:
    with pytest.raises(UnusableReply):
        parse_scores("{" + '"a":[' * 100_000, METRICS)


def test_extract_message_reads_content_and_usage() -> None:
    body = {
        "choices": [{"message": {"role": "assistant", "content": '{"coverage": 1}'}}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129},
    }
    assert extract_message(body) == ('{"coverage": 1}', 120, 9)


def test_extract_message_counts_missing_usage_as_zero() -> None:
    body = {"choices": [{"message": {"content": "hi"}}], "usage": None}
    assert extract_message(body) == ("hi", 0, 0)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "response body is a JSON array, not an object"),
        ("text", "response body is a JSON string, not an object"),
        ({}, "response body has no choices"),
        ({"choices": []}, "response body has no choices"),
        ({"choices": ["x"]}, "response body has no choices[0].message"),
        ({"choices": [{"text": "x"}]}, "response body has no choices[0].message"),
        (
            {"choices": [{"message": {"content": None, "refusal": "no"}}]},
            "choices[0].message.content is null, not text",
        ),
    ],
    ids=[
        "array",
        "string",
        "no-choices",
        "empty-choices",
        "choice-not-object",
        "no-message",
        "null-content",
    ],
)
def test_extract_message_refuses_a_malformed_body(body: object, reason: str) -> None:
    with pytest.raises(UnusableReply) as caught:
        extract_message(body)
    assert caught.value.reason == reason
