from __future__ import annotations

import asyncio
import functools
import json
import random
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from support.judges import judge_config

from pytest_llmbench.benchmark.judge_config import JudgeConfig, RetryPolicy
from pytest_llmbench.judging.chat_completions import OpenAIJudge, chat_completions_url
from pytest_llmbench.judging.judge_protocol import JudgeRequest
from pytest_llmbench.judging.result import JudgeResult

METRICS = ("coverage", "faithfulness")
MESSAGES = [{"role": "system", "content": "Judge."}, {"role": "user", "content": "Score tg-1."}]
KEY = "sk-secret-0123456789"
REQUEST = JudgeRequest(MESSAGES, METRICS)

# A scripted reply: an httpx.Response, an exception to raise, or "ok".
Step = httpx.Response | Exception | str


def completion(
    content: str, prompt_tokens: int = 100, completion_tokens: int = 10
) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "choices": [{"message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        },
    )


def ok() -> httpx.Response:
    return completion(json.dumps({"coverage": 0.8, "faithfulness": 0.6}))


class Fake:
    """A MockTransport that replays steps, with a clock that only sleeps move."""

    def __init__(self, steps: Sequence[Step] = ()) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []
        self.bodies: list[dict[str, Any]] = []
        self.sleeps: list[float] = []
        self.now = 1000.0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.bodies.append(json.loads(request.content))
        step = self.steps.pop(0) if self.steps else "ok"
        if isinstance(step, Exception):
            raise step
        if isinstance(step, str):
            return ok()
        return step

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def judge(self, config: JudgeConfig, api_key: str | None = KEY) -> OpenAIJudge:
        return OpenAIJudge(
            config,
            api_key=api_key,
            transport=httpx.MockTransport(self.handler),
            rng=random.Random(0),
            sleep=self.sleep,
            clock=self.clock,
        )


# The judge these tests call: its URL, name, model and key variable show in the reasons
# asserted on, and the retry waits are the real defaults (the clock is fake).
config = functools.partial(
    judge_config,
    "http://judge.test:8000",
    name="judge",
    model="judge-model",
    api_key_env="OPENAI_API_KEY",
    timeout_s=60.0,
    retries=RetryPolicy(),
)


def run(
    fake: Fake, cfg: JudgeConfig | None = None, **judge_kwargs: Any
) -> tuple[JudgeResult, OpenAIJudge]:
    async def go() -> tuple[JudgeResult, OpenAIJudge]:
        async with fake.judge(cfg or config(), **judge_kwargs) as judge:
            return await judge.score(REQUEST), judge

    return asyncio.run(go())


def status(code: int, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
    return httpx.Response(code, headers=headers, **kwargs)


def test_a_clean_reply_is_scored_with_its_tokens() -> None:
    fake = Fake([completion('{"coverage": 0.8, "faithfulness": 0.6}', 123, 7)])
    result, judge = run(fake)
    assert result.status == "scored"
    assert result.scores == {"coverage": 0.8, "faithfulness": 0.6}
    assert (result.attempts, result.retries) == (1, 0)
    assert (result.prompt_tokens, result.completion_tokens) == (123, 7)
    assert result.reason is None
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert judge.stats.requests == 1


def test_503_is_retried_then_scored_and_tokens_are_summed_over_bodies() -> None:
    fake = Fake([status(503), status(503), completion('{"coverage": 1, "faithfulness": 1}', 50, 5)])
    result, judge = run(fake)
    assert result.status == "scored"
    assert (result.attempts, result.retries) == (3, 2)
    assert (result.prompt_tokens, result.completion_tokens) == (50, 5)
    assert len(fake.sleeps) == 2
    assert judge.stats.transient_errors == {"503": 2}
    assert judge.stats.retries == 2


def test_latency_is_the_wall_time_of_the_whole_call() -> None:
    fake = Fake([status(503), "ok"])
    result, _ = run(fake, config(base_s=4.0))
    assert result.latency_s == pytest.approx(sum(fake.sleeps))
    assert result.latency_s > 0


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_is_honoured(code: int) -> None:
    fake = Fake([status(code, {"Retry-After": "7"}), "ok"])
    result, _ = run(fake)
    assert result.status == "scored"
    assert fake.sleeps[0] >= 7.0


def test_retry_after_shorter_than_the_backoff_does_not_shorten_it() -> None:
    fake = Fake([status(503)] * 3 + [status(429, {"Retry-After": "0"}), "ok"])
    result, _ = run(fake, config(base_s=1.0))
    plain = Fake([status(503)] * 4 + ["ok"])
    run(plain, config(base_s=1.0))
    assert result.status == "scored"
    assert fake.sleeps == plain.sleeps  # the same rng draws: max(0, jitter) == jitter


def test_attempts_bound_the_call() -> None:
    fake = Fake([status(503)] * 10)
    result, _ = run(fake, config(attempts=3))
    assert result.status == "unscored"
    assert result.reason == "judge unavailable after 3 attempts: HTTP 503 Service Unavailable"
    assert (result.attempts, result.retries) == (3, 2)
    assert len(fake.requests) == 3
    assert len(fake.sleeps) == 2


def test_a_retry_after_beyond_the_wait_budget_gives_up_without_waiting() -> None:
    fake = Fake([status(429, {"Retry-After": "120"})])
    result, _ = run(fake, config(max_wait_s=60))
    assert result.status == "unscored"
    assert result.reason == (
        "judge unavailable after 1 attempt: HTTP 429 Too Many Requests "
        "(the next wait, 120.0 s, would pass the 60 s retry budget)"
    )
    assert fake.sleeps == []


def test_total_waiting_stays_within_max_wait() -> None:
    fake = Fake([status(503)] * 50)
    result, _ = run(fake, config(attempts=50, max_wait_s=10, base_s=2.0))
    assert result.status == "unscored"
    assert result.reason is not None
    assert result.reason.startswith("judge unavailable after ")
    assert "retry budget" in result.reason
    assert sum(fake.sleeps) <= 10
    assert result.attempts < 50


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection refused"),
        (httpx.ReadError("[Errno 104] Connection reset by peer"), "connection reset"),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            "connection closed by the judge",
        ),
        (httpx.ReadTimeout("timed out"), "timed out after 60 s"),
        (httpx.ConnectTimeout("timed out"), "timed out after 60 s"),
    ],
)
def test_network_failures_are_retried_and_named(error: Exception, problem: str) -> None:
    recovered, _ = run(Fake([error, "ok"]))
    assert recovered.status == "scored"
    assert recovered.attempts == 2

    failed, judge = run(Fake([error] * 2), config(attempts=2))
    assert failed.reason == f"judge unavailable after 2 attempts: {problem}"
    assert sum(judge.stats.transient_errors.values()) == 2


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        (401, "HTTP 401 Unauthorized (check the API key in $OPENAI_API_KEY)"),
        (403, "HTTP 403 Forbidden (check the API key in $OPENAI_API_KEY)"),
        (
            404,
            "HTTP 404 Not Found (check base_url http://judge.test:8000 and model 'judge-model')",
        ),
    ],
)
def test_a_rejected_request_is_not_retried(code: int, hint: str) -> None:
    fake = Fake([status(code, json={"error": {"message": f"bad key {KEY}"}})])
    result, judge = run(fake)
    assert result.status == "unscored"
    assert result.reason == f"judge rejected the request: {hint}"
    assert result.attempts == 1
    assert fake.sleeps == []
    assert KEY not in repr(judge)


