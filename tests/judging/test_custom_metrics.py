"""Custom metrics (`source: module:function` or an entry point): sync and async functions,
a number or a dict of numbers, each source called once per sample; a raise or a value
that is not a finite number leaves that metric unscored with the reason."""

from __future__ import annotations

import asyncio
import importlib
import math
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.extensions import write_distribution

from pytest_llmbench.benchmark.config import MetricConfig, ScenarioConfig
from pytest_llmbench.errors import UserError
from pytest_llmbench.judging.custom_metrics import Computed, CustomMetrics, value_of

MODULE = """\
import asyncio

CALLS = []


def count(sample, output):
    CALLS.append(sample)
    return len(output.split())


def both(sample, output):
    CALLS.append(sample)
    return {"words": len(output.split()), "chars": float(len(output))}


async def later(sample, output):
    await asyncio.sleep(0)
    return 0.5


def boom(sample, output):
    raise ValueError("no\\nluck " + "x" * 500)


def nan(sample, output):
    return float("nan")


NOT_CALLABLE = 3
"""


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    write_distribution(tmp_path, "cm_mod", MODULE, metrics={"counted": "cm_mod:count"})
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("cm_mod")
    sys.modules.pop("cm_mod", None)


def metric(name: str, source: str, key: str = "") -> MetricConfig:
    where = f"benchmarks/llmbench.yaml:9: scenarios.s.metrics.{name}.source"
    return MetricConfig(name, 0.5, 0.4, source=source, key=key, source_at=where)


def scenario(*metrics: MetricConfig) -> ScenarioConfig:
    return ScenarioConfig("s", Path("/d.jsonl"), "d.jsonl", "", "dry-run", metrics)


def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def compute(*metrics: MetricConfig, output: str = "two words") -> Computed:
    return CustomMetrics(scenario(*metrics)).compute("the sample", output, run_async)


def test_a_sync_function_returning_a_number_scores_the_metric(module: Any) -> None:
    assert compute(metric("n", "cm_mod:count")) == Computed({"n": 2.0}, {})


def test_an_async_function_is_awaited_through_the_runner(module: Any) -> None:
    assert compute(metric("late", "cm_mod:later")) == Computed({"late": 0.5}, {})


def test_one_dict_feeds_several_metrics_by_key_or_name_and_is_called_once(module: Any) -> None:
    computed = compute(
        metric("words", "cm_mod:both"),
        metric("length", "cm_mod:both", key="chars"),
        metric("missing", "cm_mod:both"),
    )
    assert computed == Computed(
        {"words": 2.0, "length": 9.0},
        {"missing": "cm_mod:both: returned no key 'missing' (its keys: 'chars', 'words')"},
    )
    assert module.CALLS == ["the sample"]


def test_an_entry_point_name_is_loaded_from_the_installed_package(module: Any) -> None:
    assert compute(metric("n", "counted")) == Computed({"n": 2.0}, {})


def test_a_raise_leaves_the_metric_unscored_with_a_one_line_bounded_reason(module: Any) -> None:
    computed = compute(metric("b", "cm_mod:boom"), metric("n", "cm_mod:count"))
    assert computed.scores == {"n": 2.0}
    reason = computed.unscored["b"]
    assert reason.startswith("cm_mod:boom: raised ValueError: no luck xxx")
    assert "\n" not in reason and len(reason) < 260


def test_nan_leaves_the_metric_unscored(module: Any) -> None:
    assert compute(metric("x", "cm_mod:nan")) == Computed(
        {}, {"x": "cm_mod:nan: returned nan, not a finite number"}
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "no_such_mod:f",
            "benchmarks/llmbench.yaml:9: scenarios.s.metrics.m.source: 'no_such_mod:f' cannot "
            "be loaded (ModuleNotFoundError: No module named 'no_such_mod'); give an "
            "importable module:function, or install the package that registers it",
        ),
        (
            "cm_mod:absent",
            "benchmarks/llmbench.yaml:9: scenarios.s.metrics.m.source: 'cm_mod:absent' cannot "
            "be loaded (AttributeError: module 'cm_mod' has no attribute 'absent'); give an "
            "importable module:function, or install the package that registers it",
        ),
        (
            "cm_mod:NOT_CALLABLE",
            "benchmarks/llmbench.yaml:9: scenarios.s.metrics.m.source: 'cm_mod:NOT_CALLABLE' "
            "is not callable; name a function of (sample, output) returning a number or a "
            "dict of numbers",
        ),
        (
            "unregistered",
            "benchmarks/llmbench.yaml:9: scenarios.s.metrics.m.source: 'unregistered' cannot "
            "be loaded (no entry point 'unregistered' in pytest_llmbench.metrics); give an "
            "importable module:function, or install the package that registers it",
        ),
    ],
)
def test_a_source_that_cannot_be_loaded_is_one_line_naming_the_yaml_key(
    module: Any, source: str, message: str
) -> None:
    with pytest.raises(UserError) as info:
        CustomMetrics(scenario(metric("m", source)))
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, (3.0, "")),
        (0.25, (0.25, "")),
        (True, (None, "returned bool, not a number")),
        ("0.5", (None, "returned str, not a number")),
        (None, (None, "returned NoneType, not a number")),
        (math.inf, (None, "returned inf, not a finite number")),
        (10**400, (None, "returned an integer beyond ±1e+15")),
        ({"m": 1}, (1.0, "")),
        ({"m": "x"}, (None, "returned str, not a number")),
    ],
    ids=["int", "float", "bool", "str", "none", "inf", "huge-int", "dict", "dict-of-str"],
)
def test_value_of_reads_numbers_only(value: Any, expected: tuple[float | None, str]) -> None:
    assert value_of(value, metric("m", "a:b")) == expected


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


@given(JSONISH)
def test_any_returned_value_is_a_finite_score_or_a_reason(value: Any) -> None:
    score, reason = value_of(value, metric("m", "a:b"))
    if score is None:
        assert reason and "\n" not in reason
    else:
        assert math.isfinite(score) and abs(score) <= 1e15 and reason == ""
