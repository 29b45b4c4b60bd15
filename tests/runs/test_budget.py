"""A run budget: with `price:` on the judge, --llmbench-budget (or budget_usd) holds each
call's worst case before it is sent and sends no call whose worst case does not fit; the
samples left are unscored, the session fails, what was judged is kept, and what was spent
never passes the budget, with calls judged ahead in flight together and with xdist."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Imported once out here so that pytester's in-process runs do not re-import it each time
# (see test_live_judge.py).
import hypothesis.internal.observability  # noqa: F401
import pytest
from support.judge_server import JudgeServer
from support.project import Project, config_yaml, make_samples, marker

from pytest_llmbench.benchmark.dataset import load_dataset
from pytest_llmbench.benchmark.judge_config import JudgeConfig, Price
from pytest_llmbench.benchmark.prompts import load_prompt, render_messages
from pytest_llmbench.judging.budget import worst_case_cost

SAMPLES = 6
COMPLETION_TOKENS = 20  # what JudgeServer reports for every reply
MAX_TOKENS = 32  # the judge's bound on them, which the worst case counts
METRICS = ("coverage", "accuracy")
PRICE = Price(input_per_mtok=1000.0, output_per_mtok=4000.0)
PRICED_JUDGE = (
    "judges:\n"
    "  default:\n"
    "    kind: openai\n"
    "    base_url: ${TEST_LLM_URL}\n"
    "    model: test-model\n"
    "    concurrency: 1\n"  # one call at a time: the budget stops at an exact call
    "    timeout_s: 5\n"
    "    retries: {attempts: 2, max_wait_s: 2, base_s: 0.01}\n"
    f"    max_tokens: {MAX_TOKENS}\n"
    f"    price: {{input_per_mtok: {PRICE.input_per_mtok}, "
    f"output_per_mtok: {PRICE.output_per_mtok}}}\n"
)
UNPRICED_JUDGE = PRICED_JUDGE.split("    price:")[0]


def rendered(project: Project) -> list[list[dict[str, str]]]:
    """Each sample's judge prompt, as the plugin renders it."""
    prompt = load_prompt(project.root / "prompts", "digest_judge@v1")
    dataset = load_dataset(project.root / "data" / "digest.jsonl", "data/digest.jsonl")
    return [render_messages(prompt, s, str(s.output)) for s in dataset.samples]


