"""`llmbench history`: a folder of run records as a table over time, or a page of charts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pytest_llmbench.cli.common import FORMATTER, OK, PROG, CliError, Commands, emit

DEFAULT_HISTORY = Path("data/eval/benchmarks")


def add_command(commands: Commands) -> None:
    history = commands.add_parser(
        "history",
        help="a table of runs over time, or an HTML page of charts",
        description="Read every *.json run record in DIR (files that are not run records, "
        "and shard records, are skipped with a note on stderr), sorted by start time, and "
        "print one row per run and scenario: date, run id, commit, branch, scenario, status, "
        "each metric's value, cost. --html OUT also writes one self-contained HTML page "
        "(no scripts, fonts or other files) charting each scenario's metrics over time "
        "against their pass and warn bands.",
        epilog="exit status:\n  0  the table (and page) written, also when DIR holds no "
        "runs\n  2  usage error, DIR missing, or the page cannot be written",
        formatter_class=FORMATTER,
    )
    history.add_argument(
        "dir",
        nargs="?",
        default=str(DEFAULT_HISTORY),
        metavar="DIR",
        help=f"the folder of run records (default {DEFAULT_HISTORY})",
    )
    history.add_argument("--html", metavar="OUT", help="also write the HTML page here")
    history.set_defaults(handler=cmd_history)


def cmd_history(args: argparse.Namespace) -> int:
    from pytest_llmbench.reporting import history as history_mod

    directory = Path(args.dir)
    if not directory.is_dir():
        what = "is not a folder" if directory.exists() else "no such history folder"
        raise CliError(f"{directory}: {what} (give one: llmbench history DIR)")
    runs, skipped = history_mod.load_runs(directory)
    for note in skipped:
        print(f"{PROG}: skipped {note}", file=sys.stderr)
    if args.html:
        page = history_mod.render_html(runs, skipped=skipped)
        out = Path(args.html)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(page, encoding="utf-8")
        except OSError as error:
            raise CliError(f"{out}: cannot write the page ({error.strerror})") from None
        print(f"wrote {out} ({len(runs)} runs)", file=sys.stderr)
    if not runs:
        print(f"no run records in {directory}")
        return OK
    emit("\n".join(history_mod.text_table(runs)) + "\n", None)
    return OK
