"""Judge configs for tests that call a judge (`judge_config(srv.url)`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from pytest_llmbench.benchmark.judge_config import JudgeConfig, RetryPolicy

# Short waits: a test against a server on 127.0.0.1 stays fast while still really sleeping.
FAST_RETRIES = RetryPolicy(attempts=5, max_wait_s=5.0, base_s=0.02)
FAST_TIMEOUT_S = 5.0


def judge_config(
    url: str = "",
    *,
    attempts: int | None = None,
    max_wait_s: float | None = None,
    base_s: float | None = None,
    **overrides: Any,
) -> JudgeConfig:
    """An "openai" judge named "local" with model "test-model" at `url` (its base_url), a
    5 s timeout and FAST_RETRIES; `overrides` set any JudgeConfig field (base_url= too,
    which wins over `url`). `attempts`, `max_wait_s` and `base_s` change single fields of
    the retry policy (FAST_RETRIES, or the `retries=` given)."""
    fields: dict[str, Any] = {
        "name": "local",
        "kind": "openai",
        "base_url": url,
        "model": "test-model",
        "timeout_s": FAST_TIMEOUT_S,
        "retries": FAST_RETRIES,
        **overrides,
    }
    steps = {"attempts": attempts, "max_wait_s": max_wait_s, "base_s": base_s}
    fields["retries"] = dataclasses.replace(
        fields["retries"], **{k: v for k, v in steps.items() if v is not None}
    )
    return JudgeConfig(**fields)
