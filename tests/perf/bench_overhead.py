"""Plugin overhead: 10,000 dry-run samples against plain pytest running 10,000 trivial tests.

    python tests/perf/bench_overhead.py [--samples 10000]

In one temporary directory, two projects, each with an empty pytest.ini:
  llmbench/  the generated benchmark project (DESIGN.md's test body,
             `judge(sample.output)`), run with --llmbench-judge=dry-run;
  plain/     one test, @pytest.mark.parametrize("i", range(N)), asserting True, run with
             no plugin loaded: plain pytest.
Both with `-q -p no:cacheprovider`, --repeat times each, interleaved; medians of wall time
(spawn to exit) and peak resident memory (/usr/bin/time -v, else getrusage of a
`python -c` wrapper). DESIGN.md goal: each ratio <= 1.5. `--check` exits 1 above it.
--latency and --concurrency only shape the generated config (a dry run sends nothing).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import _perf as P

TIME_V = "/usr/bin/time"
RSS_WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(rc)"
)
_MAX_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


def measured(command: list[str], cwd: Path, log: Path, how: str, quiet: bool) -> P.Run:
    """Run `command` with its peak RSS (KiB) measured around it."""
    if how == "time-v":
        stats = log.with_suffix(".time")
        result = P.run([TIME_V, "-v", "-o", str(stats), *command], cwd, log, quiet=quiet)
        found = _MAX_RSS.search(stats.read_text(encoding="utf-8", errors="replace"))
        result.max_rss_kb = int(found.group(1)) if found else None
    else:
        stats = log.with_suffix(".rss")
        result = P.run([P.PYTHON, "-c", RSS_WRAPPER, str(stats), *command], cwd, log, quiet=quiet)
        result.max_rss_kb = int(stats.read_text())
    return result


def main() -> int:
    p = P.parser(__doc__.split("\n\n")[0], samples=P.OVERHEAD_SAMPLES)
    p.add_argument(
        "--rss",
        choices=("auto", "time-v", "getrusage"),
        default="auto",
        help="how peak memory is measured (auto: /usr/bin/time -v when present)",
    )
    args = p.parse_args()
    P.setup(args)
    n = args.samples
    how = args.rss
    if how == "auto":
        how = "time-v" if os.access(TIME_V, os.X_OK) else "getrusage"
    P.banner(f"bench_overhead: {n} dry-run samples vs {n} trivial parametrized tests")
    print(
        f"peak memory via {'/usr/bin/time -v' if how == 'time-v' else 'getrusage(RUSAGE_CHILDREN) in a python -c wrapper'}"
    )
    sides: dict[str, list[P.Run]] = {"llmbench": [], "plain": []}
    with P.workdir(args.keep) as work:
        bench = P.write_project(work / "llmbench", n, args.concurrency, prefetch=False)
        plain = P.write_trivial_project(work / "plain", n)
        commands: dict[str, tuple[list[str], Path]] = {
            "llmbench": (
                P.pytest_command("-q", "-p", "no:cacheprovider", "--llmbench-judge=dry-run",
                                 f"--llmbench-json={work / 'record.json'}", "benchmarks"),
                bench,
            ),
            "plain": (
                P.pytest_command("-q", "-p", "no:cacheprovider", "test_trivial.py", plugins=()),
                plain,
            ),
        }  # fmt: skip
        print("-- warm-up (untimed): both sides on 10-sample copies")
        for side, (command, _cwd) in commands.items():
            small = work / f"warm-up-{side}"
            if side == "llmbench":
                P.write_project(small, 10, args.concurrency, prefetch=False)
                warm_cmd = [c for c in command if not c.startswith("--llmbench-json")]
            else:
                P.write_trivial_project(small, 10)
                warm_cmd = command
            P.run(warm_cmd, small, work / f"log-warm-up-{side}.txt")
        for r in range(args.repeat):
            print(f"-- round {r + 1}/{args.repeat}  ({P.loadavg()})", flush=True)
            for side, (command, cwd) in commands.items():
                result = measured(command, cwd, work / f"log-{side}-{r}.txt", how, quiet=r > 0)
                sides[side].append(result)
                print(f"   {side:<9} wall {result.wall_s:6.2f} s, cpu {result.cpu_s:6.2f} s, "
                      f"peak RSS {(result.max_rss_kb or 0) / 1024:6.1f} MiB, exit {result.returncode}",
                      flush=True)  # fmt: skip
        judged = P.scored_samples(P.read_record(work / "record.json"))
        load_end = P.loadavg()

    def med(side: str, attr: str) -> float:
        return P.median([float(getattr(x, attr) or 0) for x in sides[side]])

    ok_runs = all(x.returncode == 0 for runs in sides.values() for x in runs) and judged == n
    rows: dict[str, float] = {}
    print()
    print(
        f"every run passed and the last llmbench run scored all {n} samples: {'yes' if ok_runs else 'NO'} "
        f"({judged} scored)"
    )
    print(f"{'':<16}{'llmbench':>12}{'plain':>12}{'ratio':>8}  goal")
    for label, attr, unit, scale in (
        ("wall time", "wall_s", "s", 1.0),
        ("cpu time", "cpu_s", "s", 1.0),
        ("peak RSS", "max_rss_kb", "MiB", 1 / 1024),
    ):
        a, b = med("llmbench", attr), med("plain", attr)
        rows[attr] = a / b if b else float("inf")
        goal = f"<= {P.GOAL_OVERHEAD}" if attr != "cpu_s" else "(informational)"
        print(
            f"{label:<16}{a * scale:>10.2f}{unit:>2}{b * scale:>10.2f}{unit:>2}{rows[attr]:>8.2f}  {goal}"
        )
    per = (med("llmbench", "wall_s") - med("plain", "wall_s")) / n * 1e6
    print(f"extra wall time per sample: {per:.0f} us")
    ok = ok_runs and rows["wall_s"] <= P.GOAL_OVERHEAD and rows["max_rss_kb"] <= P.GOAL_OVERHEAD
    print(f"SUMMARY bench_overhead: {n} dry-run samples vs plain pytest: wall {rows['wall_s']:.2f}x "
          f"({med('llmbench', 'wall_s'):.2f} s vs {med('plain', 'wall_s'):.2f} s), peak RSS "
          f"{rows['max_rss_kb']:.2f}x ({med('llmbench', 'max_rss_kb') / 1024:.0f} vs "
          f"{med('plain', 'max_rss_kb') / 1024:.0f} MiB); goal <= {P.GOAL_OVERHEAD}x each; "
          f"{P.verdict(ok)}; {load_end}")  # fmt: skip
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
