"""`llmbench dataset export` (a run record to the next dataset) and `llmbench dataset
import` (a dataset from JSONL, CSV or a Python callable): every file they write is read
back with the plugin's own dataset reader before it is moved into place."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pytest_llmbench.benchmark.config import CANONICAL_FIELDS
from pytest_llmbench.benchmark.dataset import load_dataset
from pytest_llmbench.benchmark.extensions import is_import_path
from pytest_llmbench.cli.common import (
    FORMATTER,
    OK,
    CliError,
    Commands,
    positive_int,
    suite_scenario,
)
from pytest_llmbench.config_file import is_file
from pytest_llmbench.datasets import sources, transfer
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.schema import ScenarioRecord


def add_command(commands: Commands) -> None:
    export = commands.add_parser(
        "export",
        help="turn a run record into a dataset (outputs, judged scores as ground_truth)",
        description="Write one scenario of RUN.json as a dataset: each sample's line of the "
        "dataset the run read (ids, inputs, references, fields such as latency), the output "
        "the run's output function produced when the record holds one, and the judged "
        "scores as ground_truth (none for a sample the run did not score). The dataset is "
        "the file the record's fingerprint names, resolved against --rootdir, and must be "
        "the same bytes (its sha256); --dataset points at it when it moved.",
        epilog="exit status:\n  0  written\n  2  usage error or bad input (a record that "
        "does not read, a dataset moved or changed since the run)",
        formatter_class=FORMATTER,
    )
    export.add_argument("record", metavar="RUN.json", help="a run record")
    export.add_argument("-o", "--output", required=True, metavar="NEW.jsonl", help="write here")
    export.add_argument("--scenario", metavar="NAME", help="the scenario (needed with several)")
    export.add_argument(
        "--dataset", metavar="PATH", help="the dataset the run read (default: as recorded)"
    )
    export.add_argument(
        "--variant",
        metavar="NAME",
        help="with `variants:`, whose outputs and scores to export (default: the reference)",
    )
    export.add_argument(
        "--id-field",
        metavar="F",
        help="the dataset's id field (default: the one its manifest was frozen with, else id)",
    )
    export.add_argument(
        "--rootdir",
        default=".",
        metavar="DIR",
        help="what the record's dataset path is relative to (default: the current directory)",
    )
    export.set_defaults(handler=cmd_export)

    imports = commands.add_parser(
        "import",
        help="build a dataset from JSONL, CSV or a Python callable",
        description="Read rows from SRC: a .jsonl file, a .csv file (a header row; a column "
        "of numbers is read as numbers, except the id), or module:function (a callable "
        "returning an iterable of dicts; the current directory is importable). Map fields, "
        "drop later rows of an id already seen, optionally take a seeded sample, and write "
        "OUT.jsonl, checked with the plugin's dataset reader.",
        epilog="field mapping: --map id=msg_id renames the source's msg_id to id (and so on "
        "for input, output, reference, ground_truth); --config FILE --scenario NAME uses "
        "that scenario's fields: mapping instead, keeping the source's names so that the "
        "scenario reads the file as it is.\n"
        "sampling: --sample N --seed S picks N rows at random, the same ones for the same "
        "input and seed, in the source's order; --stratify FIELD gives each value of FIELD "
        "its proportional share (largest remainder).\n\n"
        "exit status:\n  0  written\n  2  usage error or bad input (named by file and line)",
        formatter_class=FORMATTER,
    )
    imports.add_argument("source", metavar="SRC", help="a .jsonl or .csv file, or module:function")
    imports.add_argument("-o", "--output", required=True, metavar="OUT.jsonl", help="write here")
    imports.add_argument(
        "--format", choices=("jsonl", "csv", "callable"), help="SRC's kind (default: guessed)"
    )
    imports.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="NAME=FIELD",
        help=f"the dataset's NAME ({', '.join(CANONICAL_FIELDS)}) is SRC's FIELD; repeatable",
    )
    imports.add_argument("--config", metavar="FILE", help="a suite config, for --scenario")
    imports.add_argument("--scenario", metavar="NAME", help="use this scenario's fields: mapping")
    imports.add_argument("--sample", type=positive_int, metavar="N", help="keep N rows at random")
    imports.add_argument("--seed", type=int, default=0, metavar="S", help="the seed (default 0)")
    imports.add_argument("--stratify", metavar="FIELD", help="with --sample: by this field")
    imports.set_defaults(handler=cmd_import)


# -- export -------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    record = record_mod.load(Path(args.record))
    name, scenario = _scenario(record["scenarios"], args.scenario, args.record)
    fingerprint = scenario["fingerprints"]["dataset"]
    shown = args.dataset or fingerprint["path"]
    path = Path(args.dataset) if args.dataset else Path(args.rootdir) / fingerprint["path"]
    if not is_file(path):
        raise CliError(
            f"{shown}: not found (the dataset {args.record} names); pass --dataset PATH "
            "to the file the run read, or --rootdir DIR"
        )
    id_field = args.id_field or _frozen_id_field(path)
    fields = {"id": id_field} if id_field != "id" else None
    data = load_dataset(path, shown, fields)
    if data.sha256 != fingerprint["sha256"]:
        raise CliError(
            f"{shown}: not the file the run read (sha256 {data.sha256[:12]}, the record's "
            f"{fingerprint['sha256'][:12]}): changed or replaced since; pass --dataset PATH "
            "to the file the run read"
        )
    if _same_file(Path(args.output), path):
        raise CliError(f"-o {args.output}: is the dataset the run read; write a new file")
    variant = _variant(scenario, args.variant, name, args.record)
    exported = transfer.export(scenario, data, variant)
    transfer.write_dataset(exported.lines, Path(args.output), args.output, fields)
    notes = [f"{exported.outputs} with the run's outputs"]
    if exported.truncated:
        notes.append(f"{exported.truncated} of them cut at 64 KiB in the record")
    if exported.unscored:
        notes.append(f"{exported.unscored} unscored, without ground_truth")
    of = f"scenario {name}" + (f" (variant {variant})" if variant is not None else "")
    count = len(exported.lines)
    print(f"{args.output}: {count} samples from {of} of {args.record} ({', '.join(notes)})")
    return OK


def _frozen_id_field(dataset: Path) -> str:
    """The id field the dataset's manifest was frozen with (a scenario's `fields:` mapping
    is not in the record); "id" without a readable manifest."""
    from pytest_llmbench.datasets import manifest
    from pytest_llmbench.errors import DatasetError

    path = manifest.manifest_path(dataset)
    if not is_file(path):
        return "id"
    try:
        return manifest.read(path)["id_field"]
    except DatasetError:
        return "id"  # a damaged manifest: the sha256 check above still guards the data


def _scenario(
    scenarios: dict[str, ScenarioRecord], wanted: str | None, shown: str
) -> tuple[str, ScenarioRecord]:
    names = ", ".join(sorted(scenarios)) or "none"
    if wanted is None:
        if len(scenarios) != 1:
            raise CliError(f"{shown}: scenarios {names}; pick one with --scenario NAME")
        wanted = next(iter(scenarios))
    if wanted not in scenarios:
        raise CliError(f"--scenario {wanted}: not in {shown}; its scenarios: {names}")
    return wanted, scenarios[wanted]


def _variant(scenario: ScenarioRecord, wanted: str | None, name: str, shown: str) -> str | None:
    """The variant to export: the one asked for, else the reference; None without variants."""
    block = scenario.get("variants")
    if block is None:
        if wanted is not None:
            raise CliError(f"--variant {wanted}: scenario {name} of {shown} has no variants")
        return None
    if wanted is None:
        return block["reference"]
    if wanted not in block["order"]:
        known = ", ".join(block["order"])
        raise CliError(
            f"--variant {wanted}: not a variant of scenario {name} in {shown}; its variants: "
            f"{known}"
        )
    return wanted


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and os.path.samefile(a, b)
    except OSError:
        return False


# -- import -------------------------------------------------------------------------------


def cmd_import(args: argparse.Namespace) -> int:
    if args.stratify and not args.sample:
        raise CliError("--stratify: give --sample N too")
    rename, keep = _mapping(args)
    id_key = "id" if rename else keep.get("id", "id")
    id_column = rename.get("id", "id") if rename else id_key
    rows = _read(args.source, args.format, id_column)
    rows = transfer.renamed(rows, rename)
    rows, dropped = transfer.deduplicated(rows, id_key)
    notes = []
    if dropped:
        rows_word = "row" if dropped == 1 else "rows"
        notes.append(f"{dropped} {rows_word} of an id already seen dropped (the first kept)")
    if args.sample:
        total = len(rows)
        rows = transfer.sampled(rows, args.sample, args.seed, args.stratify)
        by = f", stratified by {args.stratify}" if args.stratify else ""
        notes.append(f"sampled {len(rows)} of {total}, seed {args.seed}{by}")
    written = transfer.write_dataset(
        [record for _, record in rows], Path(args.output), args.output, keep or None
    )
    extra = f" ({'; '.join(notes)})" if notes else ""
    print(f"{args.output}: {len(written.samples)} samples from {args.source}{extra}")
    return OK


def _mapping(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str]]:
    """(fields to rename from --map, the scenario's mapping to keep from --config)."""
    if args.map and (args.scenario or args.config):
        raise CliError("--map and --config/--scenario: give one field mapping, not both")
    rename: dict[str, str] = {}
    for item in args.map:
        canon, sep, source = item.partition("=")
        if not sep or not source:
            raise CliError(f"--map {item}: expected NAME=FIELD, e.g. --map id=msg_id")
        if canon not in CANONICAL_FIELDS:
            raise CliError(f"--map {item}: {canon!r} is not one of {', '.join(CANONICAL_FIELDS)}")
        rename[canon] = source
    if args.config and not args.scenario:
        raise CliError("--config: give --scenario NAME too (whose fields: mapping to use)")
    if not args.scenario:
        return rename, {}
    return rename, dict(suite_scenario(args.config, args.scenario, Path.cwd()).fields)


def _read(source: str, kind: str | None, id_column: str) -> list[sources.Row]:
    path = Path(source)
    if kind is None:
        if is_file(path):
            kind = "csv" if path.suffix.lower() == ".csv" else "jsonl"
        elif is_import_path(source):
            kind = "callable"
        else:
            raise CliError(f"{source}: no such file, nor a module:function; check SRC")
    if kind == "csv":
        return sources.read_csv(path, source, text_columns={id_column})
    if kind == "jsonl":
        return sources.read_jsonl(path, source)
    if os.getcwd() not in sys.path:  # `llmbench` is a script: its own folder is on the path
        sys.path.insert(0, os.getcwd())
    return sources.read_callable(source)
