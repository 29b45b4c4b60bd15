"""`llmbench history` over many large records: peak memory and time against loading one.

    python tests/perf/bench_history.py [--records 100] [--samples 10000]

In one temporary directory: one real run record, made by a dry run of the generated
benchmark project with --samples realistic samples (~1 KB each, see _perf.py), copied
--records times with each copy's run id, start time and commit its own (written with the
plugin's record writer). Then, --repeat times each, interleaved:
  history    `llmbench history DIR --html OUT` (the table and the page);
  reference  a `python -c` that loads one of those records with record.load (checked
             whole, as history checks each).
Medians of wall time and peak RSS (/usr/bin/time -v, else getrusage of a wrapper). Goal
(issue 12): history's peak RSS <= 300 MiB for 100 records of 10,000 samples. `--check`
exits 1 above it. The ratio to the reference says how many records' worth history holds.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import _perf as P

GOAL_MIB = 300
LOAD_ONE = (
    "import sys; from pathlib import Path; from pytest_llmbench.results import record; "
    "r = record.load(Path(sys.argv[1])); print(sum(len(s['samples']) for s in r['scenarios'].values()))"
)


def make_records(work: Path, records: int, samples: int) -> tuple[Path, Path]:
    """The folder of `records` copies of one real record, and the original."""
    from pytest_llmbench.results import record as record_mod

    project = P.write_project(
        work / "project", samples, P.CONCURRENCY, prefetch=False, realistic=True
    )
    original = work / "one" / "record.json"
    original.parent.mkdir(parents=True)
    made = P.run(
        P.pytest_command("-q", "-p", "no:cacheprovider", "--llmbench-judge=dry-run",
                         f"--llmbench-json={original}", "benchmarks"),
        project, work / "log-make-record.txt",
    )  # fmt: skip
    if made.returncode not in (0, 1):  # 1: a band failed, still a record
        raise SystemExit(f"could not make the record: exit {made.returncode}")
    base = json.loads(original.read_text(encoding="utf-8"))
    folder = work / "history"
    folder.mkdir()
    for index in range(records):
        day, hour = divmod(index, 24)
        copy = dict(base)
        copy["run"] = {
            **base["run"],
            "id": f"2025{(day // 28) + 1:02d}{day % 28 + 1:02d}T{hour:02d}0000Z-{index:06x}",
            "started_at": f"2025-{(day // 28) + 1:02d}-{day % 28 + 1:02d}T{hour:02d}:00:00Z",
            "git": {"commit": f"{index:040x}", "branch": "main"},
        }
        record_mod.write(copy, folder / f"run-{index:04d}.json")  # type: ignore[arg-type]
    return folder, original


def main() -> int:
    p = P.parser(__doc__.split("\n\n")[0], samples=10_000)
    p.add_argument("--records", type=int, default=100, help="records (default 100)")
    p.add_argument(
        "--rss",
        choices=("auto", "time-v", "getrusage"),
        default="auto",
        help="how peak memory is measured (auto: /usr/bin/time -v when present)",
    )
    args = p.parse_args()
    P.setup(args)
    how = args.rss
    if how == "auto":
        how = "time-v" if os.access(P.TIME_V, os.X_OK) else "getrusage"
    P.banner(
        f"bench_history: llmbench history over {args.records} records of {args.samples} samples"
    )
    llmbench = str(Path(P.PYTHON).parent / "llmbench")
    sides: dict[str, list[P.Run]] = {"history": [], "reference": []}
    with P.workdir(args.keep) as work:
        print("-- making the records")
        folder, original = make_records(work, args.records, args.samples)
        size = sum(f.stat().st_size for f in folder.glob("*.json"))
        print(f"   {args.records} records, {size / 2**20:.0f} MiB on disk "
              f"({original.stat().st_size / 2**20:.1f} MiB each)")  # fmt: skip
        commands = {
            "history": [llmbench, "history", str(folder), "--html", str(work / "history.html")],
            "reference": [P.PYTHON, "-c", LOAD_ONE, str(next(iter(sorted(folder.glob("*.json")))))],
        }
        for r in range(args.repeat):
            print(f"-- round {r + 1}/{args.repeat}  ({P.loadavg()})", flush=True)
            for side, command in commands.items():
                result = P.measured(command, work, work / f"log-{side}-{r}.txt", how, quiet=r > 0)
                sides[side].append(result)
                print(f"   {side:<9} wall {result.wall_s:6.2f} s, peak RSS "
                      f"{(result.max_rss_kb or 0) / 1024:7.1f} MiB, exit {result.returncode}",
                      flush=True)  # fmt: skip
        rows = (work / "log-history-0.txt").read_text(encoding="utf-8").count("\n")
        load_end = P.loadavg()

    def med(side: str, attr: str) -> float:
        return P.median([float(getattr(x, attr) or 0) for x in sides[side]])

    ok_runs = all(x.returncode == 0 for runs in sides.values() for x in runs)
    wall = med("history", "wall_s") / med("reference", "wall_s")
    rss_h, rss_r = med("history", "max_rss_kb") / 1024, med("reference", "max_rss_kb") / 1024
    ok = ok_runs and rss_h <= GOAL_MIB
    print(f"\nevery run exited 0: {'yes' if ok_runs else 'NO'}; the table has {rows} lines")
    print(f"SUMMARY bench_history: {args.records} records of {args.samples} samples: history "
          f"--html peak RSS {rss_h:.0f} MiB ({rss_h / rss_r:.2f}x loading one record, "
          f"{rss_r:.0f} MiB), wall {med('history', 'wall_s'):.1f} s ({wall:.1f}x loading one, "
          f"{med('reference', 'wall_s'):.2f} s); goal <= {GOAL_MIB} MiB; {P.verdict(ok)}; "
          f"{load_end}")  # fmt: skip
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
