"""`llmbench baseline promote`: make a run's scenarios the baselines of later runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_llmbench.cli.common import (
    FAILED,
    FORMATTER,
    OK,
    PROG,
    CliError,
    Commands,
    write_record,
)
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.schema import RunRecord

DEFAULT_BASELINES = Path("data/eval/baselines")


def add_command(commands: Commands) -> None:
    baseline = commands.add_parser(
        "baseline",
        help="manage baselines (promote a run)",
        description="Manage baseline run records.",
        formatter_class=FORMATTER,
    )
    baseline_commands = baseline.add_subparsers(dest="action", metavar="ACTION", required=True)
    promote = baseline_commands.add_parser(
        "promote",
        help="copy a run record into the baselines folder, one file per scenario",
        description="Write DIR/<scenario>.json for each scenario of RUN.json: a run record "
        "holding just that scenario, for --llmbench-baseline. Refuses failed, partial, "
        "ungated and shard runs unless --force.",
        epilog="exit status:\n  0  promoted\n  1  refused: the run failed, is partial, "
        "was not gated or is a shard (--force overrides)\n  2  usage error or bad input",
        formatter_class=FORMATTER,
    )
    promote.add_argument("record", metavar="RUN.json", help="a run record")
    promote.add_argument(
        "--dir",
        default=str(DEFAULT_BASELINES),
        metavar="DIR",
        help=f"the baselines folder (default {DEFAULT_BASELINES})",
    )
    promote.add_argument(
        "--scenario", action="append", metavar="NAME", help="only this scenario; repeatable"
    )
    promote.add_argument("--force", action="store_true", help="promote even a refused run")
    promote.set_defaults(handler=cmd_promote)


def cmd_promote(args: argparse.Namespace) -> int:
    record = record_mod.load(Path(args.record))
    refusals = promote_refusals(record)
    if refusals and not args.force:
        for reason in refusals:
            print(f"{PROG}: refused: {args.record} {reason}", file=sys.stderr)
        print(f"{PROG}: pass --force to promote it anyway", file=sys.stderr)
        return FAILED
    names = list(record["scenarios"])
    if args.scenario:
        unknown = [n for n in args.scenario if n not in record["scenarios"]]
        if unknown:
            raise CliError(
                f"{args.record} has no scenario {unknown[0]!r}; it has: {', '.join(names)}"
            )
        names = list(args.scenario)
    directory = Path(args.dir)
    for name in names:
        scenario = record["scenarios"][name]
        one: RunRecord = {
            **record,
            "status": scenario["status"],
            "problems": list(scenario["problems"]),
            "scenarios": {name: scenario},
        }
        path = directory / f"{name}.json"
        write_record(one, path)
        print(f"promoted {name} ({scenario['status']}) of run {run_id(record)} to {path}")
    return OK


def promote_refusals(record: Mapping[str, Any]) -> list[str]:
    """Why a run should not become a baseline; empty when it may."""
    reasons = []
    if record.get("shard"):
        shard = record["shard"]
        reasons.append(
            f"is shard {shard['index']}/{shard['count']}: merge the shards with "
            "`llmbench merge` and promote the merged run"
        )
    if record.get("partial"):
        reasons.append(f"is a partial run ({record.get('partial_reason')})")
    if record.get("status") == "fail":
        reasons.append("failed: " + ("; ".join(record.get("problems") or []) or "verdict fail"))
    if not record.get("gated") and not record.get("shard") and not record.get("partial"):
        reasons.append(f"was not gated ({record.get('gate_note') or 'no reason recorded'})")
    return reasons


def run_id(record: Mapping[str, Any]) -> str:
    return str((record.get("run") or {}).get("id") or "?")
