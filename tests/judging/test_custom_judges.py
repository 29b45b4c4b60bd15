"""Custom judges (`kind: module:Class` or an entry point): built with the judge's config
and checked against the Judge protocol at build time (one clear error otherwise); what
they answer is checked too, so a raise or a bad score is an unscored sample, never a
traceback or a score the judge did not give; their replies are cached by class path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.aio import run
from support.extensions import write_distribution

from pytest_llmbench import Judge, JudgeConfig, JudgeRequest, JudgeResult
from pytest_llmbench.errors import JudgeSetupError
from pytest_llmbench.judging.custom_judges import build
from pytest_llmbench.judging.mode import resolve_mode
from pytest_llmbench.judging.reply_cache import cache_key

MODULE = """\
from pytest_llmbench import JudgeResult


class Fixed:
    def __init__(self, config):
        self.value = config.options.get("value", 0.5)
        self.closed = False

    async def score(self, request):
        if request.output == "raise":
            raise RuntimeError("rules\\nbroke")
        if request.output == "nan":
            return JudgeResult("scored", {m: float("nan") for m in request.metrics})
        if request.output == "partial":
            return JudgeResult("scored", {})
        if request.output == "object":
            return {"coverage": 1}
        if request.output == "unscored":
            return JudgeResult("unscored", reason="no rule matched")
        return JudgeResult("scored", {m: self.value for m in request.metrics})

    async def aclose(self):
        self.closed = True


class SyncScore:
    def __init__(self, config):
        pass

    def score(self, request):
        return None

    async def aclose(self):
        pass


class NoClose:
    def __init__(self, config):
        pass

    async def score(self, request):
        return None


class Picky:
    def __init__(self, config):
        raise ValueError("options: needs a threshold")


NOT_A_CLASS = 1
"""


@pytest.fixture(autouse=True)
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    write_distribution(tmp_path, "cj_mod", MODULE, judges={"fixed": "cj_mod:Fixed"})
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("cj_mod", None)


WHERE = "benchmarks/llmbench.yaml:4: judges.rules.kind"


def config(kind: str, **options: Any) -> JudgeConfig:
    return JudgeConfig("rules", kind, kind_at=WHERE, options=options, concurrency=2)


def request(output: str) -> JudgeRequest:
    return JudgeRequest([], ("coverage", "accuracy"), sample_id="s-1", output=output)


def test_the_protocol_is_runtime_checkable_and_a_built_judge_is_one() -> None:
    judge = build(config("cj_mod:Fixed", value=0.75))
    assert isinstance(judge, Judge)
    result = run(lambda: judge.score(request("fine")))
    assert (result.status, result.scores, result.attempts) == (
        "scored",
        {"coverage": 0.75, "accuracy": 0.75},
        1,
    )


def test_an_entry_point_name_builds_the_class_it_registers() -> None:
    result = run(lambda: build(config("fixed")).score(request("fine")))
    assert result.scores == {"coverage": 0.5, "accuracy": 0.5}


def test_aclose_reaches_the_users_judge() -> None:
    judge = build(config("cj_mod:Fixed"))
    run(judge.aclose)
    assert judge.judge.closed  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("raise", "judge cj_mod:Fixed raised RuntimeError: rules broke"),
        ("nan", "judge cj_mod:Fixed gave coverage = 'nan', not a finite number"),
        ("partial", "judge cj_mod:Fixed gave no score for coverage"),
        ("object", "judge cj_mod:Fixed returned dict, not a JudgeResult"),
        ("unscored", "no rule matched"),
    ],
)
def test_what_the_judge_does_wrong_is_an_unscored_result(output: str, reason: str) -> None:
    result = run(lambda: build(config("cj_mod:Fixed")).score(request(output)))
    assert (result.status, result.scores, result.reason) == ("unscored", {}, reason)


PROTOCOL = (
    "give a class taking (config) whose objects define async def score(self, request: "
    "JudgeRequest) -> JudgeResult and async def aclose(self)"
)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (
            "cj_mod:SyncScore",
            f"{WHERE}: cj_mod:SyncScore does not implement the Judge protocol; {PROTOCOL}",
        ),
        (
            "cj_mod:NoClose",
            f"{WHERE}: cj_mod:NoClose does not implement the Judge protocol; {PROTOCOL}",
        ),
        ("cj_mod:NOT_A_CLASS", f"{WHERE}: 'cj_mod:NOT_A_CLASS' is not a class; {PROTOCOL}"),
        (
            "cj_mod:Picky",
            f"{WHERE}: cj_mod:Picky(config) raised ValueError: options: needs a threshold; "
            "check the judge's options:",
        ),
        (
            "cj_mod:Gone",
            f"{WHERE}: 'cj_mod:Gone' cannot be loaded (AttributeError: module 'cj_mod' has "
            "no attribute 'Gone'); give an importable module:Class, or install the package "
            "that registers it",
        ),
    ],
    ids=["sync-score", "no-aclose", "not-a-class", "constructor-raises", "absent"],
)
def test_a_class_that_is_not_a_judge_is_one_clear_error(kind: str, message: str) -> None:
    with pytest.raises(JudgeSetupError) as info:
        build(config(kind))
    assert str(info.value) == message


def test_a_custom_judge_is_live_without_a_base_url_unless_dry_run_is_asked() -> None:
    judge = config("cj_mod:Fixed")
    assert resolve_mode("auto", judge, {}).mode == "live"
    assert resolve_mode("live", judge, {}).mode == "live"
    assert resolve_mode("dry-run", judge, {}).mode == "dry-run"


def test_the_cache_key_is_the_class_path_and_its_options() -> None:
    def key(judge: JudgeConfig) -> str:
        return cache_key(judge, [{"role": "user", "content": "x"}], ["coverage"], "p@v1", "ab")

    one = key(config("cj_mod:Fixed", value=0.5))
    assert one == key(config("cj_mod:Fixed", value=0.5))
    assert one != key(config("cj_mod:Other", value=0.5))
    assert one != key(config("cj_mod:Fixed", value=0.6))
    assert key(JudgeConfig("rules", "openai")) == key(JudgeConfig("rules", "openai", kind_at="x"))


def test_judge_result_and_request_are_the_public_names() -> None:
    from pytest_llmbench.judging import judge_protocol, result

    assert (JudgeResult, JudgeRequest) == (result.JudgeResult, judge_protocol.JudgeRequest)
