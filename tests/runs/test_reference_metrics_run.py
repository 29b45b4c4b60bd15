"""Reference metrics of the `reference` extra in whole runs: the record holds the
libraries' own values (sacrebleu, rouge-score, jiwer) and their signatures, the same with
and without xdist."""

from __future__ import annotations

import json
import math
import re
from importlib.metadata import version
from typing import Any

import jiwer
import pytest
import sacrebleu
import snowballstemmer
from rouge_score import rouge_scorer
from support.embedding_server import EmbeddingServer, trigram_vector, word_logprobs
from support.project import Project, config_yaml

from pytest_llmbench.judging.similarity import cosine, encoder_signature, encoder_similarity
from pytest_llmbench.results.record import deterministic_view
from pytest_llmbench.results.validation import check_record

REFERENCE_METRICS = (
    "      bleu: {pass: 0.01, warn: 0.005, source: bleu}\n"
    "      chrf_pp: {pass: 0.1, warn: 0.05, source: chrf++, aggregate: corpus}\n"
    "      rouge_1: {pass: 0.1, warn: 0.05, source: rouge_1, stemmer: russian}\n"
    "      cer: {pass: 0.9, warn: 0.95, better: lower, source: cer}\n"
)
PAIRS = [  # (output, reference), Russian
    ("В городе открыли новую станцию метро.", "В городе открыли новую станцию метро."),
    ("Открыта новая станция метро в центре.", "В центре города открыли станцию метро."),
    ("Погода завтра будет солнечной и тёплой.", "Завтра ожидается солнечная тёплая погода."),
    ("Мэр подписал указ о парках.", "Мэр города подписал новый указ о городских парках."),
]


def _samples() -> list[dict[str, Any]]:
    return [
        {
            "id": f"s-{i:02d}",
            "input": f"Пост номер {i}.",
            "output": output,
            "reference": reference,
            "ground_truth": {"coverage": 0.9, "accuracy": 0.9},
            "latency_seconds": 100.0,
        }
        for i, (output, reference) in enumerate(PAIRS, 1)
    ]


class _RussianWords:
    """rouge-score's tokenizer interface: lower-cased Unicode words, Snowball-stemmed."""

    _stemmer = snowballstemmer.stemmer("russian")

    def tokenize(self, text: str) -> list[str]:
        return list(self._stemmer.stemWords(re.findall(r"\w+", text.lower())))


def _library_values() -> dict[str, float]:
    hyps, refs = [h for h, _ in PAIRS], [r for _, r in PAIRS]
    rouge = rouge_scorer.RougeScorer(["rouge1"], tokenizer=_RussianWords())

    def norm(text: str) -> str:
        return " ".join(re.sub(r"\W+", " ", text.lower()).split())

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    return {
        "bleu": mean([sacrebleu.sentence_bleu(h, [r]).score / 100 for h, r in PAIRS]),
        "chrf_pp": sacrebleu.corpus_chrf(hyps, [refs], word_order=2).score / 100,
        "rouge_1": mean([rouge.score(r, h)["rouge1"].fmeasure for h, r in PAIRS]),
        "cer": mean([jiwer.cer(norm(r), norm(h)) for h, r in PAIRS]),
    }


def test_reference_metrics_in_the_record_are_the_libraries_values_in_every_xdist_mode(
    project: Project,
) -> None:
    project.dataset(_samples())
    project.config(config_yaml(extra_scenario=REFERENCE_METRICS))
    records = []
    for index, args in enumerate((["-p", "no:xdist"], ["-n", "2"])):
        path = project.root / f"record-{index}.json"
        result = project.run(*args, f"--llmbench-json={path}")
        assert result.ret == 0, result.stdout.str()
        records.append(json.loads(path.read_text(encoding="utf-8")))
    assert json.dumps(deterministic_view(records[0])) == json.dumps(deterministic_view(records[1]))
    metrics = records[0]["scenarios"]["digest"]["metrics"]
    expected = _library_values()
    assert {name: metrics[name]["value"] for name in expected} == pytest.approx(expected, abs=1e-6)
    assert expected["chrf_pp"] != pytest.approx(
        sum(sacrebleu.sentence_chrf(h, [r], word_order=2).score / 100 for h, r in PAIRS) / 4,
        abs=1e-6,
    )  # the corpus score, not the mean of the samples'
    bleu, chrf_pp = sacrebleu.BLEU(effective_order=True), sacrebleu.CHRF(word_order=2)
    bleu.sentence_score(PAIRS[0][0], [PAIRS[0][1]])
    chrf_pp.corpus_score([h for h, _ in PAIRS], [[r for _, r in PAIRS]])
    assert {name: metrics[name]["signature"] for name in expected} == {
        "bleu": str(bleu.get_signature()),
        "chrf_pp": str(chrf_pp.get_signature()),
        "rouge_1": f"rouge-score:{version('rouge-score')}|tok:unicode-words|stem:russian",
        "cer": f"jiwer:{version('jiwer')}|norm:lower-nonword-space",
    }
    assert metrics["chrf_pp"]["aggregate"] == "corpus"


