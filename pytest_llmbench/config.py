"""The llmbench YAML schema: typed, validated, with errors that name the file, key and fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Better = Literal["higher", "lower"]
Aggregate = Literal["mean", "median", "p95", "rate"]
JudgeKind = Literal["openai", "dry-run"]
# `judge` (a score the judge prompt returns), `field` (a number stored on the sample) or a
# reference metric computed against the sample's `reference`.
REFERENCE_SOURCES = ("chrf", "rouge_l", "wer")
StructuredOutput = Literal["auto", "json_schema", "json_object", "none"]


class ConfigError(Exception):
    """A mistake in the user's llmbench YAML; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # total attempts per call, the first included
    max_wait_s: float = 60.0  # total time spent waiting between attempts of one call
    base_s: float = 0.5  # first backoff step; doubles each retry, with full jitter


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float


@dataclass(frozen=True)
class JudgeConfig:
    name: str
    kind: JudgeKind
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


@dataclass(frozen=True)
class MetricConfig:
    name: str
    pass_: float  # YAML key `pass`
    warn: float
    better: Better = "higher"
    source: str = "judge"  # "judge" | "field" | one of REFERENCE_SOURCES
    field: str = ""  # the sample field for source: field (defaults to the metric name)
    aggregate: Aggregate = "mean"


@dataclass(frozen=True)
class ScenarioConfig:
    name: str
    dataset: Path  # absolute
    dataset_display: str  # as written in the YAML, for messages and the report
    prompt: str  # "name@version"
    judge: str
    metrics: tuple[MetricConfig, ...]
    smoke: int | tuple[str, ...] = 0
    fail_on_warn: bool = False
    fields: dict[str, str] = field(default_factory=dict)  # canonical name -> field in the file
    output: str | None = None  # a sample field name or "module:function"
    description: str = ""

    @property
    def prompt_name(self) -> str:
        return self.prompt.partition("@")[0]

    @property
    def prompt_version(self) -> str:
        return self.prompt.partition("@")[2]

    @property
    def judged_metrics(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics if m.source == "judge")


@dataclass(frozen=True)
class LLMBenchConfig:
    path: Path
    rootdir: Path
    version: int
    judges: dict[str, JudgeConfig]
    scenarios: dict[str, ScenarioConfig]
    prompts_dir: Path
    budget_usd: float | None = None
