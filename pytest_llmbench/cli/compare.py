"""`llmbench compare`: a run record against a baseline record, metric by metric; or, with
``--variants a,b``, two variants of one record against each other."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_llmbench.cli.common import (
    FAILED,
    FORMATTER,
    OK,
    CliError,
    Commands,
    emit,
    metric_names,
    rules_from,
    rules_note,
    rules_options,
)
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.baselines import load_baselines


def add_command(commands: Commands) -> None:
    compare = commands.add_parser(
        "compare",
        help="compare a run record with a baseline record (or two variants of one record), "
        "metric by metric",
        description="Compare A.json (the current run) with B.json (the baseline): per "
        "scenario and metric, paired by sample id: value, baseline, difference with its "
        "95% interval, status; or why the two cannot be compared.\n\n"
        "With --variants a,b (and no B.json): variant b against variant a of A.json, per "
        "metric over the samples both scored: both values, the mean difference with its "
        "paired 95% interval, and better / worse / no detectable difference (never a "
        "winner when the interval includes zero).",
        epilog="exit status:\n  0  no regression at error level (improvements, ok, warn-level "
        "regressions, not comparable)\n  1  a regression at error level\n  2  usage error "
        "or bad input\n\n" + rules_note("compare"),
        formatter_class=FORMATTER,
    )
    compare.add_argument("current", metavar="A.json", help="the current run record")
    compare.add_argument(
        "baseline",
        metavar="B.json",
        nargs="?",
        help="the baseline run record, or a folder of them (one per scenario); not with --variants",
    )
    compare.add_argument(
        "--variants",
        metavar="A,B",
        help="compare variant B against variant A of one record (its scenarios' `variants:`)",
    )
    compare.add_argument(
        "--scenario",
        metavar="NAME",
        help="with --variants: only this scenario (default: every scenario with variants)",
    )
    rules_options(compare)
    compare.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from pytest_llmbench.results.regression import compare_scenario
    from pytest_llmbench.results.stored_rules import regression_rules, stored_rules

    if args.variants is not None:
        if args.baseline is not None:
            raise CliError(
                f"--variants compares two variants of {args.current}: give no B.json "
                f"({args.baseline}), or drop --variants to compare two records"
            )
        from pytest_llmbench.cli.compare_variants import cmd_compare_variants

        return cmd_compare_variants(args)
    if args.scenario is not None:
        raise CliError("--scenario goes with --variants; a record comparison covers every scenario")
    if args.baseline is None:
        raise CliError(
            "give B.json, the baseline record (or --variants a,b to compare two "
            "variants of one record)"
        )
    current = record_mod.load(Path(args.current))
    baseline = load_baselines(Path(args.baseline))
    override = rules_from(args, metric_names(current, baseline))
    lines: list[str] = []
    failed: list[str] = []
    for name, scenario in current["scenarios"].items():
        rules = regression_rules(stored_rules(scenario))
        rules = override(rules) if override is not None else rules
        c = compare_scenario(scenario, baseline["scenarios"].get(name), rules)
        lines.append(f"{name}: {c['status'].upper()}")
        if c["status"] == "not comparable":
            lines.extend(f"  not comparable: {reason}" for reason in c["reasons"])
            continue
        lines.extend(compare_table(c["metrics"]))
        if c["underpowered"]:
            lines.append(
                f"  underpowered: fewer than {rules.min_samples} paired samples; "
                "only large drops are flagged"
            )
        if c["regressed"]:
            lines.append(f"  regressed ({c['severity']}): {', '.join(c['regressed'])}")
            if c["severity"] == "error":
                failed.extend(f"{metric} of {name}" for metric in c["regressed"])
    for name in sorted(baseline["scenarios"].keys() - current["scenarios"].keys()):
        lines.append(f"{name}: only in the baseline {args.baseline}")
    if failed:
        lines.append(f"regression at error level: {', '.join(failed)}")
    else:
        lines.append("no regression at error level")
    emit("\n".join(lines) + "\n", None)
    return FAILED if failed else OK


def compare_table(metrics: Mapping[str, Mapping[str, Any]]) -> list[str]:
    from pytest_llmbench.reporting.terminal import comparison_status
    from pytest_llmbench.reporting.text_format import columns, interval, number, signed

    rows = [("metric", "value", "baseline", "diff", "95% CI of diff", "paired", "status")]
    for name, m in metrics.items():
        rows.append(
            (
                name,
                number(m["current"]),
                number(m["baseline"]),
                signed(m["diff"]),
                interval(m["ci95"]),
                str(m["compared"]),
                comparison_status(m),
            )
        )
    return ["  " + line for line in columns(rows, right=(1, 2, 3, 5))]
