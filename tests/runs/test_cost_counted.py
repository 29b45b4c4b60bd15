"""Cost is what the judge answered: every HTTP request the judge served is counted once in
the record, whoever caused it (a rerun, a repeat), with no xdist and with `-n 2`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.judge_server import JudgeServer
from support.project import Project, config_yaml, live_judge_yaml

FAIL_FIRST_TRY = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge, request):
    judge(sample.output)
    # Fails after judging on the first try of each item; pytest-rerunfailures runs it again.
    if getattr(request.node, "execution_count", 1) == 1:
        raise AssertionError("flaky")
"""


@pytest.fixture
def live(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[JudgeServer]:
    with JudgeServer(latency_s=0.01, metrics=("coverage", "accuracy")) as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        priced = live_judge_yaml() + "    price: {input_per_mtok: 1.0, output_per_mtok: 2.0}\n"
        project.config(config_yaml(judge_block=priced))
        yield srv


def usage(project: Project) -> dict[str, object]:
    (record,) = project.records()
    block: dict[str, object] = record["scenarios"]["digest"]["usage"]
    return block


def test_a_rerun_samples_first_try_is_counted(
    project: Project, live: JudgeServer, xdist_args: list[str]
) -> None:
    project.write("benchmarks/test_digest.py", FAIL_FIRST_TRY)
    project.run("--llmbench-judge=live", "--llmbench-no-cache", "--reruns", "1", *xdist_args)
    assert len(live.requests) == 8  # four samples, each judged on both tries
    spent = usage(project)
    assert (spent["judge_calls"], spent["http_requests"]) == (8, 8)
    # What the server answered: its usage is len(prompt) // 4 in and 20 out per reply.
    prompt = sum(
        len("".join(str(m["content"]) for m in r["messages"])) // 4 for r in live.requests
    )
    completion = 20 * len(live.requests)
    assert (spent["prompt_tokens"], spent["completion_tokens"]) == (prompt, completion)
    assert spent["cost_usd"] == round(prompt * 1.0 / 1e6 + completion * 2.0 / 1e6, 6)


def test_repeated_items_are_each_counted(
    project: Project, live: JudgeServer, xdist_args: list[str]
) -> None:
    project.run("--llmbench-judge=live", "--llmbench-no-cache", "--count", "3", *xdist_args)
    assert len(live.requests) == 12
    assert usage(project)["http_requests"] == 12


def test_cached_replies_cost_nothing_and_make_no_request(
    project: Project, live: JudgeServer
) -> None:
    project.run("--llmbench-judge=live")
    for path in (project.root / ".llmbench" / "runs").glob("*.json"):
        path.unlink()
    project.run("--llmbench-judge=live")
    assert len(live.requests) == 4  # the first run's only
    spent = usage(project)
    assert (spent["judge_calls"], spent["http_requests"], spent["cached"]) == (0, 0, 4)
