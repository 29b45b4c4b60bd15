"""The judge's noise over repeats (results/noise.py): pooled within-sample SD, ICC(1) with
its F interval and the resolution a gate can see, against hand-computed tables, and
properties that hold for any repeated scores."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.results.noise import judge_noise, metric_repeats, resolution
from pytest_llmbench.results.schema import SampleRecord
from pytest_llmbench.results.statistics import f_quantile

# Four samples judged three times: means 0.6 .. 0.9, each repeat 0.05 either side.
#   SSW = 4 * (0.05² + 0 + 0.05²) = 0.02, df 8: MSW = 0.0025, noise SD 0.05
#   grand mean 0.75, SSB = 3 * (0.15² + 0.05² + 0.05² + 0.15²) = 0.15, df 3: MSB = 0.05
#   ICC(1) = (0.05 - 0.0025) / (0.05 + 2 * 0.0025) = 0.0475 / 0.055 = 19 / 22
TABLE = [[m - 0.05, m, m + 0.05] for m in (0.6, 0.7, 0.8, 0.9)]


def test_noise_sd_and_icc_of_a_small_table_match_the_hand_computed_values() -> None:
    noise = judge_noise(TABLE)
    assert noise is not None
    assert noise.sd == pytest.approx(0.05, abs=1e-12)
    assert noise.icc == pytest.approx(19 / 22, abs=1e-12)
    assert (noise.samples, noise.k0, noise.judgements) == (4, 3.0, 12)
    # F = MSB / MSW = 20; F(0.975; 3, 8) = 5.4160, F(0.975; 8, 3) = 14.540 (printed tables)
    f_low, f_high = 20 / 5.41596, 20 * 14.5399
    assert noise.ci95 is not None
    assert noise.ci95[0] == pytest.approx((f_low - 1) / (f_low + 2), abs=1e-4)
    assert noise.ci95[1] == pytest.approx((f_high - 1) / (f_high + 2), abs=1e-4)
    assert noise.ci95[0] == pytest.approx(0.4730, abs=1e-4)
    assert noise.ci95[1] == pytest.approx(0.9898, abs=1e-4)


def test_unequal_repeats_pool_by_degrees_of_freedom_and_adjust_k0() -> None:
    # [0.2, 0.4]: SS 0.02 (df 1); [0.5, 0.6, 0.7]: SS 0.02 (df 2); MSW = 0.04 / 3
    noise = judge_noise([[0.2, 0.4], [0.5, 0.6, 0.7]])
    assert noise is not None
    assert noise.sd == pytest.approx(math.sqrt(0.04 / 3), abs=1e-12)
    # k0 = (N - Σk²/N) / (n - 1) = (5 - 13/5) / 1 = 2.4
    assert noise.k0 == pytest.approx(2.4)
    # grand mean 2.4 / 5 = 0.48; SSB = 2 * 0.18² + 3 * 0.12² = 0.108, MSB = 0.108
    msw = 0.04 / 3
    assert noise.icc == pytest.approx((0.108 - msw) / (0.108 + 1.4 * msw), abs=1e-12)


@pytest.mark.parametrize(
    ("groups", "sd", "icc", "ci95"),
    [
        ([[0.5, 0.5], [0.9, 0.9]], 0.0, 1.0, (1.0, 1.0)),  # the judge never wavers
        ([[0.5, 0.5], [0.5, 0.5]], 0.0, None, None),  # nothing varies: no agreement figure
        ([[0.4, 0.6]], 0.1 * math.sqrt(2), None, None),  # one sample: SD, no ICC
    ],
)
def test_degenerate_tables(
    groups: list[list[float]], sd: float, icc: float | None, ci95: tuple[float, float] | None
) -> None:
    noise = judge_noise(groups)
    assert noise is not None
    assert noise.sd == pytest.approx(sd, abs=1e-12)
    assert noise.icc == icc
    assert noise.ci95 == ci95


def test_samples_judged_once_give_no_noise() -> None:
    assert judge_noise([]) is None
    assert judge_noise([[0.5], [0.7]]) is None
    # and are left out of the pooled SD beside samples judged twice
    assert judge_noise([[0.5], [0.4, 0.6]]) == judge_noise([[0.4, 0.6]])


@pytest.mark.parametrize(
    ("p", "df1", "df2", "value"),
    [  # printed F tables (and scipy.stats.f.ppf), to their digits
        (0.975, 3, 8, 5.4160),
        (0.975, 8, 3, 14.540),
        (0.975, 4, 10, 4.4683),
        (0.95, 1, 1, 161.45),
        (0.95, 10, 20, 2.3479),
        (0.5, 3, 7, 0.87094),
        (0.975, 30, 60, 1.8152),
    ],
)
def test_f_quantile_matches_the_tables(p: float, df1: int, df2: int, value: float) -> None:
    assert f_quantile(p, df1, df2) == pytest.approx(value, rel=1e-4)


def test_resolution_is_the_95_percent_half_width_of_a_difference_of_two_runs_noise() -> None:
    # 1.96 * 0.05 * sqrt(2 / 12)
    assert resolution(0.05, 12) == pytest.approx(1.959963984540054 * 0.05 * math.sqrt(2 / 12))
    assert resolution(0.05, 12) == pytest.approx(0.04001, abs=1e-5)


def test_metric_repeats_reads_each_samples_scored_repeats_of_the_metric() -> None:
    samples: list[SampleRecord] = [
        {  # type: ignore[typeddict-item]
            "id": "a",
            "repeats": [
                {"scores": {"coverage": 0.5, "accuracy": 0.1}, "status": "scored"},
                {"scores": {}, "status": "unscored", "reason": "timed out"},
                {"scores": {"coverage": 0.7, "accuracy": 0.2}, "status": "scored"},
            ],
        },
        {"id": "b"},  # type: ignore[typeddict-item]
    ]
    assert metric_repeats(samples, "coverage") == [[0.5, 0.7]]
    assert metric_repeats(samples, "latency") == []


scores = st.floats(0, 1, allow_nan=False)
tables = st.lists(st.lists(scores, min_size=2, max_size=6), min_size=1, max_size=12)


@given(tables, st.randoms(use_true_random=False))
def test_noise_depends_only_on_the_multiset_of_each_samples_scores(
    groups: list[list[float]], rng: random.Random
) -> None:
    shuffled = [rng.sample(g, len(g)) for g in groups]
    rng.shuffle(shuffled)
    assert judge_noise(shuffled) == judge_noise(groups)


@given(tables)
def test_noise_is_bounded_and_the_icc_lies_in_its_interval(groups: list[list[float]]) -> None:
    noise = judge_noise(groups)
    assert noise is not None
    assert 0 <= noise.sd <= math.sqrt(0.5) + 1e-9  # [0, 1] judged twice: the widest
    if noise.icc is not None:
        k0 = noise.k0
        assert -1 / (k0 - 1) - 1e-9 <= noise.icc <= 1 + 1e-9
        assert noise.ci95 is not None
        low, high = noise.ci95
        assert low - 1e-9 <= noise.icc <= high + 1e-9
        assert high <= 1 + 1e-9


@given(tables, st.floats(-0.5, 0.5))
def test_shifting_every_score_leaves_the_noise_sd_as_it_was(
    groups: list[list[float]], shift: float
) -> None:
    before, after = judge_noise(groups), judge_noise([[v + shift for v in g] for g in groups])
    assert before is not None and after is not None
    assert after.sd == pytest.approx(before.sd, abs=1e-9)
