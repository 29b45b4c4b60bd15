"""The ``llmbench`` command: re-render, compare, merge, promote, chart and export run records.

Thin: parse the arguments, call the pure parts (record, rerecord, merge, history, report),
print, and exit with a code that means something. A file a user got wrong is a one-line
message on stderr and exit 2, never a traceback. Each subcommand is a module of this
package with ``add_command(commands)`` and its handler; this one assembles them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pytest_llmbench.cli import (
    baseline,
    comment,
    compare,
    dataset,
    history,
    merge,
    metrics,
    report,
)
from pytest_llmbench.cli.common import FORMATTER, OK, PROG, USAGE, Parser
from pytest_llmbench.errors import UserError


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UserError as error:  # every mistake a user can fix: one line, exit 2
        print(f"{PROG}: {error}", file=sys.stderr)
        return USAGE
    except BrokenPipeError:  # `llmbench history | head`
        return OK


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Work with pytest-llmbench run records (the --llmbench-json files).",
        epilog="Each command has --help. Exit status 2 is always a usage error or bad input.",
        formatter_class=FORMATTER,
    )
    from pytest_llmbench import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in (report, compare, merge, baseline, history, comment, metrics, dataset):
        command.add_command(commands)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
