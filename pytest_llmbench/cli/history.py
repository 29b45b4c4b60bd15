"""`llmbench history`: a folder of run records as a table over time, or a page of charts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pytest_llmbench.cli.common import FORMATTER, OK, PROG, CliError, Commands, emit

DEFAULT_HISTORY = Path("data/eval/benchmarks")
LOCAL_RUNS = Path(".llmbench/runs")  # where every pytest run writes its record (the rootdir's)


def add_command(commands: Commands) -> None:
    history = commands.add_parser(
        "history",
        help="a table of runs over time, or an HTML page of charts",
        description="Read every *.json run record in DIR (files that are not run records, "
        "and shard records, are skipped with a note on stderr), sorted by start time, and "
        "print one row per run and scenario: date, run id, commit, branch, scenario, status, "
        "each metric's value, cost. --html OUT also writes one self-contained HTML page "
        "(no fonts, files or network; one inline script) charting each scenario's metrics "
        "over time against their pass and warn bands, where any two runs (or two variants "
        "of one run) can be picked and compared side by side.",
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
    default = directory == DEFAULT_HISTORY
    if not directory.is_dir():
        what = "is not a folder" if directory.exists() else "no such history folder"
        where = f"; {where_runs_are()}" if default and not directory.exists() else ""
        raise CliError(f"{directory}: {what}{where} (give one: llmbench history DIR)")
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
        if default:
            print(where_runs_are())
        return OK
    emit("\n".join(history_mod.text_table(runs)) + "\n", None)
    return OK


def where_runs_are() -> str:
    """Where run records are when the default history folder has none: this checkout's
    own runs, and CI's."""
    local = len(list(LOCAL_RUNS.glob("*.json"))) if LOCAL_RUNS.is_dir() else 0
    here = f" ({local} here)" if local else ""
    return (
        f"local runs are in {LOCAL_RUNS}/{here}: llmbench history {LOCAL_RUNS}; CI keeps its "
        "run records as workflow artifacts (and the nightly's on the llmbench-history "
        "branch): download or check them out, then llmbench history FOLDER"
    )
