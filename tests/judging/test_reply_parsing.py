from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.judging.reply_parsing import (
    MAX_ANSWER_CHARS,
    TEXT_LIMIT,
    UnusableReply,
    bound_text,
    check_score,
    extract_message,
    extract_reasoning_content,
    parse_reply,
    parse_scores,
    split_reasoning,
)
from pytest_llmbench.redaction import redact

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
            '{"note": "a } brace", "x": 1} {"coverage": 0.5, "faithfulness": 0.5}',
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


# -- reasoning models: the final answer, never the draft ---------------------------------

DRAFT = '{"coverage": 0.2, "faithfulness": 0.2}'
ANSWER = '{"coverage": 0.9, "faithfulness": 0.8}'
FINAL = {"coverage": 0.9, "faithfulness": 0.8}


@pytest.mark.parametrize(
    "text",
    [
        f"<think>Let me try {DRAFT} first.</think>{ANSWER}",
        f"<think>\n{DRAFT}\n</think>\n\n```json\n{ANSWER}\n```",
        f"<thinking>{DRAFT}</thinking> {ANSWER}",
        f"<reasoning>{DRAFT}</reasoning>{ANSWER}",
        f"<THINK>{DRAFT}</THINK>{ANSWER}",
        f"< think >{DRAFT}</ think >{ANSWER}",
        f"Draft: {DRAFT} ... on reflection, no.</think>{ANSWER}",  # opened by the template
        f"<think>one {DRAFT}</think><think>two {DRAFT}</think>{ANSWER}",
        f"<think>outer <think>inner {DRAFT}</think> still {DRAFT}</think>{ANSWER}",
        f"<think>{DRAFT}</think>{ANSWER}<think>second thoughts {DRAFT}",  # cut off while thinking
        f"{ANSWER}<think>wait, maybe {DRAFT}",
    ],
    ids=[
        "think",
        "think-fenced-answer",
        "thinking",
        "reasoning",
        "upper-case",
        "spaced-tags",
        "closing-tag-only",
        "two-blocks",
        "nested",
        "unclosed-after-the-answer",
        "answer-then-unclosed",
    ],
)
def test_the_final_answer_is_scored_never_the_draft_in_a_reasoning_block(text: str) -> None:
    reply = parse_reply(text, METRICS)
    assert reply.scores == FINAL
    assert "0.2" in reply.reasoning


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            f"<think>I would say {DRAFT}",
            "the reply is all reasoning: its reasoning block is never closed "
            "(is max_tokens too low for the judge to finish?)",
        ),
        (f"<think>{DRAFT}</think>", "the reply has no final answer after its reasoning"),
        (f"<think>{DRAFT}</think>   \n", "the reply has no final answer after its reasoning"),
        (f"{DRAFT}</think>", "the reply has no final answer after its reasoning"),
        (f"<think>{DRAFT}</think>Fine.", "no JSON object in the reply: 'Fine.'"),
    ],
    ids=["unclosed", "nothing-after", "blank-after", "closing-only-nothing-after", "prose-after"],
)
def test_a_reply_with_no_final_answer_is_unusable_whatever_its_draft_says(
    text: str, reason: str
) -> None:
    with pytest.raises(UnusableReply) as caught:
        parse_reply(text, METRICS)
    assert caught.value.reason == reason


def test_reasoning_content_is_kept_apart_and_never_read_for_scores() -> None:
    reply = parse_reply(ANSWER, METRICS, reasoning_content=f"Maybe {DRAFT}?")
    assert reply.scores == FINAL
    assert reply.reasoning == f"Maybe {DRAFT}?"
    with pytest.raises(UnusableReply) as caught:
        parse_reply("", METRICS, reasoning_content=DRAFT)
    assert caught.value.reason == "the reply has no final answer after its reasoning"


def test_split_reasoning_returns_the_text_whole_when_there_is_no_block() -> None:
    assert split_reasoning(f"Fine. {ANSWER}") == ("", f"Fine. {ANSWER}")
    assert split_reasoning(f"<think> a </think> b <think> c </think>{ANSWER}") == (
        "a\n\nb\n\nc",
        ANSWER,
    )