SIMILARITY_JUDGES = (
    "judges:\n"
    "  default:\n"
    "    kind: openai\n"
    "    base_url: ${TEST_LLM_URL}\n"
    "    model: test-model\n"
    "  embed:\n"
    "    kind: openai\n"
    "    base_url: ${TEST_EMBED_URL}\n"
    "    model: embed-model\n"
)
SIMILARITY_METRIC = "      similar: {pass: 0.5, warn: 0.4, source: similarity, embedder: embed}\n"


def test_similarity_is_the_embeddings_cosine_one_request_per_sample_in_every_xdist_mode(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.dataset(_samples())
    project.config(config_yaml(judge_block=SIMILARITY_JUDGES, extra_scenario=SIMILARITY_METRIC))
    with EmbeddingServer() as server:
        monkeypatch.setenv("TEST_EMBED_URL", server.url)
        records = []
        for index, args in enumerate((["-p", "no:xdist"], ["-n", "2"])):
            path = project.root / f"record-{index}.json"
            result = project.run(*args, f"--llmbench-json={path}")
            assert result.ret == 0, result.stdout.str()
            records.append(json.loads(path.read_text(encoding="utf-8")))
        bodies = sorted(json.dumps(body, ensure_ascii=False) for body in server.requests)
    expected_bodies = [
        json.dumps({"model": "embed-model", "input": [h, r]}, ensure_ascii=False) for h, r in PAIRS
    ]
    assert bodies == sorted(expected_bodies * 2)  # one request per sample and run
    assert json.dumps(deterministic_view(records[0])) == json.dumps(deterministic_view(records[1]))
    scenario = records[0]["scenarios"]["digest"]
    cosines = [cosine(trigram_vector(h), trigram_vector(r)) for h, r in PAIRS]
    assert [s["scores"]["similar"] for s in scenario["samples"]] == [
        round(c or 0.0, 6) for c in cosines
    ]
    assert scenario["metrics"]["similar"]["n"] == 4


def test_a_failing_embedder_leaves_similarity_unscored_with_the_reason_in_the_record(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.dataset(_samples())
    project.config(config_yaml(judge_block=SIMILARITY_JUDGES, extra_scenario=SIMILARITY_METRIC))
    with EmbeddingServer() as server:
        server.reply = ("status", 503)
        monkeypatch.setenv("TEST_EMBED_URL", server.url)
        path = project.root / "record.json"
        result = project.run("-p", "no:xdist", f"--llmbench-json={path}")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["  similar of digest has no scored samples"])
    record = json.loads(path.read_text(encoding="utf-8"))
    check_record(record)  # the reasons are typed: a reader accepts the record
    scenario = record["scenarios"]["digest"]
    assert [s.get("unscored_metrics") for s in scenario["samples"]] == [
        {"similar": "embedder embed: HTTP 503"}
    ] * 4
    assert "similar" not in scenario["samples"][0]["scores"]
    assert (scenario["metrics"]["similar"]["n"], scenario["metrics"]["similar"]["value"]) == (
        0,
        None,
    )


PERPLEXITY_METRIC = "      fluent: {pass: 5, warn: 10, source: perplexity, scorer: embed}\n"


def test_perplexity_in_the_record_is_the_scorers_one_request_per_sample(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.dataset(_samples())
    project.config(config_yaml(judge_block=SIMILARITY_JUDGES, extra_scenario=PERPLEXITY_METRIC))
    with EmbeddingServer() as server:
        monkeypatch.setenv("TEST_EMBED_URL", server.url)
        path = project.root / "record.json"
        result = project.run("-n", "2", f"--llmbench-json={path}")
        prompts = sorted(body["prompt"] for body in server.requests)
    assert result.ret in (0, 1), result.stdout.str()
    assert prompts == sorted(h for h, _ in PAIRS)
    record = json.loads(path.read_text(encoding="utf-8"))
    check_record(record)
    scenario = record["scenarios"]["digest"]

    def expected(text: str) -> float:
        logprobs = [x for x in word_logprobs(text) if x is not None]
        return round(math.exp(-sum(logprobs) / len(logprobs)), 6)

    assert [s["scores"]["fluent"] for s in scenario["samples"]] == [expected(h) for h, _ in PAIRS]
    assert (scenario["metrics"]["fluent"]["n"], scenario["metrics"]["fluent"]["better"]) == (
        4,
        "lower",
    )


def test_a_scorer_without_echo_leaves_perplexity_unscored_with_the_reason(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.dataset(_samples())
    project.config(config_yaml(judge_block=SIMILARITY_JUDGES, extra_scenario=PERPLEXITY_METRIC))
    with EmbeddingServer() as server:
        server.reply = "no_echo"
        monkeypatch.setenv("TEST_EMBED_URL", server.url)
        path = project.root / "record.json"
        result = project.run("-p", "no:xdist", f"--llmbench-json={path}")
    assert result.ret == 1
    record = json.loads(path.read_text(encoding="utf-8"))
    check_record(record)
    assert [s.get("unscored_metrics") for s in record["scenarios"]["digest"]["samples"]] == [
        {
            "fluent": "scorer embed: the reply does not echo the output "
            "(the endpoint does not support echo)"
        }
    ] * 4


ENCODER_METRIC = "      similar: {pass: 0.5, warn: 0.4, source: similarity}\n"
# The project's conftest (loaded in every item process, xdist workers too): any connection
# but to the loopback judge fails, so the encoder can download nothing.
LOOPBACK_ONLY = """import socket

_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _refuse_beyond_loopback(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1"):
        raise OSError(f"connection to {address!r} refused by the test")


def _connect_loopback(self, address):
    _refuse_beyond_loopback(self, address)
    return _connect(self, address)


def _connect_ex_loopback(self, address):
    _refuse_beyond_loopback(self, address)
    return _connect_ex(self, address)


def pytest_configure(config):
    socket.socket.connect, socket.socket.connect_ex = _connect_loopback, _connect_ex_loopback


def pytest_unconfigure(config):  # the run may be in the test's own process
    socket.socket.connect, socket.socket.connect_ex = _connect, _connect_ex
"""


def test_encoder_similarity_in_the_record_is_the_packages_cosine_in_every_xdist_mode(
    project: Project,
) -> None:
    project.dataset(_samples())
    project.config(config_yaml(extra_scenario=ENCODER_METRIC))
    project.write("conftest.py", LOOPBACK_ONLY)
    records = []
    for index, args in enumerate((["-p", "no:xdist"], ["-n", "2"])):
        path = project.root / f"record-{index}.json"
        result = project.run(*args, f"--llmbench-json={path}")
        assert result.ret == 0, result.stdout.str()
        records.append(json.loads(path.read_text(encoding="utf-8")))
    assert json.dumps(deterministic_view(records[0])) == json.dumps(deterministic_view(records[1]))
    check_record(records[0])
    scenario = records[0]["scenarios"]["digest"]
    expected = [encoder_similarity(h, r) for h, r in PAIRS]
    assert [s["scores"]["similar"] for s in scenario["samples"]] == [
        round(value, 6) if isinstance(value, float) else value for value in expected
    ]
    assert scenario["samples"][0]["scores"]["similar"] == pytest.approx(1.0, abs=1e-5)
    assert all("unscored_metrics" not in s for s in scenario["samples"])
    metric = scenario["metrics"]["similar"]
    assert (metric["n"], metric["signature"]) == (4, encoder_signature())
