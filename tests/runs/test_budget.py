"""A run budget: with `price:` on the judge, --llmbench-budget (or budget_usd) stops new judge
calls once spent; the samples left are unscored, the session fails, what was judged is kept."""

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
from pytest_llmbench.benchmark.judge_config import Price
from pytest_llmbench.benchmark.prompts import load_prompt, render_messages
from pytest_llmbench.judging.budget import Budget

SAMPLES = 6
COMPLETION_TOKENS = 20  # what JudgeServer reports for every reply
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
    f"    price: {{input_per_mtok: {PRICE.input_per_mtok}, "
    f"output_per_mtok: {PRICE.output_per_mtok}}}\n"
)
UNPRICED_JUDGE = PRICED_JUDGE.split("    price:")[0]


def prompt_tokens(project: Project) -> list[int]:
    """The prompt tokens the server counts for each sample: len(prompt) // 4 over the system
    and user messages (it counts 20 completion tokens a reply)."""
    prompt = load_prompt(project.root / "prompts", "digest_judge@v1")
    dataset = load_dataset(project.root / "data" / "digest.jsonl", "data/digest.jsonl")
    counts = []
    for sample in dataset.samples:
        messages = render_messages(prompt, sample, str(sample.output))
        counts.append(len("".join(m["content"] for m in messages)) // 4)
    return counts


def call_costs(project: Project) -> list[float]:
    """What judging each sample costs at PRICE."""
    return [PRICE.cost(tokens, COMPLETION_TOKENS) for tokens in prompt_tokens(project)]


def budget_for(costs: list[float], calls: int) -> float:
    """A budget under which exactly `calls` calls start: spent before call `calls` is below
    it, spent after it is not (halfway between the two totals)."""
    before, after = math.fsum(costs[: calls - 1]), math.fsum(costs[:calls])
    return round((before + after) / 2, 6)


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
    tokens_in = sum(prompt_tokens(project)[:judged])
    reason = f"budget exhausted: ${spent:.4f} of ${limit:g} spent before this sample was judged"
    result.stdout.fnmatch_lines(
        [
            f"*_ test_digest[[]s-{n:02d}[]] _*"
            if i % 2 == 0
            else f"sample 's-{n:02d}' unscored: {reason}"
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
    for sample in samples[judged:]:
        assert sample["status"] == "unscored"
        assert sample["reason"] == reason
        assert sample["judge"]["attempts"] == 0
    assert scenario["metrics"]["coverage"]["n"] == judged
    assert ledgers(project) == []
    return dict(record)


def test_a_spent_budget_stops_judging_fails_the_session_and_keeps_what_was_judged(
    project: Project, server: JudgeServer
) -> None:
    limit = budget_for(call_costs(project), calls=3)
    result = project.run(f"--llmbench-budget={limit}", "-p", "no:xdist")
    result.stdout.fnmatch_lines([f"  cache .llmbench/cache (0 replies stored), budget ${limit:g}"])
    assert_stopped_after(project, server, result, judged=3, limit=limit)
    assert len(server.requests) == 3


def test_budget_usd_in_the_config_works_like_the_option(
    project: Project, server: JudgeServer
) -> None:
    limit = budget_for(call_costs(project), calls=2)
    project.config(f"budget_usd: {limit}\n" + config_yaml(judge_block=PRICED_JUDGE))
    result = project.run("-p", "no:xdist")
    assert_stopped_after(project, server, result, judged=2, limit=limit)


def test_the_option_overrides_budget_usd_in_the_config(
    project: Project, server: JudgeServer
) -> None:
    limit = budget_for(call_costs(project), calls=4)
    project.config("budget_usd: 1000\n" + config_yaml(judge_block=PRICED_JUDGE))
    result = project.run(f"--llmbench-budget={limit}", "-p", "no:xdist")
    assert_stopped_after(project, server, result, judged=4, limit=limit)


def test_a_budget_that_covers_the_run_changes_nothing(
    project: Project, server: JudgeServer
) -> None:
    costs = call_costs(project)
    result = project.run(f"--llmbench-budget={math.fsum(costs) * 2:.6f}", "-p", "no:xdist")
    assert result.ret == 0
    result.assert_outcomes(passed=SAMPLES)
    (record,) = project.records()
    assert record["problems"] == []
    assert record["scenarios"]["digest"]["usage"]["cost_usd"] == pytest.approx(math.fsum(costs))
    assert ledgers(project) == []


def test_cached_replies_cost_nothing_so_a_rerun_finishes_within_the_same_budget(
    project: Project, server: JudgeServer
) -> None:
    costs = call_costs(project)
    limit = budget_for(costs, calls=3)
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
    costs = call_costs(project)
    limit = budget_for(costs, calls=3)
    result = project.run(f"--llmbench-budget={limit}", "-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    (record,) = project.records()
    samples = record["scenarios"]["digest"]["samples"]
    judged = [s for s in samples if s["status"] == "scored"]
    stopped = [s for s in samples if s["status"] == "unscored"]
    assert len(judged) + len(stopped) == SAMPLES
    assert {s["reason"].split(":")[0] for s in stopped} == {"budget exhausted"}
    # Each worker checks the shared ledger before a call: together they may start one call
    # each past the limit, never more.
    assert 3 <= len(judged) <= 4
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
    limit = budget_for(call_costs(project), calls=3)
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


# -- the ledger itself ----------------------------------------------------------------------


def test_budget_ledger_sums_what_every_process_adds(tmp_path: Path) -> None:
    ledger = tmp_path / "runs" / "r.spend.sqlite3"
    first, second = Budget(0.5, ledger), Budget(0.5, ledger)
    try:
        assert first.spent() == 0.0
        assert not first.exhausted()
        first.add(0.2)
        second.add(0.2)
        second.add(0.0)  # nothing to record
        assert first.spent() == pytest.approx(0.4)
        assert not second.exhausted()
        first.add(0.1)
        assert second.spent() == pytest.approx(0.5)
        assert first.exhausted() and second.exhausted()  # reaching the limit is spending it
    finally:
        first.close()
        second.close()


def test_a_call_costs_its_input_and_output_tokens_at_the_price_per_million() -> None:
    assert Price(2.5, 10.0).cost(1_000_000, 0) == 2.5
    assert Price(2.5, 10.0).cost(0, 1_000_000) == 10.0
    assert Price(2.5, 10.0).cost(400, 20) == pytest.approx(0.0012)
    assert Price(0.0, 0.0).cost(400, 20) == 0.0
