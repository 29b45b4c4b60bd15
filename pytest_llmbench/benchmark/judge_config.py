"""One judge's settings, as the YAML gives them: apart from the YAML schema so that the
judge's helper process can rebuild them without importing the config loader."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

# `openai`, `dry-run`, or a user's judge: `module:Class` or the name of an entry point in
# `pytest_llmbench.judges` (judging/custom_judges.py builds those).
JudgeKind = str
StructuredOutput = Literal["auto", "json_schema", "json_object", "none"]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # total attempts per call, the first included
    max_wait_s: float = 60.0  # total time spent waiting between attempts of one call
    base_s: float = 0.5  # first backoff step; doubles each retry, with full jitter


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """What one call with these token counts costs, in USD."""
        return math.fsum(
            [
                prompt_tokens * self.input_per_mtok / 1e6,
                completion_tokens * self.output_per_mtok / 1e6,
            ]
        )


@dataclass(frozen=True)
class JudgeConfig:
    name: str
    kind: JudgeKind
    # `file:line: judges.<name>.kind`, for a custom kind's errors (where, not what: not compared)
    kind_at: str = field(default="", compare=False)
    # A custom kind's free-form `options:` from the YAML (builtins), handed to its class
    # with the rest of this config; part of its reply cache key.
    options: dict[str, Any] = field(default_factory=dict)
    base_url: str = ""  # after ${VAR} expansion; "" when the variable is unset
    base_url_raw: str = ""  # as written, for messages ("${LLM_URL}")
    model: str = ""
    api_key_env: str | None = None
    concurrency: int = 8
    timeout_s: float = 60.0
    retries: RetryPolicy = field(default_factory=RetryPolicy)
    price: Price | None = None
    temperature: float = 0.0
    max_tokens: int | None = None
    structured_output: StructuredOutput = "auto"

    @property
    def custom(self) -> bool:
        """A user's judge class (`kind: module:Class` or an entry point's name)."""
        return self.kind not in ("openai", "dry-run")

    @property
    def call_bound_s(self) -> float:
        """The longest one call can take once it has a concurrency slot: each request is
        cut at timeout_s, the waits between them stop at max_wait_s, and "auto" may add
        two requests that step the response_format down (they use up no attempt)."""
        downgrades = 2 if self.structured_output == "auto" else 0
        requests = max(1, self.retries.attempts) + downgrades
        return requests * self.timeout_s + self.retries.max_wait_s
