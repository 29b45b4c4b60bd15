"""Perplexity through an OpenAI-compatible legacy /v1/completions endpoint: a real HTTP server
on 127.0.0.1 (support/embedding_server.py) with fixed logprobs, its failures as reasons,
hostile replies."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.embedding_server import EmbeddingServer
from support.loopback import closed_port

from pytest_llmbench.benchmark.config import MetricConfig
from pytest_llmbench.benchmark.judge_config import JudgeConfig
from pytest_llmbench.judging import perplexity

FLUENT = MetricConfig("fluent", 20.0, 40.0, better="lower", source="perplexity", scorer="lm")


@pytest.fixture
def server() -> Iterator[EmbeddingServer]:
    with EmbeddingServer() as srv:
        yield srv


def scorer(url: str, api_key_env: str = "") -> JudgeConfig:
    return JudgeConfig(
        name="lm", kind="openai", base_url=url, model="lm-model", timeout_s=5,
        api_key_env=api_key_env,
    )  # fmt: skip


def score(server_url: str, output: str) -> Any:
    return perplexity.compute([FLUENT], {"lm": scorer(server_url)}, output)


def test_perplexity_is_exp_of_minus_the_mean_logprob_of_the_echoed_tokens(
    server: EmbeddingServer,
) -> None:
    # Tokens "The", " cat", " sat", " there": logprobs None, -0.75, -0.75, -1.25 (-0.25 a
    # character); the generated " ok" (-9) after them is not the output's.
    expected = math.exp((0.75 + 0.75 + 1.25) / 3)
    assert score(server.url, "The cat sat there") == ({"fluent": round(expected, 6)}, {})
    assert server.requests == [
        {
            "model": "lm-model",
            "prompt": "The cat sat there",
            "max_tokens": 1,
            "echo": True,
            "logprobs": 0,
            "temperature": 0,
        }
    ]


def test_a_non_latin_output_is_scored_by_its_tokens(server: EmbeddingServer) -> None:
    # "Новую", " станцию", " открыли": None, -1.75, -1.75.
    assert score(server.url, "Новую станцию открыли") == (
        {"fluent": round(math.exp(1.75), 6)},
        {},
    )


@pytest.mark.parametrize(
    ("reply", "output", "reason"),
    [
        (("status", 500), "a b", "scorer lm: HTTP 500"),
        (("status", 404), "a b", "scorer lm: HTTP 404"),
        (("body", b"<html>busy</html>"), "a b", "scorer lm: the reply is not JSON"),
        (("body", b'{"choices": []}'), "a b", "scorer lm: the reply has no choices"),
        (
            "no_echo",
            "a b",
            "scorer lm: the reply does not echo the output (the endpoint does not support echo)",
        ),
        (
            ("body", b'{"choices": [{"text": "a b", "logprobs": null}]}'),
            "a b",
            "scorer lm: the reply has no logprobs.token_logprobs list",
        ),
        (
            ("body", b'{"choices": [{"text": "a b", "logprobs": {"token_logprobs": [null]}}]}'),
            "a b",
            "scorer lm: the reply has no token log-probabilities (is the output a single token?)",
        ),
        (
            ("body", b'{"choices": [{"text": "a b", "logprobs": {"token_logprobs": [null, "x"]}}]}'),
            "a b",
            "scorer lm: token_logprobs holds something other than numbers",
        ),
        (
            ("body", b'{"choices": [{"text": "a b", "logprobs": {"token_logprobs": [null, 0.5]}}]}'),
            "a b",
            "scorer lm: token_logprobs holds 0.5, not a log-probability",
        ),
        (
            ("body", b'{"choices": [{"text": "a b", "logprobs": {"token_logprobs": [-1e308, -1e308]}}]}'),
            "a b",
            "scorer lm: the perplexity overflows",
        ),
        (("status", 200), "", "scorer lm: the output is empty"),
    ],
)  # fmt: skip
def test_a_failed_perplexity_leaves_the_metric_unscored_with_the_reason(
    server: EmbeddingServer, reply: Any, output: str, reason: str
) -> None:
    server.reply = reply
    assert score(server.url, output) == ({}, {"fluent": reason})


def test_an_unreachable_scorer_is_a_reason_not_an_exception() -> None:
    scores, reasons = score(f"http://127.0.0.1:{closed_port()}", "a b")
    assert scores == {}
    assert reasons["fluent"].startswith("scorer lm: ConnectError")


def test_a_scorer_without_a_base_url_is_a_reason() -> None:
    judge = JudgeConfig(name="lm", kind="openai", base_url_raw="${LM_URL}", model="m")
    found = perplexity.compute([FLUENT], {"lm": judge}, "a b")
    assert found == ({}, {"fluent": "scorer lm: no base_url (${LM_URL} is not set)"})


def test_neither_the_scorers_key_nor_a_url_secret_reaches_a_reason(
    server: EmbeddingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LM_KEY", "sk-secret-123")
    port = closed_port()
    judge = scorer(f"http://user:hunter2@127.0.0.1:{port}", api_key_env="LM_KEY")
    _, reasons = perplexity.compute([FLUENT], {"lm": judge}, "a b")
    assert "hunter2" not in reasons["fluent"] and "sk-secret-123" not in reasons["fluent"]
    assert reasons["fluent"].startswith("scorer lm: ConnectError")


def test_other_sources_make_no_request(server: EmbeddingServer) -> None:
    judged = MetricConfig("coverage", 0.8, 0.7)
    assert perplexity.compute([judged], {"lm": scorer(server.url)}, "a b") == ({}, {})
    assert server.requests == []


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=9), inner),
    max_leaves=20,
)
_LOGPROBS = st.lists(st.none() | st.floats() | st.integers(-50, 5) | _JSON, max_size=6)


@given(
    st.one_of(
        _JSON,
        st.fixed_dictionaries({"choices": st.lists(_JSON, max_size=2)}),
        st.fixed_dictionaries(
            {
                "choices": st.lists(
                    st.fixed_dictionaries(
                        {
                            "text": st.just("a b") | st.text(max_size=6),
                            "logprobs": st.fixed_dictionaries(
                                {"token_logprobs": _LOGPROBS},
                                optional={"tokens": st.lists(_JSON | st.text(max_size=3))},
                            ),
                        }
                    ),
                    min_size=1,
                    max_size=2,
                )
            }
        ),
    )
)
def test_any_reply_is_negative_finite_logprobs_or_a_reason(reply: Any) -> None:
    found = perplexity.parse_logprobs(reply, "a b")
    if not isinstance(found, str):
        assert found and all(math.isfinite(x) and x <= 0 for x in found)


@given(_JSON)
def test_any_reply_over_http_is_a_value_or_a_reason_never_an_exception(reply: Any) -> None:
    with EmbeddingServer() as srv:
        srv.reply = ("body", json.dumps(reply).encode("utf-8"))
        scores, reasons = score(srv.url, "a b")
    assert len(scores) + len(reasons) == 1
    assert all(math.isfinite(v) and v >= 1.0 for v in scores.values())
    assert all(r.startswith("scorer lm: ") for r in reasons.values())
