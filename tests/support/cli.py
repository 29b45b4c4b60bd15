"""The `llmbench` command run in this process, for tests (the `llmbench` fixture)."""

from __future__ import annotations

import pytest

from pytest_llmbench.cli import main as cli

Run = tuple[int, str, str]  # exit status, stdout, stderr


def run_llmbench(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """`llmbench *args`: its exit status, with argparse's exits (--help, --version, usage
    errors) as theirs, and what it wrote to stdout and stderr."""
    capsys.readouterr()
    try:
        code = cli.main(list(args))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
