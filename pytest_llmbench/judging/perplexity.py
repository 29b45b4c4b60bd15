"""Perplexity (`source: perplexity`): how surprised a language model is by the output,
computed in the item process from the OpenAI-compatible legacy `/v1/completions` endpoint of
the judge a metric's `scorer:` names. One request per sample: the output as the prompt, with
`echo: true` and `logprobs`, so the reply carries each prompt token's log-probability (the
first has none). Perplexity = exp(−mean of those log-probabilities); lower reads as more
fluent. Any failure leaves that metric unscored for the sample, with a reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_llmbench.benchmark.config import PERPLEXITY_SOURCE, MetricConfig
from pytest_llmbench.benchmark.judge_config import JudgeConfig
from pytest_llmbench.judging.similarity import endpoint_url, post_json

__all__ = ["compute", "parse_logprobs", "perplexity"]

MAX_REPLY_BYTES = 16 * 1024 * 1024  # the output's tokens with their logprobs
MAX_TOKENS = 1_000_000
MAX_SURPRISE = 700.0  # exp(700) ~ 1e304; exp(710) overflows a float


def parse_logprobs(reply: Any, output: str) -> list[float] | str:
    """The log-probabilities of `output`'s tokens in a completions reply (echo + logprobs),
    without the first (null) one and any generated token after the output, or what is wrong
    with the reply."""
    choices = reply.get("choices") if isinstance(reply, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(choice, dict):
        return "the reply has no choices"
    text = choice.get("text")
    if not isinstance(text, str) or not text.startswith(output):
        return "the reply does not echo the output (the endpoint does not support echo)"
    logprobs = choice.get("logprobs")
    values = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
    if not isinstance(values, list) or not values or len(values) > MAX_TOKENS:
        return "the reply has no logprobs.token_logprobs list"
    tokens = logprobs.get("tokens") if isinstance(logprobs, dict) else None
    if isinstance(tokens, list) and len(tokens) == len(values):
        values = values[: _echoed(tokens, output)]
    found: list[float] = []
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "token_logprobs holds something other than numbers"
        if not math.isfinite(value) or value > 0:
            return f"token_logprobs holds {value!r}, not a log-probability"
        found.append(float(value))
    if not found:
        return "the reply has no token log-probabilities (is the output a single token?)"
    return found


def _echoed(tokens: list[Any], output: str) -> int:
    """How many of `tokens` spell the output: those up to where their text covers it (the
    rest were generated after it)."""
    if not all(isinstance(t, str) for t in tokens):
        return len(tokens)
    covered = 0
    for count, token in enumerate(tokens):
        if covered >= len(output):
            return count
        covered += len(token)
    return len(tokens)


def perplexity(judge: JudgeConfig, output: str) -> float | str:
    """The perplexity of `output` under `judge`'s model, or the reason there is none."""
    where = f"scorer {judge.name}"
    if not output:
        return f"{where}: the output is empty"
    body = {
        "model": judge.model,
        "prompt": output,
        "max_tokens": 1,  # 0 means "no limit" to llama.cpp: it would generate to n_ctx
        "echo": True,
        "logprobs": 0,
        "temperature": 0,
    }
    reply, why = post_json(
        judge, endpoint_url(judge.base_url, "completions"), body, where, MAX_REPLY_BYTES
    )
    if why:
        return why
    found = parse_logprobs(reply, output)
    if isinstance(found, str):
        return f"{where}: {found}"
    surprise = -math.fsum(x / len(found) for x in found)  # divided first: no overflow
    if surprise > MAX_SURPRISE:
        return f"{where}: the perplexity overflows"
    return math.exp(surprise)


def compute(
    metrics: Iterable[MetricConfig], judges: Mapping[str, JudgeConfig], output: str
) -> tuple[dict[str, float], dict[str, str]]:
    """The perplexity metrics' scores, and the reasons of those left unscored."""
    scores: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for m in metrics:
        if m.source != PERPLEXITY_SOURCE:
            continue
        found = perplexity(judges[m.scorer], output)
        if isinstance(found, str):
            reasons[m.name] = found
        else:
            scores[m.name] = round(found, 6)
    return scores, reasons