def test_a_401_without_a_configured_key_says_so() -> None:
    fake = Fake([status(401)])
    cfg = judge_config("http://judge.test", name="j")
    result, _ = run(fake, cfg, api_key=None)
    assert result.reason == (
        "judge rejected the request: HTTP 401 Unauthorized "
        "(no API key configured: set api_key_env in the judge config)"
    )
    assert "authorization" not in fake.requests[0].headers


@pytest.mark.parametrize("code", [401, 403])
def test_a_401_or_403_after_an_unset_key_names_the_variable_to_set(code: int) -> None:
    fake = Fake([status(code)])
    result, _ = run(fake, config(), api_key=None)
    assert result.reason == (
        f"judge rejected the request: {_phrase(code)} "
        "(no API key was sent: set $OPENAI_API_KEY (it is unset or empty))"
    )
    assert "authorization" not in fake.requests[0].headers


def test_a_401_with_userinfo_and_no_key_points_at_the_user_and_password() -> None:
    fake = Fake([status(401)])
    cfg = config(base_url="http://user:hunter2@judge.test:8000/v1")
    result, _ = run(fake, cfg, api_key=None)
    assert result.reason == (
        "judge rejected the request: HTTP 401 Unauthorized (check the user:password in base_url)"
    )
    assert fake.requests[0].headers["authorization"] == "Basic dXNlcjpodW50ZXIy"


def _phrase(code: int) -> str:
    return {401: "HTTP 401 Unauthorized", 403: "HTTP 403 Forbidden"}[code]