def prompt_tokens(project: Project) -> list[int]:
    """The prompt tokens the server counts for each sample: len(prompt) // 4 over the system
    and user messages (it counts 20 completion tokens a reply)."""
    return [len("".join(m["content"] for m in ms)) // 4 for ms in rendered(project)]


def call_costs(project: Project) -> list[float]:
    """What judging each sample costs at PRICE."""
    return [PRICE.cost(tokens, COMPLETION_TOKENS) for tokens in prompt_tokens(project)]


def worst_cases(project: Project) -> list[float]:
    """What the budget holds for each sample's call before sending it."""
    judge = JudgeConfig(name="default", kind="openai", price=PRICE, max_tokens=MAX_TOKENS)
    found = [worst_case_cost(judge, messages, METRICS) for messages in rendered(project)]
    return [w for w in found if w is not None]


def budget_for(project: Project, calls: int) -> float:
    """A budget under which exactly `calls` calls are sent, one after another: the worst
    case of call `calls` fits beside what the calls before it spent, that of the next one
    does not beside what `calls` spent (halfway between the two)."""
    costs, worst = call_costs(project), worst_cases(project)
    assert all(c < w for c, w in zip(costs, worst, strict=True))  # a worst case is the worst
    low = math.fsum(costs[: calls - 1]) + worst[calls - 1]
    high = math.fsum(costs[:calls]) + worst[calls] if calls < len(costs) else 2 * low
    assert low < high
    return round((low + high) / 2, 6)


def refusal(project: Project, spent: float, limit: float, sample: int) -> str:
    worst = worst_cases(project)[sample - 1]
    return (
        f"budget exhausted: ${spent:.4f} of ${limit:g} spent; this sample's call could "
        f"cost up to ${worst:.4f}, so it was not sent"
    )


@pytest.fixture
def server(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[JudgeServer]:
    with JudgeServer() as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        project.dataset(make_samples([(0.9, 0.9)] * SAMPLES))
        project.config(config_yaml(judge_block=PRICED_JUDGE))
        yield srv


def ledgers(project: Project) -> list[Path]:
    return sorted((project.root / ".llmbench" / "runs").glob("*.spend.sqlite3*"))


def assert_stopped_after(
    project: Project, srv: JudgeServer, result: pytest.RunResult, judged: int, limit: float
) -> dict[str, Any]:
    left = SAMPLES - judged
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=judged, failed=left)
    assert [srv.count_for(marker(n)) for n in range(1, SAMPLES + 1)] == [1] * judged + [0] * left
    spent = math.fsum(call_costs(project)[:judged])
    assert spent <= limit
    tokens_in = sum(prompt_tokens(project)[:judged])
    reasons = {n: refusal(project, spent, limit, n) for n in range(judged + 1, SAMPLES + 1)}
    result.stdout.fnmatch_lines(
        [
            f"*_ test_digest[[]s-{n:02d}[]] _*"
            if i % 2 == 0
            else f"sample 's-{n:02d}' unscored: {reasons[n]}"
            for n in range(judged + 1, SAMPLES + 1)
            for i in range(2)
        ]
    )
    result.stdout.fnmatch_lines(
        [
            f"digest: FAIL  ({SAMPLES} samples: {judged} scored, {left} unscored, 0 errors *",
            f"  judge calls * · cached 0 · retries 0 · tokens {tokens_in} in / "
            f"{COMPLETION_TOKENS * judged} out · cost ${spent:.4f}",
            f"  budget exhausted: {left} samples of digest not judged",
            f"budget ${limit:g}: ${spent:.4f} spent; it stopped {left} judge calls whose "
            "worst case did not fit",
            "llmbench verdict: FAIL",
        ]
    )
    (record,) = project.records()
    assert record["status"] == "fail"
    assert record["problems"] == [f"budget exhausted: {left} samples of digest not judged"]
    scenario = record["scenarios"]["digest"]
    assert scenario["status"] == "fail"
    assert scenario["counts"] == {"scored": judged, "unscored": left, "error": 0}
    assert scenario["usage"]["http_requests"] == judged
    assert scenario["usage"]["cost_usd"] == pytest.approx(spent)
    samples = scenario["samples"]
    for sample in samples[:judged]:  # what was judged is kept, with its scores
        assert sample["status"] == "scored"
        assert sample["scores"] == {
            "accuracy": 0.9,
            "coverage": 0.9,
            "latency_seconds": 100.0 + int(sample["id"][2:]),
        }
    for number, sample in enumerate(samples[judged:], judged + 1):
        assert sample["status"] == "unscored"
        assert sample["reason"] == reasons[number]
        assert sample["reason_code"] == "budget_exhausted"
        assert sample["judge"]["attempts"] == 0
    assert scenario["metrics"]["coverage"]["n"] == judged
    assert record["run"]["budget"] == {
        "limit_usd": limit,
        "spent_usd": pytest.approx(spent),
        "held_usd": 0.0,
        "refused_calls": left,
    }
    assert ledgers(project) == []
    return dict(record)


def test_a_spent_budget_stops_judging_fails_the_session_and_keeps_what_was_judged(
    project: Project, server: JudgeServer
) -> None:
    limit = budget_for(project, calls=3)
    result = project.run(f"--llmbench-budget={limit}", "-p", "no:xdist")
    result.stdout.fnmatch_lines([f"  cache .llmbench/cache (0 replies stored), budget ${limit:g}"])
    assert_stopped_after(project, server, result, judged=3, limit=limit)
    assert len(server.requests) == 3


def test_budget_usd_in_the_config_works_like_the_option(
    project: Project, server: JudgeServer
) -> None:
    limit = budget_for(project, calls=2)
    project.config(f"budget_usd: {limit}\n" + config_yaml(judge_block=PRICED_JUDGE))
    result = project.run("-p", "no:xdist")
    assert_stopped_after(project, server, result, judged=2, limit=limit)


def test_the_option_overrides_budget_usd_in_the_config(
    project: Project, server: JudgeServer
) -> None:
    limit = budget_for(project, calls=4)
    project.config("budget_usd: 1000\n" + config_yaml(judge_block=PRICED_JUDGE))
    result = project.run(f"--llmbench-budget={limit}", "-p", "no:xdist")
    assert_stopped_after(project, server, result, judged=4, limit=limit)


def test_a_budget_that_covers_the_run_changes_nothing(
    project: Project, server: JudgeServer
) -> None:
    costs = call_costs(project)
    # Room for the last call's worst case beside all the others' real cost.
    limit = round(math.fsum(costs) + max(worst_cases(project)), 6)
    result = project.run(f"--llmbench-budget={limit}", "-p", "no:xdist")
    assert result.ret == 0
    result.assert_outcomes(passed=SAMPLES)
    (record,) = project.records()
    assert record["problems"] == []
    assert record["scenarios"]["digest"]["usage"]["cost_usd"] == pytest.approx(math.fsum(costs))
    assert record["run"]["budget"]["refused_calls"] == 0
    result.stdout.fnmatch_lines([f"budget ${limit:g}: ${math.fsum(costs):.4f} spent"])
    assert ledgers(project) == []


def test_cached_replies_cost_nothing_so_a_rerun_finishes_within_the_same_budget(
    project: Project, server: JudgeServer
) -> None:
    costs = call_costs(project)
    limit = budget_for(project, calls=3)
    first = project.run(f"--llmbench-budget={limit}", "-p", "no:xdist")
    assert first.ret == 1
    server.requests.clear()
    second = project.run(f"--llmbench-budget={limit}", "-p", "no:xdist", "--llmbench-json=r.json")
    # Three replies come from the cache, free; the other three fit the budget again.
    assert second.ret == 0
    second.assert_outcomes(passed=SAMPLES)
    assert [server.count_for(marker(n)) for n in range(1, SAMPLES + 1)] == [0, 0, 0, 1, 1, 1]
    second.stdout.fnmatch_lines(
        [f"  judge calls 3 · cached 3 · retries 0 · tokens * · cost ${math.fsum(costs[3:]):.4f}"]
    )


def test_xdist_workers_share_one_budget(project: Project, server: JudgeServer) -> None:
    limit = budget_for(project, calls=3)
    result = project.run(f"--llmbench-budget={limit}", "-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    (record,) = project.records()
    samples = record["scenarios"]["digest"]["samples"]
    judged = [s for s in samples if s["status"] == "scored"]
    stopped = [s for s in samples if s["status"] == "unscored"]
    assert len(judged) + len(stopped) == SAMPLES
    assert {s["reason_code"] for s in stopped} == {"budget_exhausted"}
    # Every call holds its worst case in the shared ledger before it is sent, and one that
    # does not fit waits while the other worker's may still settle: as many calls as one
    # process makes (the samples cost the same), and never more than the budget.
    assert len(judged) == 3
    assert record["scenarios"]["digest"]["usage"]["cost_usd"] <= limit
    assert len(server.requests) == len(judged)
    assert record["problems"] == [f"budget exhausted: {len(stopped)} samples of digest not judged"]
    result.assert_outcomes(passed=len(judged), failed=len(stopped))
    assert ledgers(project) == []


def test_a_budget_with_an_unpriced_judge_is_a_usage_error_naming_the_judge(
    project: Project, server: JudgeServer
) -> None:
    project.config(config_yaml(judge_block=UNPRICED_JUDGE))
    result = project.run("--llmbench-budget=1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: a budget of $1 needs the judge's price to count spend: add price: "
            "{input_per_mtok: ..., output_per_mtok: ...} to judge 'default' in llmbench.yaml"
        ]
    )
    assert server.requests == []

    project.config("budget_usd: 2.5\n" + config_yaml(judge_block=UNPRICED_JUDGE))
    from_config = project.run()
    assert from_config.ret == pytest.ExitCode.USAGE_ERROR
    from_config.stderr.fnmatch_lines(["ERROR: a budget of $2.5 needs the judge's price*'default'*"])


def test_samples_the_budget_stopped_are_not_counted_as_judge_calls(
    project: Project, server: JudgeServer
) -> None:
    limit = budget_for(project, calls=3)
    result = project.run(f"--llmbench-budget={limit}", "-p", "no:xdist")
    assert len(server.requests) == 3
    (record,) = project.records()
    assert record["scenarios"]["digest"]["usage"]["judge_calls"] == 3
    result.stdout.fnmatch_lines(["  judge calls 3 · cached 0 · *"])


@pytest.mark.parametrize("amount", ["0", "-1"])
def test_a_budget_that_is_not_positive_is_a_usage_error(
    project: Project, server: JudgeServer, amount: str
) -> None:
    result = project.run(f"--llmbench-budget={amount}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --llmbench-budget={amount}: give a positive amount in USD"]
    )


