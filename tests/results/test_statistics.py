"""Aggregates, intervals and paired differences, against hand-computed values."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.results.statistics import (
    BOOTSTRAP_T_MAX_N,
    BOOTSTRAP_T_MIN_N,
    IntervalMethod,
    PairedDiff,
    Summary,
    _mean_se,
    _resampled_quantile,
    overlap,
    paired_difference,
    percentile,
    summarize,
    t_quantile,
)

T1 = 12.706204736  # t_{0.975} with 1 degree of freedom
T3 = 3.182446305
Z = 1.959963984540054  # normal 0.975 quantile, for the Wilson interval


def _wilson(k: int, n: int) -> tuple[float, float]:
    # The textbook formula, written out independently of the module's.
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return centre - half, centre + half


@pytest.mark.parametrize(
    ("df", "expected"),
    [
        (1, 12.706204736),
        (2, 4.302652730),
        (5, 2.570581836),
        (10, 2.228138852),
        (30, 2.042272456),
        (100, 1.983971519),
    ],
)
def test_t_quantile_matches_scipy_ppf(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-9)


def test_t_quantile_is_symmetric_about_zero() -> None:
    assert t_quantile(0.025, 5) == -t_quantile(0.975, 5)
    assert t_quantile(0.5, 7) == 0.0


def test_t_quantile_approaches_the_normal_quantile() -> None:
    assert t_quantile(0.975, 10**6) == pytest.approx(Z, abs=1e-5)


@pytest.mark.parametrize(("p", "df"), [(0.0, 3), (1.0, 3), (0.975, 0)])
def test_t_quantile_rejects_impossible_arguments(p: float, df: int) -> None:
    with pytest.raises(ValueError, match="need 0 < p < 1"):
        t_quantile(p, df)


@pytest.mark.parametrize(
    ("values", "value", "ci95"),
    [
        ([1, 2, 3, 4], 2.5, (2.5 - T3 * math.sqrt(5 / 3) / 2, 2.5 + T3 * math.sqrt(5 / 3) / 2)),
        ([4, 3, 2, 1], 2.5, (2.5 - T3 * math.sqrt(5 / 3) / 2, 2.5 + T3 * math.sqrt(5 / 3) / 2)),
        ([-3, -1], -2.0, (-2 - T1, -2 + T1)),  # sd sqrt(2), se 1
        ([0, 10], 5.0, (5 - 5 * T1, 5 + 5 * T1)),
    ],
)
def test_a_mean_of_2_to_4_values_has_the_student_t_interval(
    values: list[float], value: float, ci95: tuple[float, float]
) -> None:
    s = summarize(values)
    assert (s.value, s.n, s.method) == (value, len(values), "t")
    assert s.ci95 == pytest.approx(ci95, abs=1e-8)


def _t_interval(values: list[float]) -> tuple[float, float]:
    xs = sorted(values)
    mean, se = _mean_se(xs)
    half = t_quantile(0.975, len(xs) - 1) * se
    return mean - half, mean + half


SKEWED = [1.0, 0.95, 0.95, 0.9, 0.85, 0.9, 0.6, 0.95, 1.0, 0.8, 0.9, 0.35]  # a judge's, n = 12


@pytest.mark.parametrize("n", [BOOTSTRAP_T_MIN_N, 12, 48, BOOTSTRAP_T_MAX_N])
def test_a_mean_of_5_to_200_values_has_a_bootstrap_t_interval_containing_the_t_interval(
    n: int,
) -> None:
    values = (SKEWED * (n // len(SKEWED) + 1))[:n]
    s = summarize(values, "mean")
    t_lo, t_hi = _t_interval(values)
    assert s.method == "bootstrap-t"
    assert s.ci95 is not None
    assert s.ci95[0] <= t_lo and t_hi <= s.ci95[1]


def test_a_skewed_mean_reaches_further_towards_its_long_tail() -> None:
    # Scores piled near 1 with a tail down to 0.35: the bootstrap-t stretches the low side.
    s = summarize(SKEWED, "mean")
    t_lo, t_hi = _t_interval(SKEWED)
    assert s.ci95 is not None and s.value is not None
    assert s.value - s.ci95[0] > (t_hi - t_lo) / 2
    assert s.value - s.ci95[0] > s.ci95[1] - s.value


@pytest.mark.parametrize("n", [2, 3, BOOTSTRAP_T_MIN_N - 1, BOOTSTRAP_T_MAX_N + 1, 5000])
def test_a_mean_of_fewer_than_5_or_more_than_200_values_has_the_t_interval(n: int) -> None:
    values = [(i * 7 % 13) / 13 for i in range(n)]
    s = summarize(values, "mean")
    assert s.method == "t"
    assert s.ci95 == pytest.approx(_t_interval(values), abs=1e-12)


def test_a_mean_interval_is_clipped_to_the_possible_range() -> None:
    values = [1.0, 1.0, 1.0, 1.0, 0.95]
    unclipped = summarize(values, "mean")
    clipped = summarize(values, "mean", (0.0, 1.0))
    assert unclipped.ci95 is not None and unclipped.ci95[1] > 1.0
    assert clipped.ci95 is not None
    assert clipped.ci95 == (unclipped.ci95[0], 1.0)
    assert clipped.value == unclipped.value == pytest.approx(0.99)


def test_a_bound_never_crosses_the_mean_of_values_outside_the_range() -> None:
    s = summarize([2.0, 3.0], "mean", (0.0, 1.0))
    assert s.value == 2.5
    assert s.ci95 == (0.0, 2.5)


@given(
    st.lists(st.integers(0, 20).map(lambda k: k / 20), min_size=2, max_size=60),
    st.randoms(use_true_random=False),
)
def test_a_mean_interval_holds_the_mean_stays_in_range_and_ignores_order(
    values: list[float], rnd: random.Random
) -> None:
    s = summarize(values, "mean", (0.0, 1.0))
    assert s.ci95 is not None and s.value is not None
    assert 0.0 <= s.ci95[0] <= s.value <= s.ci95[1] <= 1.0
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert summarize(shuffled, "mean", (0.0, 1.0)) == s


@pytest.mark.parametrize("aggregate", ["mean", "median", "p95", "rate"])
def test_no_values_give_no_value_and_no_interval(aggregate: str) -> None:
    assert summarize([], aggregate) == Summary(None, 0, None, "none")


@pytest.mark.parametrize(
    ("aggregate", "values", "value"),
    [
        ("mean", [7.5], 7.5),
        ("median", [-2.0], -2.0),
        ("p95", [3.0], 3.0),
        ("rate", [1.0], 1.0),
        ("rate", [0.2], 0.0),
    ],
)
def test_one_value_has_no_interval(aggregate: str, values: list[float], value: float) -> None:
    assert summarize(values, aggregate) == Summary(value, 1, None, "none")


@pytest.mark.parametrize(
    ("aggregate", "method"), [("mean", "t"), ("median", "bootstrap"), ("p95", "bootstrap")]
)  # an all-equal mean is exact: no resampling to do
@pytest.mark.parametrize("v", [2.0, 0.1, -0.7, 1e6])
def test_equal_values_give_that_value_exactly_and_a_zero_width_interval(
    aggregate: str, method: IntervalMethod, v: float
) -> None:
    # 0.1 * 3 / 3 is not 0.1 in floats; all-equal must still report 0.1 exactly.
    assert summarize([v, v, v], aggregate) == Summary(v, 3, (v, v), method)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1, 2, 3, 4], 0.5, 2.5),
        ([1, 2, 3], 0.5, 2.0),
        ([1, 2, 3, 4], 0.95, 3.85),  # index 2.85: 3 + 0.85 * (4 - 3)
        ([0, 10], 0.95, 9.5),
        ([-5, -1], 0.5, -3.0),
        (list(range(1, 22)), 0.95, 20.0),  # index 19 exactly
        ([5], 0.95, 5.0),
    ],
)
def test_percentile_interpolates_linearly_like_numpy(
    values: list[float], q: float, expected: float
) -> None:
    assert percentile(values, q) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("aggregate", "values", "value"),
    [
        ("median", [3, 1, 2], 2.0),
        ("median", [4, 1, 3, 2], 2.5),
        ("median", [-1, -5], -3.0),
        ("p95", [4, 1, 3, 2], 3.85),
        ("p95", [10, 0], 9.5),
    ],
)
def test_median_and_p95_use_bootstrap_interval_within_the_data(
    aggregate: str, values: list[float], value: float
) -> None:
    s = summarize(values, aggregate)
    assert s.value == pytest.approx(value, abs=1e-12)
    assert s.method == "bootstrap"
    assert s.ci95 is not None
    assert min(values) <= s.ci95[0] <= s.ci95[1] <= max(values)


def test_bootstrap_interval_is_pinned() -> None:
    # A seeded bootstrap reproduces byte for byte; a change here changes every report.
    values = [float(v) for v in range(1, 11)]
    assert summarize(values, "p95") == Summary(9.549999999999999, 10, (7.0, 10.0), "bootstrap")
    assert summarize(values, "median") == Summary(5.5, 10, (3.0, 8.0), "bootstrap")


@pytest.mark.parametrize(("n", "q"), [(2, 0.5), (2, 0.95), (3, 0.5), (3, 0.95), (4, 0.95)])
def test_resampled_quantile_follows_the_with_replacement_distribution(n: int, q: float) -> None:
    # Exact distribution by enumerating all n**n resamples, against 20,000 seeded draws.
    xs = [float(10**i) for i in range(n)]  # distinct order statistics give distinct lerps
    exact = Counter(round(percentile(sorted(r), q), 9) for r in itertools.product(xs, repeat=n))
    rng = random.Random(1)
    draws = 20000
    sampled = Counter(round(_resampled_quantile(xs, q, rng), 9) for _ in range(draws))
    assert set(sampled) <= set(exact)
    total_variation = 0.5 * sum(
        abs(sampled[k] / draws - exact[k] / n**n) for k in exact.keys() | sampled.keys()
    )
    assert total_variation < 0.02


@pytest.mark.parametrize(
    ("values", "k"),
    [
        ([1, 0, 1, 1], 3),
        ([0, 0, 0], 0),
        ([1, 1], 2),
        ([0.5, 0.49], 1),  # 0.5 counts as a success, 0.49 does not
        ([0.2, 0.7, 0.9, 0.4], 2),
    ],
)
def test_rate_counts_values_from_one_half_with_wilson_interval(values: list[float], k: int) -> None:
    s = summarize(values, "rate")
    n = len(values)
    assert (s.value, s.n, s.method) == (k / n, n, "wilson")
    lo, hi = _wilson(k, n)
    assert s.ci95 == pytest.approx((max(lo, 0.0), min(hi, 1.0)), abs=1e-12)


def test_rate_interval_for_three_of_four_matches_published_wilson_bounds() -> None:
    assert summarize([1, 1, 1, 0], "rate").ci95 == pytest.approx((0.30064, 0.95441), abs=1e-5)


def test_rate_interval_is_exactly_zero_or_one_at_the_extremes() -> None:
    none, every = summarize([0, 0, 0], "rate").ci95, summarize([1, 1, 1], "rate").ci95
    assert none is not None and every is not None
    assert none[0] == 0.0 and none[1] == pytest.approx(0.5614970317550454)
    assert every[0] == pytest.approx(1 - 0.5614970317550454) and every[1] == 1.0


def test_unknown_aggregate_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown aggregate 'p99'"):
        summarize([1.0], "p99")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_an_error(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        summarize([1.0, bad])


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
aggregates = st.sampled_from(["mean", "median", "p95", "rate"])


@given(st.lists(finite, max_size=30), aggregates, st.randoms(use_true_random=False))
def test_summarize_does_not_depend_on_order(
    values: list[float], aggregate: str, rnd: random.Random
) -> None:
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert summarize(shuffled, aggregate) == summarize(values, aggregate)


@given(st.lists(finite, min_size=2, max_size=30), st.sampled_from(["mean", "rate"]))
def test_mean_and_rate_intervals_contain_the_value(values: list[float], aggregate: str) -> None:
    s = summarize(values, aggregate)
    assert s.value is not None and s.ci95 is not None
    assert s.ci95[0] <= s.value <= s.ci95[1]


@given(st.lists(finite, min_size=2, max_size=30), st.sampled_from(["median", "p95"]))
def test_bootstrap_intervals_stay_within_the_data(values: list[float], aggregate: str) -> None:
    # The percentile bootstrap need not contain the point value; it cannot leave the data.
    s = summarize(values, aggregate)
    assert s.ci95 is not None
    assert min(values) <= s.ci95[0] <= s.ci95[1] <= max(values)


@pytest.mark.parametrize(
    ("current", "baseline", "expected"),
    [
        (
            {"a": 1, "b": 2, "c": 3},
            {"a": 0.5, "b": 1.5, "d": 9},
            PairedDiff(0.5, (0.5, 0.5), 2, "t"),
        ),
        ({"a": 1, "b": 0}, {"a": 0, "b": 1}, PairedDiff(0.0, (-T1, T1), 2, "t")),
        ({"a": 3}, {"a": 1, "b": 5}, PairedDiff(2.0, None, 1, "none")),
        ({"a": 3}, {"b": 5}, PairedDiff(None, None, 0, "none")),
        ({}, {}, PairedDiff(None, None, 0, "none")),
    ],
)
def test_paired_difference_compares_shared_keys_only(
    current: dict[str, float], baseline: dict[str, float], expected: PairedDiff
) -> None:
    got = paired_difference(current, baseline)
    assert (got.mean, got.n, got.method) == (expected.mean, expected.n, expected.method)
    if expected.ci95 is None:
        assert got.ci95 is None
    else:
        assert got.ci95 == pytest.approx(expected.ci95, abs=1e-8)


def test_paired_difference_pairs_by_key_not_by_position() -> None:
    # Same multisets, different pairing: a paired test must see a constant +1 shift.
    current = {"a": 2.0, "b": 3.0, "c": 4.0}
    baseline = {"c": 3.0, "a": 1.0, "b": 2.0}
    assert paired_difference(current, baseline) == PairedDiff(1.0, (1.0, 1.0), 3, "t")


keys = st.text(alphabet="abcdef", min_size=1, max_size=3)


@given(
    st.dictionaries(keys, finite, max_size=12),
    st.dictionaries(keys, finite, max_size=12),
    st.randoms(use_true_random=False),
)
def test_paired_difference_does_not_depend_on_key_order(
    current: dict[str, float], baseline: dict[str, float], rnd: random.Random
) -> None:
    def reordered(d: dict[str, float]) -> dict[str, float]:
        items = list(d.items())
        rnd.shuffle(items)
        return dict(items)

    assert paired_difference(reordered(current), reordered(baseline)) == paired_difference(
        current, baseline
    )


@pytest.mark.parametrize(
    ("current", "baseline", "expected"),
    [
        (["a", "b", "c"], ["b", "c", "d", "e"], (2, 1, 2)),
        (["a"], ["a"], (1, 0, 0)),
        ([], ["a"], (0, 0, 1)),
        (["a", "a"], [], (0, 1, 0)),
        ([], [], (0, 0, 0)),
    ],
)
def test_overlap_counts_compared_new_and_missing(
    current: list[str], baseline: list[str], expected: tuple[int, int, int]
) -> None:
    assert overlap(current, baseline) == expected


def test_a_mean_of_values_too_small_to_square_keeps_the_t_interval() -> None:
    summary = summarize([0.0, 0.0, 0.0, 0.0, 1.5370021714916877e-177], "mean")
    assert summary.method == "t"
    assert summary.value is not None and summary.ci95 is not None
    assert summary.ci95[0] <= summary.value <= summary.ci95[1]