def test_the_key_never_appears_in_a_reason_even_if_the_server_echoes_it() -> None:
    fake = Fake([status(400, json={"error": {"message": f"key {KEY} may not do that"}})])
    result, _ = run(fake, config(structured_output="none"))
    assert (
        result.reason == "judge rejected the request: HTTP 400 Bad Request: key *** may not do that"
    )


def test_a_cut_key_and_echoed_basic_auth_stay_out_of_reasons() -> None:
    # A server's message is shortened to 160 characters, which could cut the key: it is
    # redacted first, so the cut falls in the mask; httpx sends base_url's user:password as
    # basic auth, which a server can echo.
    echo = f"{'x' * 120} Basic dXNlcjpodW50ZXIy {KEY}{'y' * 40}"  # 160 falls inside the key
    fake = Fake([status(400, json={"error": {"message": echo}})])
    cfg = config(base_url="http://user:hunter2@judge.test:8000/v1", structured_output="none")
    result, _ = run(fake, cfg)
    assert result.reason is not None
    assert result.reason.endswith(f"{'x' * 120} Basic *** ***{'y' * 23}...")  # 160 in all
    assert fake.requests[0].headers["authorization"] == "Basic dXNlcjpodW50ZXIy"  # user:hunter2


def test_credentials_in_base_url_stay_out_of_reasons_and_repr() -> None:
    fake = Fake([status(404)])
    result, judge = run(fake, config(base_url="http://user:hunter2@judge.test:8000/v1"))
    assert result.reason is not None
    assert "hunter2" not in result.reason
    assert "hunter2" not in repr(judge)
    assert "http://judge.test:8000/v1" in result.reason


def test_an_unusable_reply_is_retried_once_then_unscored_never_zero() -> None:
    fake = Fake([completion("Looks good to me.", 10, 3), completion('{"coverage": 8}', 10, 3)])
    result, judge = run(fake)
    assert result.status == "unscored"
    assert result.scores == {}
    assert result.reason == 'unusable judge reply: reply has no score for "faithfulness"'
    assert (result.attempts, result.retries) == (2, 1)
    assert (result.prompt_tokens, result.completion_tokens) == (20, 6)
    assert fake.sleeps == []
    assert judge.stats.unusable_replies == 2


def test_an_unusable_reply_then_a_good_one_is_scored() -> None:
    fake = Fake([completion('{"coverage": 8, "faithfulness": 1}'), "ok"])
    result, _ = run(fake)
    assert result.status == "scored"
    assert result.retries == 1


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(200, text="<html>oops</html>"), "response body is not JSON"),
        (httpx.Response(200, json={"error": "x"}), "response body has no choices"),
    ],
)
def test_a_malformed_body_is_an_unusable_reply(response: httpx.Response, reason: str) -> None:
    fake = Fake([response, response])
    result, _ = run(fake)
    assert result.reason == f"unusable judge reply: {reason}"
    assert result.attempts == 2


def test_request_body_per_structured_output() -> None:
    fake = Fake()
    judge = fake.judge(config(structured_output="json_schema", max_tokens=64, temperature=0.2))
    body = judge.request_body(MESSAGES, METRICS)
    assert body == {
        "model": "judge-model",
        "messages": MESSAGES,
        "temperature": 0.2,
        "max_tokens": 64,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "scores",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {
                        "coverage": {"type": "number", "minimum": 0, "maximum": 1},
                        "faithfulness": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                    "required": ["coverage", "faithfulness"],
                    "additionalProperties": False,
                },
            },
        },
    }
    assert fake.judge(config(structured_output="json_object")).request_body(MESSAGES, METRICS)[
        "response_format"
    ] == {"type": "json_object"}
    none = fake.judge(config(structured_output="none")).request_body(MESSAGES, METRICS)
    assert "response_format" not in none
    assert "max_tokens" not in none


def formats(fake: Fake) -> list[str]:
    return [b.get("response_format", {}).get("type", "none") for b in fake.bodies]


@pytest.mark.parametrize("code", [400, 422, 500])
def test_auto_steps_down_from_json_schema_to_json_object_to_none(code: int) -> None:
    fake = Fake([status(code), status(code), "ok", "ok"])

    async def go() -> tuple[JudgeResult, JudgeResult, OpenAIJudge]:
        async with fake.judge(config(attempts=1)) as judge:
            first = await judge.score(REQUEST)
            second = await judge.score(REQUEST)
            return first, second, judge

    first, second, judge = asyncio.run(go())
    assert first.status == second.status == "scored"
    # Downgrades do not eat the retry budget: attempts=1 still reaches the plain request.
    assert (first.attempts, first.retries) == (3, 2)
    assert formats(fake) == ["json_schema", "json_object", "none", "none"]
    assert judge.structured_output == "none"
    assert judge.stats.format_downgrades == 2
    assert fake.sleeps == []