# -- one answer: ambiguous replies are not guessed at -------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            'Reply in the format {"coverage": 0, "faithfulness": 0}. My scores: ' + ANSWER,
            'ambiguous reply: 2 different score objects, {"coverage": 0, "faithfulness": 0} '
            'and {"coverage": 0.9, "faithfulness": 0.8}',
        ),
        (
            f"{ANSWER} or perhaps {DRAFT}",
            'ambiguous reply: 2 different score objects, {"coverage": 0.9, "faithfulness": 0.8} '
            'and {"coverage": 0.2, "faithfulness": 0.2}',
        ),
        (
            '{"coverage": 0.9} then ' + ANSWER,
            'ambiguous reply: 2 different score objects, {"coverage": 0.9} '
            'and {"coverage": 0.9, "faithfulness": 0.8}',
        ),
        (
            ANSWER + ' {"scores": {"coverage": 0.1, "faithfulness": 0.1}}',
            'ambiguous reply: 2 different score objects, {"coverage": 0.9, "faithfulness": 0.8} '
            'and {"coverage": 0.1, "faithfulness": 0.1}',
        ),
        (
            '{"coverage": 0.1, "faithfulness": 0.1} {"coverage": 0.2, "faithfulness": 0.2} '
            '{"coverage": 0.3, "faithfulness": 0.3}',
            'ambiguous reply: 3 different score objects, {"coverage": 0.1, "faithfulness": 0.1} '
            'and {"coverage": 0.2, "faithfulness": 0.2} (and 1 more)',
        ),
        (
            '{"coverage": 0.9, "Coverage": 0.1, "faithfulness": 0.8}',
            'ambiguous reply: "coverage" is given twice with different values',
        ),
    ],
    ids=[
        "restated-format-with-zeros",
        "two-different-objects",
        "partial-then-whole",
        "nested-and-top-level",
        "three-objects",
        "one-metric-twice-by-case",
    ],
)
def test_a_reply_with_more_than_one_score_object_is_ambiguous_never_the_first(
    text: str, reason: str
) -> None:
    with pytest.raises(UnusableReply) as caught:
        parse_reply(text, METRICS)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "text",
    [
        f"{ANSWER}\n\nTo repeat: {ANSWER}",
        f"{ANSWER}\n```json\n{ANSWER}\n```",
        '{"coverage": 0.9, "faithfulness": 0.8, "why": "a"} {"coverage": 0.9, "faithfulness": 0.8}',
        '{"coverage": 0.9, "faithfulness": 0.8} {"coverage": 0.90, "faithfulness": 0.8}',
        'Format: {"coverage": <number>, "faithfulness": <number>}. Scores: ' + ANSWER,
        '{"verdict": "good", "n": 2} ' + ANSWER,
        '{"coverage": 0.9, "COVERAGE": 0.9, "faithfulness": 0.8}',
    ],
    ids=[
        "repeated",
        "repeated-in-a-fence",
        "same-scores-other-keys",
        "same-numbers-written-differently",
        "placeholder-format-is-not-json",
        "object-without-metrics",
        "one-metric-twice-same-value",
    ],
)
def test_one_answer_repeated_identically_is_not_ambiguous(text: str) -> None:
    assert parse_scores(text, METRICS) == FINAL


def test_keys_match_the_requested_metrics_case_insensitively_and_only_they_count() -> None:
    text = '{"Coverage": 0.9, " FAITHFULNESS ": 0.8, "Fluency": 0.1, "scores": "n/a"}'
    assert parse_scores(text, METRICS) == FINAL
    assert parse_scores('{"SCORES": {"coverage": 0.9, "Faithfulness": 0.8}}', METRICS) == FINAL
    assert parse_scores(text, ("Coverage",)) == {"Coverage": 0.9}  # named as requested


