"""OpenAIJudge over real HTTP against the scripted JudgeServer on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import httpx
from support.judge_server import JudgeServer
from support.judges import judge_config

from pytest_llmbench.benchmark.judge_config import JudgeConfig
from pytest_llmbench.judging.chat_completions import OpenAIJudge
from pytest_llmbench.judging.judge_protocol import JudgeRequest
from pytest_llmbench.judging.result import JudgeResult

METRICS = ("coverage", "faithfulness")


def messages(marker: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": 'Reply with {"coverage": x, "faithfulness": y}.'},
        {"role": "user", "content": f"Sample {marker}: the summary to judge."},
    ]


def score_all(
    cfg: JudgeConfig, markers: Sequence[str], api_key: str | None = None
) -> tuple[list[JudgeResult], OpenAIJudge]:
    async def go() -> tuple[list[JudgeResult], OpenAIJudge]:
        async with OpenAIJudge(cfg, api_key=api_key) as judge:
            results = await asyncio.gather(
                *(judge.score(JudgeRequest(messages(m), METRICS)) for m in markers)
            )
            return list(results), judge

    return asyncio.run(go())


def test_concurrent_calls_overlap_up_to_the_concurrency_limit() -> None:
    markers = [f"s-{i:02d}" for i in range(20)]
    with JudgeServer(latency_s=0.2) as srv:
        results, _ = score_all(judge_config(srv.url, concurrency=8), markers, api_key="k-123")
        assert all(r.status == "scored" for r in results)
        assert all(r.scores == {"coverage": 0.9, "faithfulness": 0.9} for r in results)
        assert 1 < srv.peak_in_flight <= 8  # overlapping, as the server saw them
        # Keep-alive: connections are reused, at most one per slot.
        assert srv.connections <= 8
        assert all(h["authorization"] == "Bearer k-123" for h in srv.headers)


def test_every_call_ends_scored_or_explicitly_unscored_under_a_flaky_server() -> None:
    markers = [f"s-{i:02d}" for i in range(12)]
    with JudgeServer(latency_s=0.05) as srv:
        srv.script_for("s-00", [("status", 503), ("status", 503)])
        srv.script_for("s-01", [("status", 429, 0.2)])
        srv.script_for("s-02", [("garbage", "I would rate it quite high overall.")])
        srv.script_for("s-03", [("garbage", "No."), ("garbage", "Still no.")])
        srv.script_for("s-04", [("fenced",)])
        srv.script_for("s-05", [("bad_json_body",)])
        srv.script_for("s-06", [("status", 503)] * 10)
        srv.script_for("s-07", [("status", 401)])
        results, judge = score_all(
            judge_config(srv.url, attempts=3, api_key_env="TEST_KEY"), markers
        )
        by_marker = dict(zip(markers, results, strict=True))

        for marker in ["s-00", "s-01", "s-02", "s-04", "s-05", *markers[8:]]:
            assert by_marker[marker].status == "scored", marker
        assert by_marker["s-00"].attempts == 3
        assert by_marker["s-01"].latency_s >= 0.2  # Retry-After was honoured
        assert by_marker["s-03"].reason == (
            "unusable judge reply: no JSON object in the reply: 'Still no.'"
        )
        assert by_marker["s-06"].reason == (
            "judge unavailable after 3 attempts: HTTP 503 Service Unavailable"
        )
        assert by_marker["s-07"].reason == (
            "judge rejected the request: HTTP 401 Unauthorized "
            "(no API key was sent: set $TEST_KEY (it is unset or empty))"
        )
        assert srv.count_for("s-06") == 3
        assert srv.count_for("s-07") == 1
        assert all(r.status in ("scored", "unscored") for r in results)
        assert all(r.scores == {} for r in results if r.status == "unscored")
        assert judge.stats.transient_errors == {"503": 5, "429": 1}


def test_a_dropped_connection_is_retried() -> None:
    with JudgeServer() as srv:
        srv.script_for("s-drop", [("close",)])
        results, judge = score_all(judge_config(srv.url), ["s-drop"])
        assert results[0].status == "scored"
        assert results[0].attempts == 2
        assert judge.stats.transient_errors == {"connection closed by the judge": 1}


def test_a_hung_request_times_out_and_is_retried() -> None:
    with JudgeServer() as srv:
        srv.script_for("s-hang", [("hang", 5.0)])
        results, judge = score_all(judge_config(srv.url, timeout_s=0.3), ["s-hang"])
        assert results[0].status == "scored"
        assert judge.stats.transient_errors == {"timeout": 1}


def test_a_refused_connection_is_named() -> None:
    with JudgeServer() as srv:
        url = srv.url  # the port is free again once the server has stopped
    results, _ = score_all(judge_config(url, attempts=2), ["s-1"])
    assert results[0].reason == "judge unavailable after 2 attempts: connection refused"


def test_auto_falls_back_when_the_server_rejects_json_schema_with_500() -> None:
    with JudgeServer(reject_json_schema=True) as srv:
        results, judge = score_all(judge_config(srv.url, concurrency=1), ["a", "b", "c"])
        assert all(r.status == "scored" for r in results)
        kinds = [r.get("response_format", {}).get("type") for r in srv.requests]
        assert kinds == ["json_schema", "json_object", "json_object", "json_object"]
        assert judge.stats.format_downgrades == 1


def test_replies_carry_usage_tokens() -> None:
    with JudgeServer() as srv:
        results, _ = score_all(judge_config(srv.url, structured_output="none"), ["tok"])
        prompt = "".join(m["content"] for m in messages("tok"))
        assert results[0].prompt_tokens == len(prompt) // 4
        assert results[0].completion_tokens == 20


def test_the_scorer_decides_the_scores() -> None:
    def scorer(body: dict[str, Any]) -> dict[str, float]:
        text = body["messages"][-1]["content"]
        return {"coverage": 0.5 if "low" in text else 1.0, "faithfulness": 0.75}

    with JudgeServer(scorer=scorer) as srv:
        results, _ = score_all(judge_config(srv.url), ["low", "high"])
        assert [r.scores for r in results] == [
            {"coverage": 0.5, "faithfulness": 0.75},
            {"coverage": 1.0, "faithfulness": 0.75},
        ]


def test_the_server_answers_plain_http_clients_too() -> None:
    with JudgeServer(metrics=["accuracy"]) as srv:
        srv.set_script([("status", 429, 1)])
        with httpx.Client(base_url=srv.url) as client:
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            limited = client.post("/v1/chat/completions", json=body)
            answered = client.post("/v1/chat/completions", json=body)
            missing = client.get("/nope")
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "1")
        content = answered.json()["choices"][0]["message"]["content"]
        assert json.loads(content) == {"accuracy": 0.9}
        assert missing.status_code == 404
        assert srv.url.startswith("http://127.0.0.1:")