def test_auto_stays_on_json_object_when_it_works() -> None:
    fake = Fake([status(500), "ok", "ok"])

    async def go() -> None:
        async with fake.judge(config()) as judge:
            await judge.score(REQUEST)
            await judge.score(REQUEST)

    asyncio.run(go())
    assert formats(fake) == ["json_schema", "json_object", "json_object"]


def test_concurrent_rejections_step_down_only_once() -> None:
    bodies: list[dict[str, Any]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        reply = status(400) if len(bodies) <= 4 else ok()
        await asyncio.sleep(0.01)  # all four are in flight when the rejections arrive
        return reply

    async def go() -> OpenAIJudge:
        async with OpenAIJudge(
            config(), api_key=None, transport=httpx.MockTransport(handler)
        ) as judge:
            await asyncio.gather(*(judge.score(REQUEST) for _ in range(4)))
            return judge

    judge = asyncio.run(go())
    assert judge.stats.format_downgrades == 1
    assert judge.structured_output == "json_object"
    assert [b["response_format"]["type"] for b in bodies] == ["json_schema"] * 4 + [
        "json_object"
    ] * 4


def test_an_explicit_format_is_never_downgraded() -> None:
    fake = Fake([status(400, json={"error": {"message": "response_format not supported"}})])
    result, judge = run(fake, config(structured_output="json_schema"))
    assert result.reason == (
        "judge rejected the request: HTTP 400 Bad Request: response_format not supported"
    )
    assert judge.structured_output == "json_schema"


def test_a_500_without_response_format_is_transient() -> None:
    fake = Fake([status(500), "ok"])
    result, judge = run(fake, config(structured_output="none"))
    assert result.status == "scored"
    assert judge.stats.transient_errors == {"500": 1}
    assert judge.stats.format_downgrades == 0


@pytest.mark.parametrize(
    "base_url",
    [
        "http://judge.test:8000",
        "http://judge.test:8000/",
        "http://judge.test:8000/v1",
        "http://judge.test:8000/v1/",
    ],
)
def test_base_url_with_or_without_v1_reaches_chat_completions(base_url: str) -> None:
    fake = Fake()
    run(fake, config(base_url=base_url))
    assert str(fake.requests[0].url) == "http://judge.test:8000/v1/chat/completions"


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("http://h/proxy/openai", "http://h/proxy/openai/v1/chat/completions"),
        ("http://h/proxy/openai/v1", "http://h/proxy/openai/v1/chat/completions"),
        ("http://h/v1/chat/completions", "http://h/v1/chat/completions"),
        ("http://h/v1/?api-version=2024&k=s", "http://h/v1/chat/completions?api-version=2024&k=s"),
        ("http://h?key=s", "http://h/v1/chat/completions?key=s"),
    ],
)
def test_chat_completions_url(base_url: str, url: str) -> None:
    assert chat_completions_url(base_url) == url


def test_an_empty_base_url_is_unscored_without_a_request() -> None:
    fake = Fake()
    cfg = judge_config(base_url_raw="${LLM_URL}")
    result, _ = run(fake, cfg)
    assert result.reason == "judge 'local' has no base_url (is ${LLM_URL} set?)"
    assert fake.requests == []


def test_concurrency_bounds_calls_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return ok()

    async def go() -> list[JudgeResult]:
        async with OpenAIJudge(
            config(concurrency=3), api_key=None, transport=httpx.MockTransport(handler)
        ) as judge:
            return await asyncio.gather(*(judge.score(REQUEST) for _ in range(12)))

    results = asyncio.run(go())
    assert all(r.status == "scored" for r in results)
    assert peak == 3


def test_a_judge_refuses_a_second_event_loop() -> None:
    judge = Fake().judge(config())
    try:
        asyncio.run(judge.score(REQUEST))
        with pytest.raises(RuntimeError, match="one judge per loop"):
            asyncio.run(judge.score(REQUEST))
    finally:
        # A MockTransport holds nothing bound to the first loop, so closing here is safe.
        asyncio.run(judge.aclose())


def test_stats_to_dict_is_plain_and_sorted() -> None:
    fake = Fake([status(503), httpx.ReadTimeout("t"), status(503), "ok"])
    _, judge = run(fake)
    assert judge.stats.to_dict() == {
        "requests": 4,
        "retries": 3,
        "transient_errors": {"503": 2, "timeout": 1},
        "unusable_replies": 0,
        "format_downgrades": 0,
    }


