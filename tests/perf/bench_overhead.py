"""Plugin overhead: dry-run samples of about 1 KB against plain pytest over the same samples.

    python tests/perf/bench_overhead.py [--sizes 10000,100000] [--reference data|trivial]

For each size, in one temporary directory, two projects, each with an empty pytest.ini:
  llmbench/  the generated benchmark project (DESIGN.md's test body,
             `judge(sample.output)`) with realistic samples of about 1 KB (like
             data/benchmarks/), run with --llmbench-judge=dry-run;
  plain/     plain pytest, no plugin loaded: `--reference data` (the default) reads the same
             JSONL with json and parametrizes one test over its samples, with the same ids;
             `--reference trivial` is @pytest.mark.parametrize("i", range(N)) asserting True.
Both with `-q -p no:cacheprovider`, --repeat times each, interleaved; medians of wall time
(spawn to exit) and peak resident memory (/usr/bin/time -v, else getrusage of a
`python -c` wrapper). Goal (issue 12): wall <= 1.25x and peak RSS <= 1.3x at each size.
`--check` exits 1 above either. --latency and --concurrency only shape the generated
config (a dry run sends nothing).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import _perf as P

GOAL_WALL = 1.25
GOAL_RSS = 1.3


def main() -> int:
    p = P.parser(__doc__.split("\n\n")[0], samples=0)
    p.add_argument(
        "--sizes",
        default="10000,100000",
        help="comma-separated sample counts (default 10000,100000; --samples N means N only)",
    )
    p.add_argument(
        "--reference",
        choices=("data", "trivial"),
        default="data",
        help="the plain-pytest side: the same samples parametrized (data) or range(N) (trivial)",
    )
    p.add_argument(
        "--rss",
        choices=("auto", "time-v", "getrusage"),
        default="auto",
        help="how peak memory is measured (auto: /usr/bin/time -v when present)",
    )
    args = p.parse_args()
    P.setup(args)
    sizes = [args.samples] if args.samples else [int(n) for n in args.sizes.split(",")]
    how = args.rss
    if how == "auto":
        how = "time-v" if os.access(P.TIME_V, os.X_OK) else "getrusage"
    P.banner(
        f"bench_overhead: dry-run samples of ~1 KB vs plain pytest ({args.reference}), sizes {sizes}"
    )
    print(
        f"peak memory via {'/usr/bin/time -v' if how == 'time-v' else 'getrusage(RUSAGE_CHILDREN) in a python -c wrapper'}"
    )
    summaries = []
    ok = True
    with P.workdir(args.keep) as work:
        warm_up(work, args)
        for n in sizes:
            line, good = one_size(work / f"n{n}", n, args, how)
            summaries.append(line)
            ok = ok and good
        load_end = P.loadavg()
    for line in summaries:
        print(f"SUMMARY bench_overhead: {line}; {load_end}")
    return 1 if args.check and not ok else 0


def commands(work: Path, n: int, args: argparse.Namespace) -> dict[str, tuple[list[str], Path]]:
    bench = P.write_project(work / "llmbench", n, args.concurrency, prefetch=False, realistic=True)
    if args.reference == "data":
        plain, target = P.write_plain_data_project(work / "plain", n), "test_plain.py"
    else:
        plain, target = P.write_trivial_project(work / "plain", n), "test_trivial.py"
    return {
        "llmbench": (
            P.pytest_command("-q", "-p", "no:cacheprovider", "--llmbench-judge=dry-run",
                             f"--llmbench-json={work / 'record.json'}", "benchmarks"),
            bench,
        ),
        "plain": (P.pytest_command("-q", "-p", "no:cacheprovider", target, plugins=()), plain),
    }  # fmt: skip


def warm_up(work: Path, args: argparse.Namespace) -> None:
    print("-- warm-up (untimed): both sides on 10-sample copies")
    for side, (command, cwd) in commands(work / "warm-up", 10, args).items():
        P.run(command, cwd, work / f"log-warm-up-{side}.txt")


def one_size(work: Path, n: int, args: argparse.Namespace, how: str) -> tuple[str, bool]:
    print(f"== {n} samples")
    sides: dict[str, list[P.Run]] = {"llmbench": [], "plain": []}
    planned = commands(work, n, args)
    for r in range(args.repeat):
        print(f"-- round {r + 1}/{args.repeat}  ({P.loadavg()})", flush=True)
        for side, (command, cwd) in planned.items():
            result = P.measured(command, cwd, work / f"log-{side}-{r}.txt", how, quiet=r > 0)
            sides[side].append(result)
            print(f"   {side:<9} wall {result.wall_s:6.2f} s, cpu {result.cpu_s:6.2f} s, "
                  f"peak RSS {(result.max_rss_kb or 0) / 1024:6.1f} MiB, exit {result.returncode}",
                  flush=True)  # fmt: skip
    judged = P.scored_samples(P.read_record(work / "record.json"))

    def med(side: str, attr: str) -> float:
        return P.median([float(getattr(x, attr) or 0) for x in sides[side]])

    ok_runs = all(x.returncode == 0 for runs in sides.values() for x in runs) and judged == n
    rows: dict[str, float] = {}
    print(
        f"every run passed and the last llmbench run scored all {n} samples: {'yes' if ok_runs else 'NO'} "
        f"({judged} scored)"
    )
    print(f"{'':<16}{'llmbench':>12}{'plain':>12}{'ratio':>8}  goal")
    goals = {
        "wall_s": f"<= {GOAL_WALL}",
        "cpu_s": "(informational)",
        "max_rss_kb": f"<= {GOAL_RSS}",
    }
    for label, attr, unit, scale in (
        ("wall time", "wall_s", "s", 1.0),
        ("cpu time", "cpu_s", "s", 1.0),
        ("peak RSS", "max_rss_kb", "MiB", 1 / 1024),
    ):
        a, b = med("llmbench", attr), med("plain", attr)
        rows[attr] = a / b if b else float("inf")
        print(
            f"{label:<16}{a * scale:>10.2f}{unit:>2}{b * scale:>10.2f}{unit:>2}{rows[attr]:>8.2f}  {goals[attr]}"
        )
    per = (med("llmbench", "wall_s") - med("plain", "wall_s")) / n * 1e6
    print(f"extra wall time per sample: {per:.0f} us", flush=True)
    ok = ok_runs and rows["wall_s"] <= GOAL_WALL and rows["max_rss_kb"] <= GOAL_RSS
    line = (f"{n} dry-run samples (~1 KB) vs plain pytest ({args.reference}): wall "
            f"{rows['wall_s']:.2f}x ({med('llmbench', 'wall_s'):.2f} s vs {med('plain', 'wall_s'):.2f} s), "
            f"peak RSS {rows['max_rss_kb']:.2f}x ({med('llmbench', 'max_rss_kb') / 1024:.0f} vs "
            f"{med('plain', 'max_rss_kb') / 1024:.0f} MiB); goal <= {GOAL_WALL}x wall, <= {GOAL_RSS}x "
            f"RSS; {P.verdict(ok)}")  # fmt: skip
    return line, ok


if __name__ == "__main__":
    sys.exit(main())
