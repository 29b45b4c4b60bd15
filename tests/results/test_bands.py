"""Bands, statuses and the scenario verdict, against hand-written cases."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.benchmark.config import MetricConfig
from pytest_llmbench.benchmark.rules import band_problem
from pytest_llmbench.results.bands import (
    MetricVerdict,
    Status,
    band_status,
    describe_band,
    evaluate_metric,
    scenario_status,
    worst,
)

COVERAGE = MetricConfig(name="coverage", pass_=0.88, warn=0.80)
LATENCY = MetricConfig(name="latency_seconds", pass_=210, warn=240, better="lower", source="field")


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (0.95, "pass"),
        (0.88, "pass"),  # on the pass edge: the better band
        (0.8799999999999999, "pass"),  # fsum([0.69, 0.95, 1.0]) / 3: float noise, not a miss
        (0.88 - 1e-9, "warn"),  # the tolerance is float noise only
        (0.87, "warn"),
        (0.80, "warn"),
        (0.7999, "fail"),
        (-1.0, "fail"),
        (math.nan, "fail"),
    ],
)
def test_band_status_when_higher_is_better(value: float, status: Status) -> None:
    assert band_status(value, COVERAGE) == status


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (0.0, "pass"),
        (210.0, "pass"),
        (210.0 + 1e-11, "pass"),  # within 1e-12 relative to the edge
        (210.0 + 1e-9, "warn"),
        (239.0, "warn"),
        (240.0, "warn"),
        (240.5, "fail"),
        (math.nan, "fail"),
    ],
)
def test_band_status_when_lower_is_better(value: float, status: Status) -> None:
    assert band_status(value, LATENCY) == status


def test_band_status_near_a_zero_edge_ignores_float_noise() -> None:
    # fsum([0.3, -0.1, -0.2]) is -2.8e-17, not 0; it must still reach a pass edge of 0.
    metric = MetricConfig(name="delta", pass_=0.0, warn=-0.1)
    assert band_status(math.fsum([0.3, -0.1, -0.2]), metric) == "pass"
    assert band_status(-1e-9, metric) == "warn"


def test_band_status_without_a_warn_band_goes_straight_to_fail() -> None:
    metric = MetricConfig(name="accuracy", pass_=0.9, warn=0.9)
    assert [band_status(v, metric) for v in (0.9, 0.89)] == ["pass", "fail"]


bands = st.tuples(
    st.floats(-1e6, 1e6), st.floats(0, 1e3), st.sampled_from(["higher", "lower"])
).map(
    lambda t: MetricConfig(
        name="m",
        pass_=t[0],
        warn=t[0] - t[1] if t[2] == "higher" else t[0] + t[1],
        better=t[2],  # type: ignore[arg-type]
    )
)
RANK = {"pass": 0, "warn": 1, "fail": 2}


@given(bands, st.floats(-2e6, 2e6), st.floats(-2e6, 2e6))
def test_band_status_is_monotone_in_the_value(metric: MetricConfig, a: float, b: float) -> None:
    better, worse = (max(a, b), min(a, b)) if metric.better == "higher" else (min(a, b), max(a, b))
    assert RANK[band_status(better, metric)] <= RANK[band_status(worse, metric)]


@given(bands)
def test_every_valid_band_passes_its_own_edges(metric: MetricConfig) -> None:
    assert band_problem(metric.pass_, metric.warn, metric.better) is None
    assert band_status(metric.pass_, metric) == "pass"
    assert band_status(metric.warn, metric) in ("pass", "warn")


@pytest.mark.parametrize(
    ("pass_", "warn", "better", "problem"),
    [
        (0.88, 0.80, "higher", None),
        (0.88, 0.88, "higher", None),
        (210, 240, "lower", None),
        (210, 210, "lower", None),
        (
            0.80,
            0.88,
            "higher",
            "warn (0.88) is above pass (0.8), but with better: higher a value must reach "
            "warn before pass; set warn to at most 0.8",
        ),
        (
            240,
            210,
            "lower",
            "warn (210) is below pass (240), but with better: lower a value must get "
            "under warn before pass; set warn to at least 240",
        ),
        (1, 0, "sideways", "better must be 'higher' or 'lower', not 'sideways'"),
    ],
)
def test_band_problem_names_a_warn_band_stricter_than_pass(
    pass_: float, warn: float, better: str, problem: str | None
) -> None:
    assert band_problem(pass_, warn, better) == problem


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "pass"),
        (["pass"], "pass"),
        (["pass", "warn", "pass"], "warn"),
        (["warn", "fail", "pass"], "fail"),
        (["fail"], "fail"),
    ],
)
def test_worst_orders_pass_warn_fail(statuses: list[Status], expected: Status) -> None:
    assert worst(statuses) == expected
    assert worst(iter(statuses)) == expected


@pytest.mark.parametrize(
    ("metric", "text"),
    [
        (COVERAGE, "pass ≥ 0.88, warn ≥ 0.8"),
        (LATENCY, "pass ≤ 210, warn ≤ 240"),
        (MetricConfig(name="m", pass_=0.1 + 0.2, warn=0.125), "pass ≥ 0.3, warn ≥ 0.125"),
        (MetricConfig(name="m", pass_=1e-7, warn=-2.5), "pass ≥ 1e-07, warn ≥ -2.5"),
        (MetricConfig(name="m", pass_=1234567, warn=0), "pass ≥ 1234567, warn ≥ 0"),
    ],
)
def test_describe_band_writes_numbers_compactly(metric: MetricConfig, text: str) -> None:
    assert describe_band(metric) == text


def test_evaluate_metric_without_values_has_no_data() -> None:
    assert evaluate_metric(COVERAGE, []) == MetricVerdict(
        name="coverage",
        value=None,
        n=0,
        ci95=None,
        status="no data",
        band="pass ≥ 0.88, warn ≥ 0.8",
        method="none",
    )


@pytest.mark.parametrize(
    ("metric", "values", "value", "status", "method"),
    [
        (COVERAGE, [0.69, 0.95, 1.0], 0.8799999999999999, "pass", "t"),
        (COVERAGE, [0.9], 0.9, "pass", "none"),
        (COVERAGE, [0.8, 0.9], 0.85, "warn", "t"),
        (COVERAGE, [0.5, 0.7], 0.6, "fail", "t"),
        (LATENCY, [200, 230, 260], 230.0, "warn", "t"),
        (
            MetricConfig(name="lat", pass_=210, warn=240, better="lower", aggregate="p95"),
            [100, 200, 300, 400],
            385.0,
            "fail",
            "bootstrap",
        ),
        (
            MetricConfig(name="ok", pass_=0.75, warn=0.5, aggregate="rate"),
            [1, 1, 0, 1],
            0.75,
            "pass",
            "wilson",
        ),
    ],
)
def test_evaluate_metric_aggregates_then_bands(
    metric: MetricConfig, values: list[float], value: float, status: str, method: str
) -> None:
    v = evaluate_metric(metric, values)
    assert v.value == pytest.approx(value, abs=1e-12)
    assert (v.name, v.n, v.status, v.method) == (metric.name, len(values), status, method)
    assert v.band == describe_band(metric)
    assert (v.ci95 is None) == (len(values) < 2)


def _verdict(status: Status | str) -> MetricVerdict:
    return MetricVerdict("m", None, 0, None, status, "")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("statuses", "fail_on_warn", "expected"),
    [
        ([], False, "pass"),
        (["pass", "pass"], False, "pass"),
        (["pass", "warn"], False, "warn"),
        (["pass", "warn"], True, "fail"),
        (["pass", "pass"], True, "pass"),
        (["warn", "fail"], False, "fail"),
        (["pass", "no data"], False, "fail"),
        (["no data"], True, "fail"),
    ],
)
def test_scenario_status_is_the_worst_metric_with_no_data_as_fail(
    statuses: list[str], fail_on_warn: bool, expected: Status
) -> None:
    assert scenario_status([_verdict(s) for s in statuses], fail_on_warn) == expected
