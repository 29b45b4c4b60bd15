"""What verifying a frozen dataset costs: 10,000 samples of about 1 KB, in one process.

    python tests/perf/bench_manifest.py [--samples 10000] [--repeat 5]

In one temporary directory, the realistic dataset of bench_overhead (write_project,
realistic=True), frozen with datasets.manifest. Timed in this process, --repeat times
each, medians: reading the dataset (load_dataset, what every run does), the manifest of
the samples read (manifest.of_dataset) and the frozen manifest read and compared
(manifest.load + manifest_diff.diff): the last two are what the plugin adds at collection
for a frozen dataset. Then the same dry run (`--llmbench-judge=dry-run -q`) with and
without the manifest beside the dataset, as subprocesses, interleaved: the ratio of wall
times. It measures; --check exits 1 when verification adds more than 10% to the run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import _perf as P

from pytest_llmbench.benchmark.dataset import load_dataset
from pytest_llmbench.datasets import manifest
from pytest_llmbench.datasets.manifest_diff import diff

GOAL_RUN_RATIO = 1.10


def timed(step: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - start)
    return P.median(times), result


def main() -> int:
    p = P.parser(__doc__.split("\n\n")[0], samples=10_000)
    args = p.parse_args()
    P.setup(args)
    repeat = max(args.repeat, 1)
    P.banner(f"bench_manifest: verifying a frozen dataset of {args.samples} samples of ~1 KB")
    with P.workdir(args.keep) as work:
        root = P.write_project(work / "llmbench", args.samples, 8, prefetch=False, realistic=True)
        path = root / "data" / "digest.jsonl"
        load_s, data = timed(lambda: load_dataset(path, "data/digest.jsonl"), repeat)
        build_s, built = timed(lambda: manifest.of_dataset(data), repeat)
        written = manifest.write(path, built)
        compare_s, _ = timed(lambda: diff(manifest.load(written)[0], built), repeat)
        size = written.stat().st_size
        print(
            f"dataset {path.stat().st_size / 1e6:.1f} MB: load_dataset {load_s * 1e3:.0f} ms; "
            f"of_dataset {build_s * 1e3:.0f} ms; load manifest + diff {compare_s * 1e3:.0f} ms; "
            f"manifest {size / 1e6:.2f} MB"
        )
        command = P.pytest_command("--llmbench-judge=dry-run", "-q", "-p", "no:cacheprovider")
        P.run(command, root, work / "warm.log", quiet=True)  # untimed: bytecode, page cache
        walls: dict[str, list[float]] = {"frozen": [], "not frozen": []}
        aside = written.with_name("aside.json")
        for _ in range(repeat):
            for side in walls:
                if side == "not frozen":
                    written.replace(aside)
                result = P.run(command, root, work / "run.log", quiet=True)
                if side == "not frozen":
                    aside.replace(written)
                walls[side].append(result.wall_s)
        frozen, plain = P.median(walls["frozen"]), P.median(walls["not frozen"])
        print(
            f"dry run: frozen {frozen:.2f} s {P.spread(walls['frozen'], '{:.2f}')}, not frozen "
            f"{plain:.2f} s {P.spread(walls['not frozen'], '{:.2f}')}"
        )
    ratio = frozen / plain
    ok = ratio <= GOAL_RUN_RATIO
    added_ms = (build_s + compare_s) * 1e3
    print(
        f"SUMMARY bench_manifest: {args.samples} samples: verification {added_ms:.0f} ms in "
        f"process; dry run frozen/not frozen {ratio:.3f}x (goal <= {GOAL_RUN_RATIO}x, "
        f"{P.verdict(ok)}); {P.loadavg()}"
    )
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
