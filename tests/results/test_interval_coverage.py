"""The 95% intervals hold on judge-like scores: a small seeded run of the simulation
(tests/support/interval_simulation.py) that tests/perf/sim_intervals.py runs at 4,000
trials for every n in {5, 12, 48, 200} (its figures are in the README).

Seeded, so each figure here is fixed; the trial counts keep this file to a few seconds,
and at them a figure has a Monte Carlo standard error of up to sqrt(0.95 * 0.05 / trials)
(0.007 at 1,000 trials). The tolerance: coverage must reach the goal 0.945 less two such
errors, and the false alarm stay under 0.05 plus two (for the false alarm, a standard
error at its goal of 0.05). n = 200 is left to the script: 999 resamples of 200 cost
~40 ms a trial.
"""

from __future__ import annotations

import math

import pytest
from support.interval_simulation import coverage, false_alarm, true_mean

COVERAGE_GOAL, FALSE_ALARM_GOAL = 0.945, 0.05
TRIALS = {5: 1000, 12: 500, 48: 200}


def _two_se(p: float, trials: int) -> float:
    return 2 * math.sqrt(p * (1 - p) / trials)


def test_the_simulated_true_mean_is_the_grid_mean_of_beta_9_1_5() -> None:
    # 9 / 10.5 = 0.857143 before rounding to the 0.05 grid; rounding moves it a little.
    assert true_mean() == pytest.approx(0.857356, abs=1e-6)


@pytest.mark.parametrize("n", sorted(TRIALS))
def test_a_mean_interval_covers_at_least_nominally_on_skewed_grid_scores(n: int) -> None:
    trials = TRIALS[n]
    assert coverage(n, trials, seed=n) >= COVERAGE_GOAL - _two_se(0.95, trials)


@pytest.mark.parametrize("n", sorted(TRIALS))
def test_two_runs_of_one_system_rarely_differ_for_sure(n: int) -> None:
    trials = TRIALS[n]
    assert false_alarm(n, trials, seed=1000 + n) <= FALSE_ALARM_GOAL + _two_se(0.05, trials)