# -- a declared scale ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale", "text", "scores", "raw"),
    [
        ((1.0, 5.0), '{"coverage": 4, "faithfulness": 1}', (0.75, 0.0), (4.0, 1.0)),
        ((1.0, 5.0), '{"coverage": "5", "faithfulness": 2.5}', (1.0, 0.375), (5.0, 2.5)),
        ((0.0, 10.0), '{"coverage": 7, "faithfulness": 10}', (0.7, 1.0), (7.0, 10.0)),
        ((0.0, 100.0), '{"coverage": 85, "faithfulness": "40%"}', (0.85, 0.4), (85.0, 40.0)),
        ((-1.0, 1.0), '{"coverage": 0, "faithfulness": -1}', (0.5, 0.0), (0.0, -1.0)),
        ((1.0, 5.0), '{"coverage": 5.000000001, "faithfulness": 0.999999999}', (1, 0), (5, 1)),
    ],
    ids=["1-5", "1-5-strings", "0-10", "0-100-percent", "minus-one-to-one", "float-noise"],
)
def test_scores_on_a_declared_scale_are_normalised_with_the_raw_values_kept(
    scale: tuple[float, float],
    text: str,
    scores: tuple[float, float],
    raw: tuple[float, float],
) -> None:
    reply = parse_reply(text, METRICS, scale=scale)
    assert reply.scores == pytest.approx(dict(zip(METRICS, scores, strict=True)))
    assert reply.raw_scores == pytest.approx(dict(zip(METRICS, raw, strict=True)))


@pytest.mark.parametrize(
    ("scale", "text", "reason"),
    [
        ((1.0, 5.0), '{"coverage": 6, "faithfulness": 1}', "coverage=6 is outside 1..5"),
        ((1.0, 5.0), '{"coverage": 0.8, "faithfulness": 1}', "coverage=0.8 is outside 1..5"),
        ((0.0, 10.0), '{"coverage": 11, "faithfulness": 1}', "coverage=11 is outside 0..10"),
        ((0.0, 10.0), '{"coverage": -1, "faithfulness": 1}', "coverage=-1 is outside 0..10"),
        (
            (1.0, 5.0),
            '{"coverage": "80%", "faithfulness": 1}',
            "coverage=80% is a percentage; the prompt's scale is 1..5",
        ),
        ((0.0, 100.0), '{"coverage": 101, "faithfulness": 1}', "coverage=101 is outside 0..100"),
    ],
    ids=["over", "under-min", "over-ten", "negative", "percent-on-1-5", "over-hundred"],
)
def test_a_value_outside_the_declared_scale_is_unusable_not_clipped(
    scale: tuple[float, float], text: str, reason: str
) -> None:
    with pytest.raises(UnusableReply) as caught:
        parse_reply(text, METRICS, scale=scale)
    assert caught.value.reason == reason


def test_without_a_scale_no_raw_scores_are_kept() -> None:
    assert parse_reply(ANSWER, METRICS).raw_scores is None


# -- the judge's words --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reasoning"),
    [
        (ANSWER, ""),
        (f"```json\n{ANSWER}\n```", ""),
        (
            f"The summary misses the date.\n```json\n{ANSWER}\n```\nHope this helps.",
            "The summary misses the date. Hope this helps.",
        ),
        (
            '{"coverage": 0.9, "faithfulness": 0.8, "rationale": "Misses the date."}',
            "Misses the date.",
        ),
        (f"<think>The date is missing.</think>Overall fine. {ANSWER}", "The date is missing."),
    ],
    ids=["bare-json", "fenced-json", "prose-around", "rationale-key", "think-block-first"],
)
def test_the_judges_reasoning_is_its_reasoning_block_else_the_prose_around_the_json(
    text: str, reasoning: str
) -> None:
    assert parse_reply(text, METRICS).reasoning == reasoning


def test_bound_text_keeps_head_and_tail_with_a_marker_within_the_limit() -> None:
    assert bound_text("  short  ") == "short"
    assert bound_text("x" * TEXT_LIMIT) == "x" * TEXT_LIMIT
    text = "HEAD" + "m" * 10_000 + "TAIL"
    cut = bound_text(text)
    assert len(cut) <= TEXT_LIMIT
    assert cut.startswith("HEAD") and cut.endswith("TAIL")
    kept = len(cut) - len(cut.split("\n")[1]) - 2
    assert f"\n[… {len(text) - kept:,} characters cut …]\n" in cut


