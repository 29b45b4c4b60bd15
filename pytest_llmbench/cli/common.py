"""What every `llmbench` subcommand shares: the parser class, the exit codes, the error a
user's bad input raises, the regression-rule options, and writing the output."""

from __future__ import annotations

import argparse
import difflib
import math
import os
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from typing import NoReturn, TypeAlias

from pytest_llmbench.benchmark.config import ScenarioConfig, load_config
from pytest_llmbench.benchmark.rules import DEFAULT_MARGIN, DEFAULT_MIN_SAMPLES, RegressionRules
from pytest_llmbench.config_file import find_config
from pytest_llmbench.errors import UserError
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.schema import RunRecord

PROG = "llmbench"
OK, FAILED, USAGE = 0, 1, 2
FORMATTER = argparse.RawDescriptionHelpFormatter
# What `add_subparsers()` returns; each subcommand module's add_command() adds to it.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class CliError(UserError):
    """Bad input to a subcommand: printed as one line, exit 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse's own: usage line, then "prog: error: message", exit 2.
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def suite_scenario(config: str | None, name: str, rootdir: Path) -> ScenarioConfig:
    """Scenario `name` of the suite config (``config``, else found as the plugin finds it
    under ``rootdir``): what `--config FILE --scenario NAME` names."""
    found = find_config(config, None, rootdir)
    if found is None:
        raise CliError(f"--scenario {name}: no suite config found; pass --config FILE")
    cfg = load_config(found, rootdir, os.environ)
    if name not in cfg.scenarios:
        names = ", ".join(sorted(cfg.scenarios)) or "none"
        raise CliError(f"--scenario {name}: not in {found}; its scenarios: {names}")
    return cfg.scenarios[name]


def rules_note(subject: str) -> str:
    return (
        "regression rules: each scenario's `regression:` settings as the run stored them\n"
        f"in the record (in an older record: margin {DEFAULT_MARGIN:g}, severity error, min\n"
        f"samples {DEFAULT_MIN_SAMPLES}); --margin / --severity / --min-samples change what\n"
        f"they name, for every scenario, in {subject}.\n"
    )


def rules_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("regression rules (with a baseline)")
    group.add_argument(
        "--margin",
        action="append",
        metavar="[METRIC=]NUMBER",
        help="a drop beyond this is a regression (default: as stored, else "
        f"{DEFAULT_MARGIN:g}); METRIC=NUMBER for one metric; repeatable",
    )
    group.add_argument(
        "--severity",
        choices=("error", "warn"),
        help="a regression fails (error) or warns (default: as stored, else error)",
    )
    group.add_argument(
        "--min-samples",
        type=positive_int,
        metavar="N",
        help="fewer paired samples is underpowered: only a drop beyond 3 margins is "
        f"flagged (default: as stored, else {DEFAULT_MIN_SAMPLES})",
    )


Override: TypeAlias = Callable[[RegressionRules], RegressionRules]


def rules_from(args: argparse.Namespace, metrics: Collection[str]) -> Override | None:
    """What the command line changes in each scenario's stored regression rules, or None
    when it changes nothing. A margin for a metric no scenario has is a usage error."""
    margins: dict[str, float] = {}
    default: float | None = None
    for item in args.margin or []:
        metric, sep, value = item.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            raise CliError(f"--margin {item}: expected a number or METRIC=NUMBER") from None
        if not math.isfinite(number) or number < 0:
            raise CliError(f"--margin {item}: a margin is a number of 0 or more")
        if sep:
            if metric not in metrics:
                close = difflib.get_close_matches(metric, sorted(metrics), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                known = ", ".join(sorted(metrics)) or "none"
                raise CliError(f"--margin {item}: no metric {metric!r}{hint}; metrics: {known}")
            margins[metric] = number
        else:
            default = number
    if not margins and default is None and args.severity is None and args.min_samples is None:
        return None

    def override(stored: RegressionRules) -> RegressionRules:
        return RegressionRules(
            margins={**stored.margins, **margins},
            default_margin=stored.default_margin if default is None else default,
            severity=args.severity or stored.severity,
            min_samples=args.min_samples or stored.min_samples,
        )

    return override


def metric_names(*records: RunRecord) -> set[str]:
    return {m for r in records for s in r["scenarios"].values() for m in s.get("metrics", {})}


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, not {value}")
    return value


def write_record(record: RunRecord, path: Path) -> None:
    try:
        record_mod.write(record, path)
    except OSError as error:
        raise CliError(f"{path}: cannot write the run record ({error.strerror})") from None


def emit(text: str, output: str | None) -> None:
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as error:
            raise CliError(f"{output}: cannot write ({error.strerror})") from None
        return
    sys.stdout.write(text)
    sys.stdout.flush()
