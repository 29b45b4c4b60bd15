"""`llmbench dataset check-pii PATH`: exit 1 on residual personal data (a CI step), naming
file, line, field and kind with a masked excerpt; never a value."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from pytest_llmbench.cli.common import FAILED, FORMATTER, OK, CliError, Commands
from pytest_llmbench.cli.dataset_scrub import KINDS_HELP, selection, selection_options
from pytest_llmbench.datasets.manifest import SUFFIX


def add_command(commands: Commands) -> None:
    parser = commands.add_parser(
        "check-pii",
        help="exit 1 on residual personal data",
        description="Look for personal data in a dataset (or every .jsonl under a "
        "directory), in every string field but the id. Placeholders the scrubber wrote "
        "(<PHONE_2>) are not personal data. Each finding is printed as file:line, the "
        "field and the kind, with an excerpt where every finding is masked.",
        epilog=KINDS_HELP + "\nexit status:\n  0  nothing found\n  1  personal data "
        "found\n  2  usage error or bad input",
        formatter_class=FORMATTER,
    )
    parser.add_argument("path", metavar="PATH", help="a dataset (JSONL) or a directory of them")
    selection_options(parser)
    parser.set_defaults(handler=cmd_check_pii)


def datasets(path: Path, display: str) -> list[tuple[Path, str]]:
    if path.is_dir():
        found = sorted(p for p in path.rglob("*.jsonl") if not p.name.endswith(SUFFIX))
        if not found:
            raise CliError(f"{display}: no .jsonl dataset in this directory; give a dataset")
        return [(p, str(p)) for p in found]
    if not path.exists():
        raise CliError(f"{display}: no such file or directory; check the path")
    return [(path, display)]


def cmd_check_pii(args: argparse.Namespace) -> int:
    from pytest_llmbench.datasets.pii.dataset import check_file

    chosen = selection(args)
    kinds: Counter[str] = Counter()
    samples = 0
    for path, display in datasets(Path(args.path), args.path):
        count, findings = check_file(path, chosen, display=display)
        samples += count
        for finding in findings:
            kinds[finding.kind] += 1
            print(
                f"{display}:{finding.line}: <{finding.kind}> in field {finding.field}: "
                f"{finding.excerpt}"
            )
    if not kinds:
        print(f"{args.path}: no personal data found in {samples} samples")
        return OK
    summary = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
    print(
        f"{args.path}: {sum(kinds.values())} findings ({summary}) in {samples} samples; "
        "scrub with `llmbench dataset scrub IN -o OUT`"
    )
    return FAILED
