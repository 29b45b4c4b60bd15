"""What the deadline and liveness tests share: a judge with short deadlines, a request to
score, and a run that fails instead of hanging."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pytest_llmbench.benchmark.judge_config import JudgeConfig
from support.aio import run
from support.judges import judge_config

T = TypeVar("T")
METRICS = ("coverage", "accuracy")
GUARD_S = 60  # a bound no test comes near: reaching it means something waited without end


def short_judge(url: str, *, timeout_s: float = 1, attempts: int = 2) -> JudgeConfig:
    """Short deadlines: a second per request, two attempts, a second of backoff at most."""
    return judge_config(
        url, concurrency=2, timeout_s=timeout_s, attempts=attempts, max_wait_s=1, base_s=0.01
    )


def messages(marker: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": 'Reply with {"coverage": x, "accuracy": y}.'},
        {"role": "user", "content": f"Sample {marker}: the summary to judge."},
    ]


def guarded(make: Callable[[], Awaitable[T]]) -> T:
    return run(make, GUARD_S)