def test_bound_text_cleans_what_it_keeps_including_a_secret_across_the_cut() -> None:
    secret = "sk-llmbench-test-5ecret-7f3a9c1e"
    for at in range(900, 1_100, 7):  # around where the head is cut
        text = "a" * at + secret + "b" * 10_000 + secret
        cut = bound_text(text, clean=lambda part: redact(part, [secret]))
        assert len(cut) <= TEXT_LIMIT
        assert not any(secret[i : i + 6] in cut for i in range(len(secret) - 5))


@given(st.text(max_size=3 * TEXT_LIMIT), st.integers(40, 3 * TEXT_LIMIT))
def test_bound_text_never_passes_its_limit(text: str, limit: int) -> None:
    assert len(bound_text(text, limit)) <= limit


def test_extract_reasoning_content_reads_either_field_name_and_nothing_else() -> None:
    def body(message: dict[str, object]) -> dict[str, object]:
        return {"choices": [{"message": {"content": "{}", **message}}]}

    assert extract_reasoning_content(body({"reasoning_content": "hm"})) == "hm"
    assert extract_reasoning_content(body({"reasoning": "hm"})) == "hm"
    assert extract_reasoning_content(body({"reasoning_content": 3})) == ""
    assert extract_reasoning_content(body({})) == ""
    assert extract_reasoning_content([]) == ""


def test_a_reply_with_only_reasoning_and_null_content_says_so() -> None:
    body = {"choices": [{"message": {"content": None, "reasoning_content": "Thinking..."}}]}
    with pytest.raises(UnusableReply) as caught:
        extract_message(body)
    assert caught.value.reason == (
        "the reply holds only reasoning (content is null); "
        "is max_tokens too low for the judge to finish?"
    )


def test_an_over_long_final_answer_is_unusable_without_being_scanned() -> None:
    with pytest.raises(UnusableReply) as caught:
        parse_reply(ANSWER + " " * MAX_ANSWER_CHARS, METRICS)
    assert caught.value.reason.startswith("the final answer is 20,0")


# -- properties ---------------------------------------------------------------------------

SCALES = st.one_of(
    st.none(),
    st.sampled_from([(1.0, 5.0), (0.0, 10.0), (0.0, 100.0)]),
    st.tuples(st.floats(-1e6, 1e6), st.floats(1e-3, 1e6)).map(lambda p: (p[0], p[0] + p[1])),
)
JSONISH = st.text(
    alphabet='{}[]":,0123456789.-eE%` \nabcNaInftyCOVERAGEcoverage<>/think', max_size=300
)