@pytest.mark.parametrize(
    "args", [["--collect-only"], ["-k", "no_such_test"]], ids=["collect-only", "none-selected"]
)
def test_the_budget_ledger_is_removed_even_when_nothing_ran(
    project: Project, server: JudgeServer, args: list[str]
) -> None:
    result = project.run("--llmbench-budget=1", *args)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    assert ledgers(project) == []


# -- judging ahead: many calls in flight ----------------------------------------------------

AHEAD_SAMPLES = 12
AHEAD_JUDGE = PRICED_JUDGE.replace("    concurrency: 1\n", "    concurrency: 4\n")
OUTPUT_TEST = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, output, judge):
    judge(output)
"""


def test_calls_judged_ahead_together_never_spend_past_the_budget(
    project: Project, monkeypatch: pytest.MonkeyPatch, xdist_args: list[str]
) -> None:
    with JudgeServer(latency_s=0.05) as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        project.dataset(make_samples([(0.9, 0.9)] * AHEAD_SAMPLES))
        project.config(config_yaml(judge_block=AHEAD_JUDGE, extra_scenario="    output: output\n"))
        project.write("benchmarks/test_digest.py", OUTPUT_TEST)
        limit = budget_for(project, calls=4)  # a few calls' real cost
        result = project.run(f"--llmbench-budget={limit}", *xdist_args)
        requests = [srv.count_for(marker(n)) for n in range(1, AHEAD_SAMPLES + 1)]
    (record,) = project.records()
    scenario = record["scenarios"]["digest"]
    samples = scenario["samples"]
    judged = [s for s in samples if s["status"] == "scored"]
    stopped = [s for s in samples if s["status"] == "unscored"]
    assert len(samples) == AHEAD_SAMPLES
    assert judged and stopped
    assert {s["reason_code"] for s in stopped} == {"budget_exhausted"}
    assert sum(requests) == len(judged) and set(requests) == {0, 1}  # none judged twice
    spent = math.fsum(call_costs(project)[int(s["id"][2:]) - 1] for s in judged)
    assert scenario["usage"]["cost_usd"] == pytest.approx(spent)
    assert spent <= limit
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=len(judged), failed=len(stopped))
    result.stdout.fnmatch_lines(
        [
            f"  budget exhausted: {len(stopped)} samples of digest not judged",
            f"budget ${limit:g}: ${spent:.4f} spent; it stopped {len(stopped)} judge calls "
            "whose worst case did not fit",
            "llmbench verdict: FAIL",
        ]
    )
    assert record["run"]["budget"]["refused_calls"] == len(stopped)
