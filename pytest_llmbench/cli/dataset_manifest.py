"""`llmbench dataset freeze` and `llmbench dataset verify`: a dataset's manifest
(``<name>.manifest.json`` beside it) written, and the dataset checked against it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pytest_llmbench.benchmark.config import load_config
from pytest_llmbench.benchmark.dataset import Dataset, load_dataset
from pytest_llmbench.cli.common import FAILED, FORMATTER, OK, CliError, Commands, suite_scenario
from pytest_llmbench.config_file import find_config
from pytest_llmbench.datasets import frozen
from pytest_llmbench.datasets import manifest as manifest_mod
from pytest_llmbench.datasets.manifest_diff import describe
from pytest_llmbench.errors import UserError


def add_command(commands: Commands) -> None:
    freeze = commands.add_parser(
        "freeze",
        help="write the dataset's manifest (<name>.manifest.json beside it)",
        description="Write PATH's manifest beside it: the file's sha256, the sample count, "
        "a hash per sample id, the fields and their types, the creation time, the source "
        "and the scrub status. Re-freezing the same content keeps the manifest as it is; a "
        "manifest of other content is replaced only with --force (a new version of the "
        "data: give the file a new name, e.g. _v2, rather than replace a frozen one).",
        epilog="exit status:\n  0  frozen (or already frozen with this content)\n"
        "  2  usage error or bad input (a manifest of other content without --force)",
        formatter_class=FORMATTER,
    )
    freeze.add_argument("path", metavar="PATH", help="a JSONL dataset")
    freeze.add_argument(
        "--source", default="", metavar="TEXT", help="where the data came from (kept as given)"
    )
    freeze.add_argument(
        "--force", action="store_true", help="replace a manifest of different content"
    )
    id_options(freeze)
    freeze.add_argument(
        "--config",
        metavar="FILE",
        help="the suite config, for --scenario (default: as the plugin finds it)",
    )
    freeze.set_defaults(handler=cmd_freeze)

    verify = commands.add_parser(
        "verify",
        help="check datasets against their manifests (a CI step)",
        description="Check each dataset against the manifest beside it and name what "
        "changed by sample id: samples added, removed or edited, the order, or only the "
        "file's bytes (whitespace, key order). Without PATH: every scenario's dataset in "
        "the suite config (found as the plugin finds it: --config, else "
        "<rootdir>/benchmarks/llmbench.yaml), each read with its scenario's `fields:` "
        "mapping; datasets without a manifest are listed as not frozen. A manifest records "
        "the field its ids were read from: verifying with another is refused.",
        epilog="exit status:\n  0  every frozen dataset matches its manifest\n"
        "  1  a dataset changed since it was frozen\n"
        "  2  usage error or bad input (no manifest beside a PATH given, a corrupt "
        "manifest, a dataset that does not load)",
        formatter_class=FORMATTER,
    )
    verify.add_argument("paths", nargs="*", metavar="PATH", help="JSONL datasets")
    verify.add_argument(
        "--config", metavar="FILE", help="the suite config (default: as the plugin finds it)"
    )
    id_options(verify)
    verify.add_argument(
        "--rootdir",
        default=".",
        metavar="DIR",
        help="what the config's dataset paths resolve against (default: the current directory)",
    )
    verify.set_defaults(handler=cmd_verify)


def id_options(parser: argparse.ArgumentParser) -> None:
    """Where PATH's sample ids are read from: the field "id" unless told."""
    ids = parser.add_mutually_exclusive_group()
    ids.add_argument(
        "--scenario",
        metavar="NAME",
        help="read PATH with this scenario's `fields:` mapping (its id field), as the plugin does",
    )
    ids.add_argument(
        "--id-field", metavar="FIELD", help='the field that holds the sample ids (default: "id")'
    )


def path_fields(args: argparse.Namespace) -> dict[str, str]:
    """The field mapping a PATH is read with: --scenario's (from --config), or --id-field."""
    if args.config and not args.scenario:
        raise CliError("--config: give --scenario NAME too (whose fields: mapping to use)")
    if args.scenario:
        rootdir = Path(os.path.abspath(getattr(args, "rootdir", ".")))
        return dict(suite_scenario(args.config, args.scenario, rootdir).fields)
    return {"id": args.id_field} if args.id_field else {}


def cmd_freeze(args: argparse.Namespace) -> int:
    path = Path(args.path)
    data = load_dataset(path, args.path, path_fields(args))
    shown = frozen.shown_beside(args.path)
    try:
        existing = frozen.verify(data)
    except UserError:
        if not args.force:
            raise
        existing = None  # a corrupt manifest, replaced as asked
    if existing is not None and existing.change.unchanged:
        print(
            f"{args.path}: unchanged since it was frozen ({existing.manifest['created']}); "
            f"kept {shown}"
        )
        return OK
    if existing is not None and not args.force:
        raise CliError(
            f"{shown}: the manifest is of other content ({describe(existing.change)}); "
            "give the changed data a new file name (a new version), or pass --force to "
            "replace the manifest"
        )
    manifest = manifest_mod.of_dataset(data, source=args.source)
    manifest_mod.write(path, manifest)
    ids = "" if data.id_field == "id" else f", ids from {data.id_field!r}"
    print(
        f"{args.path}: froze {manifest['samples']} samples (sha256 {manifest['sha256'][:12]}"
        f"{ids}); wrote {shown}"
    )
    return OK


def cmd_verify(args: argparse.Namespace) -> int:
    if args.paths:
        fields = path_fields(args)
        datasets = [load_dataset(Path(p), p, fields) for p in args.paths]
    elif args.scenario or args.id_field:
        raise CliError(
            "--scenario/--id-field: give PATH too (without PATH each scenario's own "
            "mapping is used)"
        )
    else:
        datasets = _suite_datasets(args)
    changed = False
    for data in datasets:
        verified = frozen.verify(data)
        if verified is None:
            if args.paths:
                raise CliError(
                    f"{data.display}: no manifest beside it ({frozen.shown_beside(data.display)}"
                    f"); freeze it with `llmbench dataset freeze {data.display}`"
                )
            print(f"{data.display}: not frozen (no manifest)")
        elif verified.change.unchanged:
            print(
                f"{data.display}: ok ({len(data.samples)} samples, frozen "
                f"{verified.manifest['created']})"
            )
        else:
            changed = True
            print(frozen.refusal(data, verified))
    return FAILED if changed else OK


def _suite_datasets(args: argparse.Namespace) -> list[Dataset]:
    rootdir = Path(os.path.abspath(args.rootdir))
    config = find_config(args.config, None, rootdir)
    if config is None:
        raise CliError(
            f"no PATH and no suite config at {rootdir / 'benchmarks' / 'llmbench.yaml'}; "
            "name the datasets, or pass --config FILE"
        )
    cfg = load_config(config, rootdir, os.environ)
    # Each dataset once per id field it is read with (two scenarios may map it apart).
    seen: dict[tuple[Path, str], Dataset] = {}
    for _, scenario in sorted(cfg.scenarios.items()):
        key = (scenario.dataset, scenario.fields.get("id", "id"))
        if key not in seen:
            seen[key] = load_dataset(scenario.dataset, scenario.dataset_display, scenario.fields)
    return list(seen.values())
