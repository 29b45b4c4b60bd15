"""`llmbench merge`: join the records of `--llmbench-shard` runs into one run record."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pytest_llmbench.cli.common import FORMATTER, OK, PROG, CliError, Commands, write_record
from pytest_llmbench.errors import MergeError
from pytest_llmbench.results import record as record_mod


def add_command(commands: Commands) -> None:
    merge = commands.add_parser(
        "merge",
        help="join --llmbench-shard records into one run record",
        description="Join the records of `pytest --llmbench-shard=K/N` runs into the record "
        "one unsharded run would have written, gated once. Refuses records that are not "
        "shards, shards of different counts or configs (dataset, judge, prompt, metrics), "
        "the same shard twice, overlapping samples, and missing shards unless "
        "--allow-partial. The run block: a new id, the earliest start and latest finish, "
        "duration_s the wall-clock span between them, compute_s the sum of the shards' "
        "durations.",
        epilog="exit status:\n  0  merged and written (whatever the verdict: "
        "`llmbench report` gates it)\n  2  usage error, bad input or shards that cannot be "
        "merged",
        formatter_class=FORMATTER,
    )
    merge.add_argument("shards", nargs="+", metavar="SHARD.json", help="shard run records")
    merge.add_argument(
        "-o", "--output", required=True, metavar="RUN.json", help="the merged record"
    )
    merge.add_argument(
        "--allow-partial",
        action="store_true",
        help="merge even with shards missing (the run is then partial and not gated)",
    )
    merge.set_defaults(handler=cmd_merge)


def cmd_merge(args: argparse.Namespace) -> int:
    from pytest_llmbench.results import merge as merge_mod
    from pytest_llmbench.run.controller import new_run_id

    shards = [(path, record_mod.load(Path(path))) for path in args.shards]
    try:
        merged, notes = merge_mod.merge(
            shards,
            run_id=new_run_id(time.time()),
            argv=[PROG, "merge", *args.shards, "-o", args.output],
            allow_partial=args.allow_partial,
        )
    except MergeError as error:
        raise CliError(f"merge refused: {error}") from None
    write_record(merged, Path(args.output))
    for note in notes:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    samples = sum(len(s["samples"]) for s in merged["scenarios"].values())
    gate = "" if merged["gated"] else " (not gated)"
    print(
        f"merged {len(shards)} shard records ({samples} samples) into {args.output}: "
        f"verdict {merged['status']}{gate}"
    )
    return OK