# -- replies as the judge meant them ------------------------------------------------------


def score(fake: Fake, request: JudgeRequest, cfg: JudgeConfig | None = None) -> JudgeResult:
    async def go() -> JudgeResult:
        async with fake.judge(cfg or config()) as judge:
            return await judge.score(request)

    return asyncio.run(go())


def message(**fields: Any) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", **fields}}]})


def test_a_reasoning_models_draft_is_kept_as_reasoning_and_the_answer_scored() -> None:
    content = '<think>Maybe {"coverage": 0.2, "faithfulness": 0.2}.</think>\n{"coverage": 0.9, "faithfulness": 0.8}'
    result = score(Fake([completion(content)]), REQUEST)
    assert result.status == "scored"
    assert result.scores == {"coverage": 0.9, "faithfulness": 0.8}
    assert result.reasoning == 'Maybe {"coverage": 0.2, "faithfulness": 0.2}.'
    assert result.raw_reply == content
    assert result.raw_scores is None


def test_reasoning_content_is_kept_and_never_read_for_scores() -> None:
    reply = message(
        content='{"coverage": 0.9, "faithfulness": 0.8}',
        reasoning_content='{"coverage": 0.1, "faithfulness": 0.1} was my first guess',
    )
    result = score(Fake([reply]), REQUEST)
    assert result.scores == {"coverage": 0.9, "faithfulness": 0.8}
    assert result.reasoning == '{"coverage": 0.1, "faithfulness": 0.1} was my first guess'


def test_an_ambiguous_reply_is_asked_again_then_unscored_saying_so() -> None:
    ambiguous = completion(
        'Format: {"coverage": 0, "faithfulness": 0}\nScores: {"coverage": 0.9, "faithfulness": 0.8}'
    )
    fake = Fake([ambiguous, ambiguous])
    result = score(fake, REQUEST)
    assert result.status == "unscored"
    assert result.scores == {}
    assert result.reason == (
        "unusable judge reply: ambiguous reply: 2 different score objects, "
        '{"coverage": 0, "faithfulness": 0} and {"coverage": 0.9, "faithfulness": 0.8}'
    )
    assert result.attempts == 2
    assert result.raw_reply.startswith("Format: ")  # why it was unusable, for the record


def test_an_ambiguous_reply_then_a_clean_one_is_scored_from_the_clean_one() -> None:
    ambiguous = completion('{"coverage": 0, "faithfulness": 0} {"coverage": 1, "faithfulness": 1}')
    result = score(Fake([ambiguous, "ok"]), REQUEST)
    assert result.status == "scored"
    assert result.scores == {"coverage": 0.8, "faithfulness": 0.6}
    assert result.raw_reply == '{"coverage": 0.8, "faithfulness": 0.6}'


def test_a_declared_scale_bounds_the_schema_and_scores_are_normalised_with_raw_kept() -> None:
    fake = Fake([completion('{"coverage": 4, "faithfulness": 2}')])
    request = JudgeRequest(MESSAGES, METRICS, scale=(1.0, 5.0))
    result = score(fake, request, config(structured_output="json_schema"))
    assert result.scores == {"coverage": 0.75, "faithfulness": 0.25}
    assert result.raw_scores == {"coverage": 4.0, "faithfulness": 2.0}
    schema = fake.bodies[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["coverage"] == {"type": "number", "minimum": 1.0, "maximum": 5.0}


def test_a_score_outside_the_declared_scale_is_unusable_not_clipped() -> None:
    six = completion('{"coverage": 6, "faithfulness": 2}')
    result = score(Fake([six, six]), JudgeRequest(MESSAGES, METRICS, scale=(1.0, 5.0)))
    assert result.status == "unscored"
    assert result.reason == "unusable judge reply: coverage=6 is outside 1..5"


def test_the_judges_words_are_bounded_and_carry_no_secret() -> None:
    content = f"<think>{'why ' * 2_000} {KEY}</think>{KEY} " + '{"coverage": 1, "faithfulness": 1}'
    result = score(Fake([completion(content)]), REQUEST)
    assert result.status == "scored"
    assert len(result.reasoning) <= 2_000 and len(result.raw_reply) <= 2_000
    assert "characters cut" in result.reasoning
    for text in (result.reasoning, result.raw_reply):
        assert KEY[:10] not in text and KEY[-10:] not in text
        assert "***" in text
