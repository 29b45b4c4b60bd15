"""`llmbench report`: render a run record again, optionally against a baseline."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_llmbench.cli.common import (
    FAILED,
    FORMATTER,
    OK,
    Commands,
    emit,
    metric_names,
    rules_from,
    rules_note,
    rules_options,
)
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.baselines import load_baselines

VERDICT_CODES = """\
exit status:
  0  the verdict is pass or warn (or the record is not gated: a shard, a node-id
     selection or a partial run)
  1  the verdict is fail (a metric in its fail band, or a regression at error level)
  2  usage error or bad input (a missing file, a file that is not a run record)
"""


def add_command(commands: Commands) -> None:
    report = commands.add_parser(
        "report",
        help="render a run record as the markdown report (or JSON)",
        description="Render RUN.json as the PR-comment markdown report (as "
        "--llmbench-report writes it), or as JSON; with --baseline, add the comparison "
        "(as --llmbench-baseline does) and re-derive the verdict.",
        epilog=VERDICT_CODES + "\n" + rules_note("--baseline"),
        formatter_class=FORMATTER,
    )
    report.add_argument("record", metavar="RUN.json", help="a run record")
    report.add_argument(
        "--baseline",
        metavar="B.json",
        help="compare with this run record, or a folder of them (one per scenario)",
    )
    report.add_argument("--format", choices=("md", "json"), default="md", help="default: md")
    report.add_argument("-o", "--output", metavar="PATH", help="write here, not to stdout")
    rules_options(report)
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from pytest_llmbench.reporting import markdown as report_mod
    from pytest_llmbench.reporting.text_format import seconds
    from pytest_llmbench.results import rederive as rerecord

    record = record_mod.load(Path(args.record))
    if args.baseline:
        baseline = load_baselines(Path(args.baseline))
        override = rules_from(args, metric_names(record, baseline))
        record = rerecord.rederive(record, baseline, override)
    if args.format == "json":
        text = record_mod.dumps(record)
    else:
        run = record.get("run") or {}
        footer = ""
        if run.get("id"):
            duration = run.get("duration_s")
            footer = f"run {run['id']}" + (
                f" · {seconds(duration)}" if duration is not None else ""
            )
        text = report_mod.render(record, footer=footer)
    emit(text, args.output)
    return verdict_code(record)


def verdict_code(record: Mapping[str, Any]) -> int:
    return FAILED if record.get("gated") and record.get("status") == "fail" else OK
