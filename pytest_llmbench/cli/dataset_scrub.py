"""`llmbench dataset scrub IN -o OUT`: replace personal data with consistent placeholders
and write the scrubbed dataset's manifest, with counts per kind (never the values)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_llmbench.cli.common import FORMATTER, OK, CliError, Commands

if TYPE_CHECKING:
    from pytest_llmbench.datasets.pii.dataset import Selection

KINDS_HELP = (
    "kinds: EMAIL, PHONE (Russian +7/8 and international), HANDLE (@name), PROFILE (t.me/,\n"
    "vk.com/, instagram.com/, ... links), CARD (Luhn), IBAN (mod 97), INN and SNILS\n"
    "(checksums), PASSPORT (Russian series and number), PERSON (Russian names by natasha's\n"
    "NER, English names by a given-name list). Person names need the pii extra:\n"
    "pip install 'pytest-llmbench[pii]'; --no-names scrubs the structured kinds without it.\n"
)


def selection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("which fields")
    group.add_argument(
        "--id-field",
        default="id",
        metavar="FIELD",
        help="the id field, never scrubbed (default id)",
    )
    group.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="FIELD",
        help="leave this field alone; repeatable",
    )
    group.add_argument(
        "--only",
        action="append",
        metavar="FIELD",
        help="only this field (and any other --only); repeatable",
    )
    group.add_argument(
        "--no-names",
        action="store_true",
        help="the structured kinds only, no person names (works without the pii extra)",
    )


def selection(args: argparse.Namespace) -> Selection:
    """The fields the arguments choose; person names only with natasha installed."""
    from pytest_llmbench.datasets.pii import EXTRA_MISSING, available
    from pytest_llmbench.datasets.pii.dataset import Selection

    if not args.no_names and not available():
        raise CliError(f"{EXTRA_MISSING} (or give --no-names for the structured kinds only)")
    return Selection(
        id_field=args.id_field,
        skip=frozenset(args.skip),
        only=frozenset(args.only) if args.only else None,
        names=not args.no_names,
    )


def add_command(commands: Commands) -> None:
    parser = commands.add_parser(
        "scrub",
        help="replace personal data with consistent placeholders",
        description="Replace personal data in every string field but the id (recursively "
        "into lists and objects) with placeholders consistent across the dataset: the same "
        "value (phone digits, e-mail in lower case, a name in the nominative) is <PHONE_2> "
        "everywhere, different values different numbers. Writes OUT and OUT's manifest "
        "(<name>.manifest.json beside it) with the counts per kind; no value is printed or "
        "stored.",
        epilog=KINDS_HELP + "\nexit status:\n  0  scrubbed\n  2  usage error or bad input",
        formatter_class=FORMATTER,
    )
    parser.add_argument("dataset", metavar="IN", help="the dataset (JSONL)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="the scrubbed dataset")
    selection_options(parser)
    parser.set_defaults(handler=cmd_scrub)


def cmd_scrub(args: argparse.Namespace) -> int:
    from pytest_llmbench import __version__
    from pytest_llmbench.datasets import manifest
    from pytest_llmbench.datasets.pii import natasha_version
    from pytest_llmbench.datasets.pii.dataset import scrub_file

    chosen = selection(args)
    source, out = Path(args.dataset), Path(args.output)
    if out.resolve() == source.resolve():
        raise CliError(f"{args.output}: the output is the input; give -o another path")
    counts = scrub_file(source, out, chosen, display=args.dataset)
    models = f"natasha {natasha_version()}" if chosen.names else "no person names"
    report: manifest.ScrubReport = {
        "status": "scrubbed",
        "counts": counts,
        "scrubber": f"pytest-llmbench {__version__} / {models}",
    }
    built = manifest.build(out, display=args.output, source=args.dataset, scrub=report)
    written = manifest.write(out, built)
    total = sum(counts.values())
    summary = ", ".join(f"{kind} {n}" for kind, n in counts.items()) or "nothing found"
    print(f"{args.output}: {built['samples']} samples, {total} placeholders ({summary})")
    print(f"manifest: {written}")
    return OK
