"""Seeded simulations of the 95% intervals on judge-like scores (issue 13, point 4).

Data model: a sample's true quality q ~ Beta(9, 1.5), skewed towards the top as judge
scores are; a judge answers on a grid of 0.05. Coverage: n scores round(q, 0.05) (the
issue's measurement), how often the mean's interval holds their true mean. False alarm:
two runs of the same system over the same n samples, each judged with noise
round(q + N(0, JUDGE_NOISE_SD), 0.05) clipped to 0..1, how often the paired interval of
current - baseline excludes zero on either side (a gate needs one side, and a drop beyond
its margin too: this is the looser figure). Used by tests/results/test_interval_coverage.py
(small) and tests/perf/sim_intervals.py (4,000 trials).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from pytest_llmbench.results.statistics import paired_difference, summarize

__all__ = ["JUDGE_NOISE_SD", "SCORE_RANGE", "coverage", "false_alarm", "true_mean"]

ALPHA, BETA, GRID = 9.0, 1.5, 0.05
JUDGE_NOISE_SD = 0.05
SCORE_RANGE = (0.0, 1.0)
_GRID_POINTS = round(1 / GRID)


def _on_grid(x: float) -> float:
    return min(max(round(x / GRID), 0), _GRID_POINTS) / _GRID_POINTS


def true_mean() -> float:
    """The mean of round(q, 0.05) for q ~ Beta(9, 1.5), by integrating the density over
    each grid cell (midpoint rule, 2,000 steps a cell: exact to ~1e-9)."""
    log_norm = math.lgamma(ALPHA + BETA) - math.lgamma(ALPHA) - math.lgamma(BETA)
    steps = 2000
    total = 0.0
    for k in range(_GRID_POINTS + 1):
        lo, hi = max((k - 0.5) * GRID, 0.0), min((k + 0.5) * GRID, 1.0)
        h = (hi - lo) / steps
        mass = math.fsum(
            math.exp(log_norm + (ALPHA - 1) * math.log(x) + (BETA - 1) * math.log1p(-x)) * h
            for x in (lo + (i + 0.5) * h for i in range(steps))
        )
        total += mass * k / _GRID_POINTS
    return total


def coverage(n: int, trials: int, seed: int, mean: float | None = None) -> float:
    """The fraction of `trials` runs of n scores whose mean's interval holds the mean."""
    rng = random.Random(seed)
    mu = true_mean() if mean is None else mean
    held = 0
    for _ in range(trials):
        scores = [_on_grid(rng.betavariate(ALPHA, BETA)) for _ in range(n)]
        ci = summarize(scores, "mean", SCORE_RANGE).ci95
        assert ci is not None
        held += ci[0] <= mu <= ci[1]
    return held / trials


def false_alarm(n: int, trials: int, seed: int) -> float:
    """The fraction of `trials` pairs of runs of one system whose paired interval
    excludes zero."""
    rng = random.Random(seed)
    judged: Callable[[float], float] = lambda q: _on_grid(rng.gauss(q, JUDGE_NOISE_SD))  # noqa: E731
    alarms = 0
    for _ in range(trials):
        quality = [rng.betavariate(ALPHA, BETA) for _ in range(n)]
        baseline = {str(i): judged(q) for i, q in enumerate(quality)}
        current = {str(i): judged(q) for i, q in enumerate(quality)}
        ci = paired_difference(current, baseline, SCORE_RANGE).ci95
        assert ci is not None
        alarms += ci[0] > 0 or ci[1] < 0
    return alarms / trials
