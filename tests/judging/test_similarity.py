"""Semantic similarity through an OpenAI-compatible /v1/embeddings endpoint: a real HTTP
server on 127.0.0.1 (support/embedding_server.py), its failures as reasons, hostile replies."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.embedding_server import EmbeddingServer, trigram_vector
from support.loopback import closed_port
from support.paraphrases import PARAPHRASES

from pytest_llmbench.benchmark.config import MetricConfig
from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.benchmark.judge_config import JudgeConfig
from pytest_llmbench.judging import similarity

SIMILAR = MetricConfig("similar", 0.5, 0.4, source="similarity", embedder="embed")


@pytest.fixture
def server() -> Iterator[EmbeddingServer]:
    with EmbeddingServer() as srv:
        yield srv


def embedder(url: str) -> JudgeConfig:
    return JudgeConfig(name="embed", kind="openai", base_url=url, model="embed-model", timeout_s=5)


def sample(reference: str | None) -> Sample:
    return Sample(
        id="s-01", item_id="s-01", position=0, line=1, input="", reference=reference, fields={}
    )


def score(server_url: str, output: str, reference: str | None) -> Any:
    return similarity.compute([SIMILAR], {"embed": embedder(server_url)}, output, sample(reference))


@pytest.mark.parametrize(("reference", "paraphrase", "unrelated"), PARAPHRASES)
def test_a_paraphrase_is_more_similar_than_an_unrelated_text(
    server: EmbeddingServer, reference: str, paraphrase: str, unrelated: str
) -> None:
    close, _ = score(server.url, paraphrase, reference)
    far, _ = score(server.url, unrelated, reference)
    assert close["similar"] > far["similar"]
    assert score(server.url, reference, reference) == ({"similar": 1.0}, {})


def test_one_request_per_sample_carries_both_texts_and_the_model(server: EmbeddingServer) -> None:
    scores, reasons = score(server.url, "вывод", "эталон")
    assert server.requests == [{"model": "embed-model", "input": ["вывод", "эталон"]}]
    expected = similarity.cosine(trigram_vector("вывод"), trigram_vector("эталон"))
    assert expected is not None
    assert (scores, reasons) == ({"similar": round(expected, 6)}, {})


def test_a_sample_without_a_reference_makes_no_request(server: EmbeddingServer) -> None:
    assert score(server.url, "вывод", None) == ({}, {})
    assert server.requests == []


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (("status", 500), "embedder embed: HTTP 500"),
        (("status", 401), "embedder embed: HTTP 401"),
        (("body", b"<html>busy</html>"), "embedder embed: the reply is not JSON"),
        (("body", b'{"data": []}'), "embedder embed: the reply has no data list of two embeddings"),
        (
            ("body", b'{"data": [{"embedding": [1, 2]}, {"embedding": [1]}]}'),
            "embedder embed: the embeddings differ in length (2 and 1)",
        ),
        (
            ("body", b'{"data": [{"embedding": [0, 0]}, {"embedding": [1, 2]}]}'),
            "embedder embed: an embedding is all zeros",
        ),
        (
            ("body", b'{"data": [{"embedding": ["1"]}, {"embedding": [1]}]}'),
            "embedder embed: embedding 0 is not a list of finite numbers",
        ),
    ],
)
def test_a_failed_embedding_leaves_the_metric_unscored_with_the_reason(
    server: EmbeddingServer, reply: tuple[Any, ...], reason: str
) -> None:
    server.reply = reply
    assert score(server.url, "вывод", "эталон") == ({}, {"similar": reason})


def test_an_unreachable_embedder_is_a_reason_not_an_exception() -> None:
    scores, reasons = score(f"http://127.0.0.1:{closed_port()}", "вывод", "эталон")
    assert scores == {}
    assert reasons["similar"].startswith("embedder embed: ConnectError")


def test_an_embedder_without_a_base_url_is_a_reason() -> None:
    judge = JudgeConfig(name="embed", kind="openai", base_url_raw="${EMBED_URL}", model="m")
    found = similarity.compute([SIMILAR], {"embed": judge}, "вывод", sample("эталон"))
    assert found == ({}, {"similar": "embedder embed: no base_url (${EMBED_URL} is not set)"})


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1/embeddings"),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1/embeddings"),
        ("http://h/v1/embeddings", "http://h/v1/embeddings"),
        ("http://h/openai?api-version=1", "http://h/openai/v1/embeddings?api-version=1"),
    ],
)
def test_embeddings_url_from_a_base_url(base_url: str, url: str) -> None:
    assert similarity.embeddings_url(base_url) == url


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=9), inner),
    max_leaves=20,
)
_VECTOR = st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=8)


@given(
    st.one_of(
        _JSON,
        st.fixed_dictionaries({"data": st.lists(_JSON, max_size=3)}),
        st.fixed_dictionaries(
            {"data": st.lists(st.fixed_dictionaries({"embedding": _JSON}), min_size=2, max_size=2)}
        ),
    )
)
def test_any_reply_is_two_equal_length_vectors_or_a_reason(reply: Any) -> None:
    parsed = similarity.parse_embeddings(reply)
    if not isinstance(parsed, str):
        a, b = parsed
        assert len(a) == len(b) > 0 and all(math.isfinite(x) for x in a + b)


@given(_VECTOR, _VECTOR)
def test_cosine_is_between_minus_one_and_one(a: list[float], b: list[float]) -> None:
    n = min(len(a), len(b))
    value = similarity.cosine(a[:n], b[:n])
    assert value is None or -1.0 <= value <= 1.0
