"""`llmbench metrics`: export a run record written earlier (the merged record of a sharded
run) to a Pushgateway and/or a node_exporter textfile; the export is reporting/prometheus.py."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_llmbench.benchmark.grouping_key import check_grouping, default_grouping, parse_grouping
from pytest_llmbench.cli.common import FAILED, FORMATTER, OK, CliError, Commands
from pytest_llmbench.reporting.prometheus import DEFAULT_JOB, export
from pytest_llmbench.results import record as record_mod


def add_command(commands: Commands) -> None:
    parser = commands.add_parser(
        "metrics",
        help="push a run record's Prometheus metrics or write them to a file",
        description="Push a run record's metrics to a Pushgateway and/or write them as a "
        "node_exporter textfile. Judge latencies come from the record's "
        "run.judge_latency_s (older records: from samples that carry them).",
        epilog="exit status:\n  0  every export worked\n  1  an export failed (the push, "
        "the write, or prometheus-client is not installed)\n  2  usage error or bad input",
        formatter_class=FORMATTER,
    )
    parser.add_argument("record", metavar="RUN.json", help="a run record")
    parser.add_argument("--pushgateway", metavar="URL", help="the Pushgateway's URL")
    parser.add_argument("--prom-file", metavar="PATH", help="write the textfile here")
    parser.add_argument("--job", default=DEFAULT_JOB, help=f"job label (default {DEFAULT_JOB})")
    parser.add_argument(
        "--group",
        metavar="LABEL=VALUE[,...]",
        help="the grouping key beside the job (default: the one the run recorded, "
        "run.pushgateway_group, else suite=<the current folder's name>)",
    )

    def handler(args: argparse.Namespace) -> int:
        if not args.pushgateway and not args.prom_file:
            parser.error("give --pushgateway URL and/or --prom-file PATH")
        if args.group is not None:
            try:
                args.group = parse_grouping(args.group)
            except ValueError as error:
                parser.error(f"--group: {error}")
        return cmd_metrics(args)

    parser.set_defaults(handler=handler)


def cmd_metrics(args: argparse.Namespace) -> int:
    record = record_mod.load(Path(args.record))
    grouping = args.group if args.group is not None else recorded_group(args.record, record)
    results = export(
        record,
        {},
        pushgateway=args.pushgateway,
        prom_file=Path(args.prom_file) if args.prom_file else None,
        job=args.job,
        grouping=grouping,
    )
    for result in results:
        print(result.message, file=sys.stdout if result.ok else sys.stderr)
    return OK if all(r.ok for r in results) else FAILED


def recorded_group(path: str, record: Mapping[str, Any]) -> dict[str, str]:
    """The grouping key the run pushed (or would have pushed) to, from its run block;
    ``suite=<the current folder's name>`` for a record that has none."""
    group = (record.get("run") or {}).get("pushgateway_group")
    if not group:
        return default_grouping(Path.cwd())
    problem = check_grouping(group) if isinstance(group, dict) else "not a mapping"
    if problem is not None:
        raise CliError(f"{path}: run.pushgateway_group: {problem} (give --group LABEL=VALUE)")
    return dict(group)
