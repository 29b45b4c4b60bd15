"""The ``llmbench`` command: re-render, compare, merge, promote and chart run records.

Thin: parse the arguments, call the pure parts (record, rerecord, merge, history, report),
print, and exit with a code that means something. A file a user got wrong is a one-line
message on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.regression import DEFAULT_MARGIN, DEFAULT_MIN_SAMPLES, RegressionRules

PROG = "llmbench"
OK, FAILED, USAGE = 0, 1, 2
DEFAULT_BASELINES = Path("data/eval/baselines")
DEFAULT_HISTORY = Path("data/eval/benchmarks")

VERDICT_CODES = """\
exit status:
  0  the verdict is pass or warn (or the record is not gated: a shard, a node-id
     selection or a partial run)
  1  the verdict is fail (a metric in its fail band, or a regression at error level)
  2  usage error or bad input (a missing file, a file that is not a run record)
"""


def rules_note(subject: str) -> str:
    return (
        "regression rules: a scenario's `regression:` settings are not stored in the "
        f"record,\nso {subject} uses the defaults (margin {DEFAULT_MARGIN:g}, severity "
        f"error, min samples {DEFAULT_MIN_SAMPLES})\nunless --margin / --severity / "
        "--min-samples say otherwise.\n"
    )


class CliError(Exception):
    """Bad input: printed as one line, exit 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (CliError, record_mod.RecordError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return USAGE
    except BrokenPipeError:  # `llmbench history | head`
        return OK


# -- report ------------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    from pytest_llmbench.reporting import markdown as report_mod
    from pytest_llmbench.reporting.text_format import seconds
    from pytest_llmbench.results import rederive as rerecord

    record = record_mod.load(Path(args.record))
    if args.baseline:
        baseline = record_mod.load(Path(args.baseline))
        record = rerecord.rederive(record, baseline, rules_from(args))
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


# -- compare -----------------------------------------------------------------------------


def cmd_compare(args: argparse.Namespace) -> int:
    from pytest_llmbench.results.regression import compare_scenario

    current = record_mod.load(Path(args.current))
    baseline = record_mod.load(Path(args.baseline))
    rules = rules_from(args)
    lines: list[str] = []
    failed: list[str] = []
    for name, scenario in current["scenarios"].items():
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
                m["status"],
            )
        )
    return ["  " + line for line in columns(rows, right=(1, 2, 3, 5))]


# -- merge -------------------------------------------------------------------------------


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
    except merge_mod.MergeError as error:
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


# -- baseline promote --------------------------------------------------------------------


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
        one = {
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


# -- history -----------------------------------------------------------------------------


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


# -- shared ------------------------------------------------------------------------------


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


def write_record(record: Mapping[str, Any], path: Path) -> None:
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


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, not {value}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse's own: usage line, then "prog: error: message", exit 2.
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def _rules_options(parser: argparse.ArgumentParser) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=PROG,
        description="Work with pytest-llmbench run records (the --llmbench-json files).",
        epilog="Each command has --help. Exit status 2 is always a usage error or bad input.",
        formatter_class=formatter,
    )
    from pytest_llmbench import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    report = commands.add_parser(
        "report",
        help="render a run record as the markdown report (or JSON)",
        description="Render RUN.json as the PR-comment markdown report (as "
        "--llmbench-report writes it), or as JSON; with --baseline, add the comparison "
        "(as --llmbench-baseline does) and re-derive the verdict.",
        epilog=VERDICT_CODES + "\n" + rules_note("--baseline"),
        formatter_class=formatter,
    )
    report.add_argument("record", metavar="RUN.json", help="a run record")
    report.add_argument("--baseline", metavar="B.json", help="compare with this run record")
    report.add_argument("--format", choices=("md", "json"), default="md", help="default: md")
    report.add_argument("-o", "--output", metavar="PATH", help="write here, not to stdout")
    _rules_options(report)
    report.set_defaults(handler=cmd_report)

    compare = commands.add_parser(
        "compare",
        help="compare a run record with a baseline record, metric by metric",
        description="Compare A.json (the current run) with B.json (the baseline): per "
        "scenario and metric, paired by sample id: value, baseline, difference with its "
        "95% interval, status; or why the two cannot be compared.",
        epilog="exit status:\n  0  no regression at error level (improvements, ok, warn-level "
        "regressions, not comparable)\n  1  a regression at error level\n  2  usage error "
        "or bad input\n\n" + rules_note("compare"),
        formatter_class=formatter,
    )
    compare.add_argument("current", metavar="A.json", help="the current run record")
    compare.add_argument("baseline", metavar="B.json", help="the baseline run record")
    _rules_options(compare)
    compare.set_defaults(handler=cmd_compare)

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
        formatter_class=formatter,
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

    baseline = commands.add_parser(
        "baseline",
        help="manage baselines (promote a run)",
        description="Manage baseline run records.",
        formatter_class=formatter,
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
        formatter_class=formatter,
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
        formatter_class=formatter,
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

    from pytest_llmbench.reporting.github_comment import add_command as add_comment_command

    add_comment_command(commands)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
