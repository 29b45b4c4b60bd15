"""`llmbench dataset`: the subcommands that treat a dataset as a versioned artifact.

Each subcommand lives in its own ``cli/dataset_*.py`` module with ``add_command(commands)``;
this one groups them under ``dataset``.
"""

from __future__ import annotations

from types import ModuleType

from pytest_llmbench.cli import (
    dataset_check_pii,
    dataset_manifest,
    dataset_scrub,
    dataset_sync,
    dataset_transfer,
)
from pytest_llmbench.cli.common import FORMATTER, Commands

SUBCOMMANDS: tuple[ModuleType, ...] = (
    dataset_manifest,
    dataset_transfer,
    dataset_scrub,
    dataset_check_pii,
    dataset_sync,
)


def add_command(commands: Commands) -> None:
    dataset = commands.add_parser(
        "dataset",
        help="freeze, verify, export, import, scrub and sync datasets",
        description="Work with a dataset as a versioned artifact: its manifest "
        "(<name>.manifest.json beside it), export from a run record, import, PII scrubbing, "
        "and S3 sync.",
        formatter_class=FORMATTER,
    )
    sub = dataset.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND", required=True)
    for module in SUBCOMMANDS:
        module.add_command(sub)
