"""Whole benchmark runs against a live OpenAI-compatible judge: the scripted JudgeServer
on 127.0.0.1, started in this process (xdist workers reach it over loopback)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

# pytester restores sys.modules after each in-process run, and hypothesis's pytest plugin
# imports hypothesis in its terminal summary: unless it is imported once out here, every
# run re-imports (and assert-rewrites) all of hypothesis, about 1.5 s a run.
import hypothesis.internal.observability  # noqa: F401
import pytest
from support.judge_server import JudgeServer, user_text
from support.loopback import closed_port
from support.project import (
    SAMPLE_NUMBER,
    Project,
    config_yaml,
    live_judge_yaml,
    make_samples,
    marker,
)
from support.secret_scan import files_containing

SECRET = "sk-llmbench-test-5ecret-7f3a9c1e"

# Short retry settings: every backoff really sleeps, but for tens of milliseconds.
LIVE_JUDGE = live_judge_yaml(timeout_s=2, retries="{attempts: 4, max_wait_s: 5, base_s: 0.05}")
KEYED_JUDGE = LIVE_JUDGE + "    api_key_env: TEST_LLM_KEY\n"


def expected_scores(number: int) -> dict[str, float]:
    """What the server scores sample `s-<number>`: distinct per sample, all in the pass band."""
    return {"accuracy": round(0.95 - 0.01 * number, 2), "coverage": round(0.80 + 0.02 * number, 2)}


def scorer(body: dict[str, Any]) -> dict[str, float]:
    match = SAMPLE_NUMBER.search(user_text(body))
    assert match is not None, "every judge prompt carries the sample's input"
    return expected_scores(int(match.group(1)))


@pytest.fixture
def server(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[JudgeServer]:
    """A live judge with a little latency, its URL in $TEST_LLM_URL, the key in $TEST_LLM_KEY."""
    with JudgeServer(latency_s=0.05, scorer=scorer) as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        monkeypatch.setenv("TEST_LLM_KEY", SECRET)
        project.config(config_yaml(judge_block=LIVE_JUDGE))
        yield srv


def samples_by_id(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in record["scenarios"]["digest"]["samples"]}


def prompt_tokens(srv: JudgeServer, only: str = "") -> int:
    """The prompt tokens the server reports (len // 4), summed over the requests it received
    (those whose user message contains `only`)."""
    return sum(
        len("".join(m["content"] for m in body["messages"])) // 4
        for body in srv.requests
        if only in user_text(body)
    )


# -- a clean live run ---------------------------------------------------------------------


def test_clean_live_run_scores_every_sample_with_the_servers_scores(
    project: Project, server: JudgeServer, xdist_args: list[str]
) -> None:
    result = project.run(*xdist_args)
    assert result.ret == 0
    result.assert_outcomes(passed=4)
    tokens_in = prompt_tokens(server)
    result.stdout.fnmatch_lines(
        [
            "llmbench: benchmarks/llmbench.yaml",
            "  digest: judge default: live (auto: $TEST_LLM_URL is set), model test-model, concurrency 3 for the run, prompt digest_judge@v1",
            "*= llmbench =*",
            "digest: PASS  (4 samples: 4 scored, 0 unscored, 0 errors · judge live · prompt digest_judge@v1)",
            "  metric             value  95% CI             n  bands                   status",
            "  coverage           0.850  *  4  pass ≥ 0.8, warn ≥ 0.7  pass",
            "  accuracy           0.925  *  4  pass ≥ 0.8, warn ≥ 0.7  pass",
            "  latency_seconds  102.500  *  4  pass ≤ 200, warn ≤ 300  pass",
            f"  judge calls 4 · cached 0 · retries 0 · tokens {tokens_in} in / 80 out",
            "llmbench verdict: PASS",
        ]
    )
    assert len(server.requests) == 4
    assert {b["model"] for b in server.requests} == {"test-model"}
    workers = 2 if xdist_args == ["-n", "2"] else 1
    assert server.peak_in_flight <= 3 * workers  # concurrency is per process

    (record,) = project.records()
    assert record["status"] == "pass"
    scenario = record["scenarios"]["digest"]
    judge = scenario["fingerprints"]["judge"]
    assert judge["mode"] == "live"
    assert judge["mode_reason"] == "auto: $TEST_LLM_URL is set"
    assert judge["model"] == "test-model"
    assert judge["base_url"] == server.url
    samples = samples_by_id(record)
    assert list(samples) == ["s-01", "s-02", "s-03", "s-04"]
    for number, (sample_id, sample) in enumerate(samples.items(), 1):
        assert sample["status"] == "scored", sample_id
        assert sample["reason"] is None
        assert sample["scores"] == {**expected_scores(number), "latency_seconds": 100.0 + number}
        assert sample["judge"]["attempts"] == 1
        assert sample["judge"]["completion_tokens"] == 20
    assert scenario["usage"]["judge_calls"] == 4
    assert scenario["usage"]["http_requests"] == 4
    assert scenario["usage"]["prompt_tokens"] == tokens_in
    assert scenario["metrics"]["coverage"]["value"] == pytest.approx(0.85)
    assert scenario["metrics"]["accuracy"]["value"] == pytest.approx(0.925)


def test_dry_run_option_makes_no_request_to_a_live_judge(
    project: Project, server: JudgeServer
) -> None:
    result = project.run("--llmbench-judge=dry-run")
    assert result.ret == 0
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "  digest: judge default: dry-run (--llmbench-judge=dry-run), prompt digest_judge@v1",
            "digest: PASS  (4 samples: 4 scored, 0 unscored, 0 errors · judge dry-run · prompt digest_judge@v1)",
        ]
    )
    assert server.requests == []
    (record,) = project.records()
    judge = record["scenarios"]["digest"]["fingerprints"]["judge"]
    assert (judge["mode"], judge["model"], judge["base_url"]) == ("dry-run", "", "")
    # The stored ground truth, not the server's scores.
    assert samples_by_id(record)["s-02"]["scores"] == {
        "accuracy": 0.95,
        "coverage": 0.85,
        "latency_seconds": 102.0,
    }


@pytest.mark.parametrize("suffix", ["", "/v1"], ids=["root", "v1"])
def test_base_url_with_or_without_v1_reaches_chat_completions(
    project: Project, server: JudgeServer, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    monkeypatch.setenv("TEST_LLM_URL", server.url + suffix)
    result = project.run()
    assert result.ret == 0
    result.assert_outcomes(passed=4)
    assert len(server.requests) == 4  # a wrong path would be a 404: unscored, failed items
    (record,) = project.records()
    assert {s["status"] for s in record["scenarios"]["digest"]["samples"]} == {"scored"}


# -- a misbehaving judge ------------------------------------------------------------------

# A project conftest that logs each sample's judge latency as the controller receives it.
LATENCY_PROBE = """\
import json


def pytest_llmbench_sample_result(payload, config):
    with open("latency.jsonl", "a", encoding="utf-8") as out:
        line = [payload["sample_id"], payload["judge"]["latency_s"]]
        out.write(json.dumps(line) + "\\n")
"""


def test_misbehaving_judge_every_sample_ends_scored_or_explicitly_unscored(
    project: Project, server: JudgeServer, xdist_args: list[str]
) -> None:
    project.dataset(make_samples([(0.9, 0.9)] * 7))
    project.write("conftest.py", LATENCY_PROBE)
    server.script_for(marker(1), [("status", 503), ("status", 503)])
    server.script_for(marker(2), [("status", 429, 0.3)])  # Retry-After: 0.3
    server.script_for(marker(3), [("garbage", "Looks fine to me."), ("garbage", "Still fine.")])
    server.script_for(marker(4), [("fenced",)])
    server.script_for(marker(5), [("close",)])
    server.script_for(marker(6), [("bad_json_body",)])
    # s-07: no script, a plain reply after the server's latency

    result = project.run(*xdist_args)
    assert result.ret == 1
    result.assert_outcomes(passed=6, failed=1)
    # Tokens come with every completed reply, used or not: both garbage replies, the fenced
    # one and the six clean ones; the 503, 429, dropped connection and HTML body carry none.
    replies = {1: 1, 2: 1, 3: 2, 4: 1, 5: 1, 6: 1, 7: 1}
    tokens_in = sum(
        prompt_tokens(server, marker(n)) // server.count_for(marker(n)) * count
        for n, count in replies.items()
    )
    result.stdout.fnmatch_lines(
        [
            "*sample 's-03' unscored: unusable judge reply: no JSON object in the reply: 'Still fine.'*",
            "digest: FAIL  (7 samples: 6 scored, 1 unscored, 0 errors · judge live · prompt digest_judge@v1)",
            f"  judge calls 7 · cached 0 · retries 6 · tokens {tokens_in} in / 160 out",
            "  1 of 7 samples of digest have no score, over the fail limit of 5% of the samples: *",
            "llmbench verdict: FAIL",
        ]
    )
    # 7 first attempts, two retries for s-01 and one each for s-02, s-03, s-05, s-06.
    assert [server.count_for(marker(n)) for n in range(1, 8)] == [3, 2, 2, 1, 2, 2, 1]
    assert len(server.requests) == 13

    (record,) = project.records()
    scenario = record["scenarios"]["digest"]
    samples = samples_by_id(record)
    assert list(samples) == [f"s-{n:02d}" for n in range(1, 8)]  # nothing lost
    assert scenario["counts"] == {"scored": 6, "unscored": 1, "error": 0}
    unscored = samples["s-03"]
    assert unscored["status"] == "unscored"
    assert unscored["reason"] == "unusable judge reply: no JSON object in the reply: 'Still fine.'"
    assert unscored["outcome"] == "failed"
    assert unscored["scores"] == {"latency_seconds": 103.0}  # never scored 0
    assert unscored["judge"]["attempts"] == 2
    for number in (1, 2, 4, 5, 6, 7):
        sample = samples[f"s-{number:02d}"]
        assert sample["status"] == "scored", sample
        assert sample["scores"] == {**expected_scores(number), "latency_seconds": 100.0 + number}
    assert {n: samples[f"s-{n:02d}"]["judge"]["retries"] for n in range(1, 8)} == {
        1: 2,
        2: 1,
        3: 1,
        4: 0,
        5: 1,
        6: 1,
        7: 0,
    }
    usage = scenario["usage"]
    assert (usage["judge_calls"], usage["http_requests"], usage["retries"]) == (7, 13, 6)
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (tokens_in, 160)
    assert scenario["metrics"]["coverage"]["n"] == 6
    # The 429's Retry-After was waited (the backoff alone waits at most base_s = 0.05 s):
    # the call took two 0.05 s replies around the 0.3 s wait.
    latencies = dict(
        json.loads(line) for line in (project.root / "latency.jsonl").read_text().splitlines()
    )
    assert sorted(latencies) == list(samples)
    assert latencies["s-02"] >= 0.4


# -- a dead judge -------------------------------------------------------------------------


def test_dead_judge_fails_every_item_with_the_reason_and_ends_in_a_readable_verdict(
    project: Project, monkeypatch: pytest.MonkeyPatch, xdist_args: list[str]
) -> None:
    monkeypatch.setenv("TEST_LLM_URL", f"http://127.0.0.1:{closed_port()}")
    project.config(config_yaml(judge_block=LIVE_JUDGE))
    project.dataset(make_samples([(0.9, 0.9)] * 3))
    result = project.run(*xdist_args)
    assert result.ret == 1
    result.assert_outcomes(failed=3)
    output = result.stdout.str()
    assert "INTERNALERROR" not in output + result.stderr.str()
    assert "Traceback" not in output
    reason = "judge unavailable after 4 attempts: connection refused"
    for sample_id in ("s-01", "s-02", "s-03"):
        assert f"sample '{sample_id}' unscored: {reason}" in output
    result.stdout.fnmatch_lines(
        [
            "digest: FAIL  (3 samples: 0 scored, 3 unscored, 0 errors · judge live · prompt digest_judge@v1)",
            "  coverage               —  —                 0  pass ≥ 0.8, warn ≥ 0.7  no data",
            "  accuracy               —  —                 0  pass ≥ 0.8, warn ≥ 0.7  no data",
            "  judge calls 3 · cached 0 · retries 9 · tokens 0 in / 0 out",
            "  coverage of digest has no scored samples",
            "  accuracy of digest has no scored samples",
            "llmbench verdict: FAIL",
        ]
    )
    (record,) = project.records()
    assert record["status"] == "fail"
    samples = samples_by_id(record)
    assert list(samples) == ["s-01", "s-02", "s-03"]
    for sample in samples.values():
        assert sample["status"] == "unscored"
        assert sample["reason"] == reason
        assert sample["outcome"] == "failed"
        assert sample["judge"]["attempts"] == 4


# -- the API key --------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["ok", "401"])
def test_api_key_is_sent_as_bearer_and_written_nowhere(
    project: Project, server: JudgeServer, answer: str
) -> None:
    project.config(config_yaml(judge_block=KEYED_JUDGE))
    if answer == "401":
        server.set_script([("status", 401)] * 4)
    result = project.run(
        "--llmbench-report=report.md",
        "--llmbench-json=out/record.json",
        "--junitxml=junit.xml",
        "-rA",
    )
    assert len(server.headers) == 4
    assert {h.get("authorization") for h in server.headers} == {f"Bearer {SECRET}"}
    if answer == "401":
        assert result.ret == 1
        result.assert_outcomes(failed=4)
        reason = (
            "judge rejected the request: HTTP 401 Unauthorized (check the API key in $TEST_LLM_KEY)"
        )
        result.stdout.fnmatch_lines([f"*sample 's-01' unscored: {reason}*"])
        (record,) = project.records()
        assert samples_by_id(record)["s-01"]["reason"] == reason
    else:
        assert result.ret == 0
        result.assert_outcomes(passed=4)
    assert (project.root / "report.md").is_file()
    assert (project.root / "out" / "record.json").is_file()
    assert (project.root / "junit.xml").is_file()
    assert list((project.root / ".llmbench").rglob("*.json"))
    assert files_containing(project.root, SECRET) == []
    assert SECRET not in result.stdout.str()
    assert SECRET not in result.stderr.str()


@pytest.mark.parametrize("state", ["unset", "empty"])
def test_an_unset_or_empty_api_key_env_sends_no_key_and_says_so_in_the_header(
    project: Project,
    server: JudgeServer,
    monkeypatch: pytest.MonkeyPatch,
    xdist_args: list[str],
    state: str,
) -> None:
    # A self-hosted judge needs no key, and CI exports the (possibly empty) secret anyway.
    if state == "unset":
        monkeypatch.delenv("TEST_LLM_KEY")
    else:
        monkeypatch.setenv("TEST_LLM_KEY", "")
    project.config(config_yaml(judge_block=KEYED_JUDGE))
    result = project.run(*xdist_args)
    assert result.ret == 0
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "  digest: judge default: live (auto: $TEST_LLM_URL is set), "
            f"no API key: TEST_LLM_KEY is {state}, model test-model, concurrency 3 for the run, "
            "prompt digest_judge@v1",
        ]
    )
    assert len(server.headers) == 4
    assert all("authorization" not in headers for headers in server.headers)


def test_a_401_after_an_unset_api_key_env_names_the_variable_to_set(
    project: Project, server: JudgeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_LLM_KEY")
    project.config(config_yaml(judge_block=KEYED_JUDGE))
    server.set_script([("status", 401)] * 4)
    result = project.run("-p", "no:xdist")
    assert result.ret == 1
    reason = (
        "judge rejected the request: HTTP 401 Unauthorized "
        "(no API key was sent: set $TEST_LLM_KEY (it is unset or empty))"
    )
    (record,) = project.records()
    assert {s["reason"] for s in samples_by_id(record).values()} == {reason}


def test_a_key_together_with_userinfo_in_base_url_is_refused_naming_the_judge(
    project: Project, server: JudgeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_LLM_URL", server.url.replace("://", "://user:hunter2@"))
    project.config(config_yaml(judge_block=KEYED_JUDGE))
    result = project.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    message = (
        "judges.default: base_url has user:password@ and api_key_env ($TEST_LLM_KEY) gives a "
        "key too; both would be the Authorization header: keep one (remove api_key_env for "
        "basic auth, or the userinfo for the key)"
    )
    result.stdout.fnmatch_lines(
        [
            f"  digest: judge default: cannot run: {message}",
            "*_ ERROR collecting benchmarks/test_digest.py _*",
            message,
            "*Interrupted: 1 error during collection*",
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert "hunter2" not in output and SECRET not in output
    assert server.requests == []


def test_unset_api_key_env_is_no_error_under_dry_run(
    project: Project, server: JudgeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_LLM_KEY")
    project.config(config_yaml(judge_block=KEYED_JUDGE))
    result = project.run("--llmbench-judge=dry-run")
    assert result.ret == 0
    result.assert_outcomes(passed=4)
    assert server.requests == []