@given(st.one_of(st.text(), JSONISH), SCALES, st.text(max_size=50))
def test_parse_reply_gives_exactly_the_requested_metrics_in_0_1_or_unusable_reply(
    text: str, scale: tuple[float, float] | None, reasoning_content: str
) -> None:
    try:
        reply = parse_reply(text, METRICS, scale=scale, reasoning_content=reasoning_content)
    except UnusableReply as exc:
        assert exc.reason
        return
    assert list(reply.scores) == list(METRICS)
    assert all(type(v) is float and 0.0 <= v <= 1.0 for v in reply.scores.values())
    if scale is None:
        assert reply.raw_scores is None
    else:
        assert reply.raw_scores is not None and list(reply.raw_scores) == list(METRICS)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(10**30), 10**30)
    | st.text(alphabet="0123456789.%-e naif", max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
KEYS = st.sampled_from(["coverage", "Coverage", "FAITHFULNESS", "faithfulness", "scores", "why"])
# Mostly plausible scores, so the scored path is taken as well as every refusal.
VALUES = st.floats(0, 1) | st.integers(0, 5) | st.sampled_from(["0.5", "50%"]) | JSON_VALUES
OBJECTS = st.dictionaries(KEYS, VALUES | st.dictionaries(KEYS, VALUES), min_size=1, max_size=5)
PIECES = st.one_of(
    OBJECTS.map(json.dumps),
    st.sampled_from(["<think>", "</think>", "<reasoning>", "```json\n", "\n```", " "]),
    st.text(max_size=20),
)


@given(st.lists(PIECES, max_size=8).map("".join), SCALES)
def test_parse_reply_keeps_its_contract_on_replies_made_of_score_like_objects(
    text: str, scale: tuple[float, float] | None
) -> None:
    try:
        reply = parse_reply(text, METRICS, scale=scale)
    except UnusableReply:
        return
    assert list(reply.scores) == list(METRICS)
    assert all(type(v) is float and 0.0 <= v <= 1.0 for v in reply.scores.values())


SCORES = st.fixed_dictionaries({m: st.floats(0, 1) for m in METRICS})
DRAFTS = st.text().filter(lambda t: "<" not in t and ">" not in t)


@given(
    SCORES,
    SCORES,
    DRAFTS,
    st.sampled_from(["think", "thinking", "reasoning", "Think"]),
    st.booleans(),
)
def test_a_draft_inside_a_reasoning_block_never_decides_the_score(
    draft: dict[str, float], answer: dict[str, float], prose: str, tag: str, opened: bool
) -> None:
    block = f"{prose} {json.dumps(draft)} {prose}</{tag}>"
    text = (f"<{tag}>" if opened else "") + block + json.dumps(answer)
    assert parse_scores(text, METRICS) == answer
    # Cut off before it answers: unusable, never the draft.
    with pytest.raises(UnusableReply):
        parse_scores(f"<{tag}>{prose} {json.dumps(draft)}", METRICS)


# -- the fuzz corpus ----------------------------------------------------------------------

CORPUS = Path(__file__).parents[1] / "fuzz" / "replies"
EXPECTED: dict[str, Any] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def test_every_corpus_file_has_an_expectation_and_every_expectation_a_file() -> None:
    files = sorted(p.name for p in CORPUS.iterdir() if p.name != "expected.json")
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_replies_from_the_corpus_are_read_as_expected(name: str) -> None:
    """Each file is a reply's message content; expected.json says what it must give:
    {"scores": {...}} (normalised, with "scale" if the prompt declares one) or
    {"unusable": "start of the reason"}."""
    text = (CORPUS / name).read_text(encoding="utf-8")
    expected = EXPECTED[name]
    scale = tuple(expected["scale"]) if "scale" in expected else None
    if "unusable" in expected:
        with pytest.raises(UnusableReply) as caught:
            parse_reply(text, METRICS, scale=scale)
        assert caught.value.reason.startswith(expected["unusable"])
    else:
        reply = parse_reply(text, METRICS, scale=scale)
        assert reply.scores == pytest.approx(expected["scores"])


# -- huge and odd replies ------------------------------------------------------------------

TAG_PIECES = ["<", ">", "/", " ", "\n", "think", "THINKING", "reasoning", "{", "}", '"', ":", "0.5"]


@given(st.lists(st.sampled_from(TAG_PIECES + [f'"{m}"' for m in METRICS]), max_size=80))
def test_any_mix_of_tag_and_json_pieces_is_a_reply_or_unusable(pieces: list[str]) -> None:
    text = "".join(pieces)
    try:
        reply = parse_reply(text, METRICS)
    except UnusableReply as exc:
        assert exc.reason and "\n" not in exc.reason
    else:
        assert set(reply.scores) == set(METRICS)
        assert all(0.0 <= v <= 1.0 for v in reply.scores.values())


@pytest.mark.parametrize(
    "text",
    [
        "<" + " " * 1_000_000,
        ("<" + " " * 500) * 2_000,
        ("< /" + " " * 500) * 2_000,
        ("<think" + " " * 500) * 2_000,
    ],
    ids=["one-run", "many-runs", "slashed", "unclosed-tag"],
)
def test_a_megabyte_of_spaces_after_tag_openings_is_read_in_one_pass(text: str) -> None:
    # Quadratic backtracking here took minutes; linear, it is a fraction of a second.
    with pytest.raises(UnusableReply) as caught:
        parse_reply(text, METRICS)
    assert caught.value.reason.startswith("the final answer is ")


def test_the_judges_words_are_kept_without_lone_surrogates() -> None:
    assert bound_text("why \ud800 not") == "why ? not"
    assert bound_text("x" * 3000 + "\udfff", limit=100).endswith("?")


def test_a_score_of_hundreds_of_digits_is_named_in_a_short_reason() -> None:
    with pytest.raises(UnusableReply) as caught:
        check_score("coverage", 10**400, None)
    assert caught.value.reason == f"coverage={'1' + '0' * 56}... is not a finite number"
