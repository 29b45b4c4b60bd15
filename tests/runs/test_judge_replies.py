"""Whole runs against a scripted judge whose replies are what real judges send: a reasoning
model's draft, a restated format, a 1-5 scale. The record holds what the judge meant, the
judge's words beside it, and a warm run shows the same; with no xdist and `-n 2`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

# Imported once out here so that pytester's in-process runs do not re-import it each time
# (see test_live_judge.py).
import hypothesis.internal.observability  # noqa: F401
import pytest
from support.judge_server import JudgeServer
from support.project import PROMPT, Project, config_yaml, live_judge_yaml

MODES = {"no-xdist": ["-p", "no:xdist"], "n2": ["-n", "2"]}
LIVE_JUDGE = live_judge_yaml(retries="{attempts: 2, max_wait_s: 2, base_s: 0.01}")


def marker(number: int) -> str:
    """Text only the judge prompt of sample `s-<number>` contains (its input)."""
    return f"Пост номер {number}:"


def scores(coverage: float, accuracy: float) -> str:
    return json.dumps({"coverage": coverage, "accuracy": accuracy})


@pytest.fixture(params=list(MODES), ids=list(MODES))
def mode(request: pytest.FixtureRequest) -> list[str]:
    return list(MODES[request.param])


@pytest.fixture
def server(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[JudgeServer]:
    with JudgeServer(latency_s=0.01) as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        project.config(config_yaml(judge_block=LIVE_JUDGE))
        yield srv


def run(project: Project, mode: list[str], *args: str) -> pytest.RunResult:
    return project.run("--llmbench-json=result.json", "--llmbench-report=report.md", *mode, *args)


def samples(project: Project) -> list[dict[str, Any]]:
    record = json.loads((project.root / "result.json").read_text("utf-8"))
    found: list[dict[str, Any]] = record["scenarios"]["digest"]["samples"]
    return found


def words(sample: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sample.get(k) for k in ("scores", "raw_scores", "judge_reasoning", "judge_raw"))


def test_a_reasoning_models_draft_never_decides_the_score_and_its_words_are_kept(
    project: Project, server: JudgeServer, mode: list[str]
) -> None:
    replies = {
        1: f"<think>At first {scores(0.2, 0.2)}; no, it keeps every fact.</think>\n"
        + scores(0.9, 0.95),
        2: f"Thinking it over: {scores(0.1, 0.1)} is too harsh.</think>{scores(0.85, 0.9)}",
        3: f"The summary is exact.\n```json\n{scores(0.95, 0.9)}\n```",
        4: scores(0.4, 0.9),  # below the coverage pass: among the worst samples
    }
    for number, text in replies.items():
        server.script_for(marker(number), [("garbage", text)])
    server.script_for(marker(4), [("message", {"content": replies[4],
                                               "reasoning_content": "Drops the station's name."})])  # fmt: skip

    cold = run(project, mode)
    assert cold.ret == 0, cold.stdout.str()
    assert len(server.requests) == 4
    got = samples(project)
    assert [s["scores"]["coverage"] for s in got] == [0.9, 0.85, 0.95, 0.4]
    assert [s["scores"]["accuracy"] for s in got] == [0.95, 0.9, 0.9, 0.9]
    assert [s.get("judge_reasoning") for s in got] == [
        f"At first {scores(0.2, 0.2)}; no, it keeps every fact.",
        f"Thinking it over: {scores(0.1, 0.1)} is too harsh.",
        "The summary is exact.",
        "Drops the station's name.",
    ]
    assert [s.get("judge_raw") for s in got] == [replies[n].strip() for n in range(1, 5)]
    assert all("raw_scores" not in s for s in got)  # no declared scale
    report = (project.root / "report.md").read_text("utf-8")
    assert "<details><summary>Judge's reasoning: s-04</summary>\n\n> Drops the station's name." in (
        report
    )

    server.requests.clear()
    warm = run(project, mode)
    assert warm.ret == 0
    assert server.requests == []
    warm.stdout.fnmatch_lines(["  judge calls 0 · cached 4 · *"])
    assert [words(s) for s in samples(project)] == [words(s) for s in got]


def test_an_ambiguous_reply_is_asked_again_then_unscored_and_never_cached(
    project: Project, server: JudgeServer, mode: list[str]
) -> None:
    restated = f"Reply as {scores(0, 0)}.\n\nMy scores: {scores(0.9, 0.9)}"
    server.script_for(marker(2), [("garbage", restated), ("garbage", restated)])
    first = run(project, mode)
    assert first.ret == 1
    first.assert_outcomes(passed=3, failed=1)
    assert server.count_for(marker(2)) == 2
    second = samples(project)[1]
    assert second["status"] == "unscored"
    assert second["scores"] == {"latency_seconds": 102.0}  # no judged score, never 0
    assert second["reason"] == (
        "unusable judge reply: ambiguous reply: 2 different score objects, "
        '{"coverage": 0, "accuracy": 0} and {"coverage": 0.9, "accuracy": 0.9}'
    )
    assert second["judge_raw"] == restated
    first.stdout.fnmatch_lines(["*sample 's-02' unscored: unusable judge reply: ambiguous reply*"])
    report = (project.root / "report.md").read_text("utf-8")
    assert "<details><summary>Judge's reply: s-02</summary>" in report

    again = run(project, mode)  # the judge answers cleanly now
    assert again.ret == 0
    assert server.count_for(marker(2)) == 3  # asked again: an ambiguous reply is not cached
    assert samples(project)[1]["scores"]["coverage"] == 0.9


SCALED_PROMPT = PROMPT.replace("each from 0 to 1.", "each from 1 to 5.") + (
    "scale: {min: 1, max: 5}\n"
)


def test_a_declared_scale_is_normalised_with_the_raw_scores_in_the_record(
    project: Project, server: JudgeServer, mode: list[str]
) -> None:
    project.write("prompts/digest_judge/v1.yaml", SCALED_PROMPT)
    for number, (coverage, accuracy) in enumerate([(5, 4), (4, 5), (5, 5), (6, 5)], 1):
        text = json.dumps({"Coverage": coverage, "ACCURACY": accuracy})
        server.script_for(marker(number), [("garbage", text)] * 2)
    result = run(project, mode)
    assert result.ret == 1
    result.assert_outcomes(passed=3, failed=1)
    got = samples(project)
    assert [(s["status"], s["scores"].get("coverage"), s["scores"].get("accuracy")) for s in got] == [
        ("scored", 1.0, 0.75),
        ("scored", 0.75, 1.0),
        ("scored", 1.0, 1.0),
        ("unscored", None, None),
    ]  # fmt: skip
    assert [s.get("raw_scores") for s in got] == [
        {"accuracy": 4.0, "coverage": 5.0},
        {"accuracy": 5.0, "coverage": 4.0},
        {"accuracy": 5.0, "coverage": 5.0},
        None,
    ]
    assert got[3]["reason"] == "unusable judge reply: coverage=6 is outside 1..5"
    schema = server.requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["coverage"] == {"type": "number", "minimum": 1.0, "maximum": 5.0}


def test_an_unbelievable_token_count_is_unknown_with_a_note_and_the_run_finishes(
    project: Project, server: JudgeServer, mode: list[str]
) -> None:
    # 10**309 is past any float: summed and priced, it crashed session finish (no record).
    server.script_for(marker(1), [("usage", {"prompt_tokens": 10**309, "completion_tokens": 7})])
    server.script_for(marker(2), [("usage", {"prompt_tokens": -3, "completion_tokens": "7"})])
    result = run(project, mode)
    assert result.ret == 0, result.stdout.str()
    got = samples(project)
    assert [s["status"] for s in got] == ["scored"] * 4
    assert [(s["judge"]["prompt_tokens"], s["judge"]["completion_tokens"]) for s in got[:2]] == [
        (0, 7),
        (0, 0),
    ]
    notes = [line for line in result.stdout.lines if "token counts were not believed" in line]
    assert len(notes) == 1
    assert notes[0].startswith("llmbench: judge default: a reply's token counts were not believed (")
    assert notes[0].endswith("); counted as unknown (0)")


def test_a_reply_body_over_the_limit_unscores_its_sample_and_the_rest_are_scored(
    project: Project, server: JudgeServer, mode: list[str]
) -> None:
    huge = b'{"choices": [{"message": {"content": "' + b" " * (4 * 2**20) + b'"}}]}'
    server.script_for(marker(3), [("body", huge), ("body", huge)])
    result = run(project, mode)
    got = samples(project)
    assert [s["status"] for s in got] == ["scored", "scored", "unscored", "scored"]
    assert got[2]["reason"] == "unusable judge reply: the response body is over 4 MiB; not read"
    assert "Traceback" not in result.stdout.str()
