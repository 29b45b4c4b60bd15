"""Coverage and false-alarm rate of the 95% intervals on judge-like scores (issue 13).

    python tests/perf/sim_intervals.py [--trials 4000] [--check]

The data model is tests/support/interval_simulation.py's: Beta(9, 1.5) scores rounded to
0.05; two runs of one system with judge noise for the false alarm. Seeded: the same
figures every run. Goal (issue 13, point 4): coverage >= 0.945 at every n and a false
alarm <= 0.05. `--check` exits 1 when a figure misses it. Takes ~4 minutes at 4,000 trials
on one core: the bootstrap-t is pure Python, 999 resamples of n.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.interval_simulation import coverage, false_alarm, true_mean

SIZES = (5, 12, 48, 200)
COVERAGE_GOAL, FALSE_ALARM_GOAL = 0.945, 0.05


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=4000)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    mu = true_mean()
    missed = []
    for n in SIZES:
        cov = coverage(n, args.trials, seed=n, mean=mu)
        alarm = false_alarm(n, args.trials, seed=1000 + n)
        print(f"n={n:<4} coverage {cov:.4f}  false alarm {alarm:.4f}", flush=True)
        if cov < COVERAGE_GOAL or alarm > FALSE_ALARM_GOAL:
            missed.append(n)
    print(f"SUMMARY trials={args.trials} missed={missed} load={os.getloadavg()[0]:.2f}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
