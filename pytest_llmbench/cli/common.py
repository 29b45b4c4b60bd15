"""What every `llmbench` subcommand shares: the parser class, the exit codes, the error a
user's bad input raises, the regression-rule options, and writing the output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn, TypeAlias

from pytest_llmbench.benchmark.rules import DEFAULT_MARGIN, DEFAULT_MIN_SAMPLES, RegressionRules
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


def rules_note(subject: str) -> str:
    return (
        "regression rules: a scenario's `regression:` settings are not stored in the "
        f"record,\nso {subject} uses the defaults (margin {DEFAULT_MARGIN:g}, severity "
        f"error, min samples {DEFAULT_MIN_SAMPLES})\nunless --margin / --severity / "
        "--min-samples say otherwise.\n"
    )


def rules_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("regression rules (with a baseline)")
    group.add_argument(
        "--margin",
        action="append",
        metavar="[METRIC=]NUMBER",
        help=f"a drop beyond this is a regression (default {DEFAULT_MARGIN:g}); "
        "METRIC=NUMBER for one metric; repeatable",
    )
    group.add_argument(
        "--severity",
        choices=("error", "warn"),
        default="error",
        help="a regression fails (error, the default) or warns",
    )
    group.add_argument(
        "--min-samples",
        type=positive_int,
        default=DEFAULT_MIN_SAMPLES,
        metavar="N",
        help=f"fewer paired samples is underpowered: only a drop beyond 3 margins is "
        f"flagged (default {DEFAULT_MIN_SAMPLES})",
    )


def rules_from(args: argparse.Namespace) -> RegressionRules:
    margins: dict[str, float] = {}
    default = DEFAULT_MARGIN
    for item in args.margin or []:
        metric, sep, value = item.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            raise CliError(f"--margin {item}: expected a number or METRIC=NUMBER") from None
        if number < 0:
            raise CliError(f"--margin {item}: a margin cannot be negative")
        if sep:
            margins[metric] = number
        else:
            default = number
    return RegressionRules(
        margins=margins,
        default_margin=default,
        severity=args.severity,
        min_samples=args.min_samples,
    )


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
