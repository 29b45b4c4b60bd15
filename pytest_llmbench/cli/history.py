"""`llmbench history`: a folder or an ``s3://`` prefix of run records as a table over time,
or a page of charts; ``--push RECORD`` adds a record to it."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmbench.cli.common import FORMATTER, OK, PROG, CliError, Commands, emit
from pytest_llmbench.datasets.s3_url import is_s3_url
from pytest_llmbench.errors import RecordError, os_reason

if TYPE_CHECKING:
    from pytest_llmbench.datasets.object_store import Store
    from pytest_llmbench.datasets.s3_url import S3Location
    from pytest_llmbench.results.schema import RunRecord

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
        "of one run) can be picked and compared side by side. DIR may be an S3 prefix, "
        "s3://BUCKET/PREFIX/ (its *.json objects, not those in sub-prefixes; the s3 extra). "
        "--push RECORD adds a run record to DIR (a folder or an S3 prefix) as <run id>.json "
        "instead, and prints no table: how a nightly keeps its history beyond artifact "
        "retention.",
        epilog="S3: credentials from the usual AWS chain (never printed); the endpoint from "
        "--endpoint-url,\nelse AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (MinIO), else AWS.\n"
        "exit status:\n  0  the table (and page) written, also when DIR holds no "
        "runs; or the record pushed, or already there\n  2  usage error, DIR missing, the "
        "page cannot be written, a record that is not one, a different record under the "
        "same run id, or an S3 error",
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
    history.add_argument(
        "--push",
        metavar="RECORD",
        help="add this run record to DIR as <run id>.json (refused when another record has "
        "that name there); print no table",
    )
    history.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="for an s3:// DIR: the S3-compatible endpoint (MinIO), default "
        "AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS",
    )
    history.set_defaults(handler=cmd_history)


def cmd_history(args: argparse.Namespace) -> int:
    from pytest_llmbench.reporting import history as history_mod

    if args.push:
        if args.html:
            raise CliError(
                "--push adds a record and prints nothing else; write the page with a "
                "second command: llmbench history DIR --html OUT"
            )
        return push_record(Path(args.push), args.dir, args.endpoint_url)
    if is_s3_url(args.dir):
        return show(args, *load_s3_runs(args.dir, args.endpoint_url), args.dir, default=False)
    directory = Path(args.dir)
    default = directory == DEFAULT_HISTORY
    if not directory.is_dir():
        what = "is not a folder" if directory.exists() else "no such history folder"
        where = f"; {where_runs_are()}" if default and not directory.exists() else ""
        raise CliError(f"{directory}: {what}{where} (give one: llmbench history DIR)")
    runs, skipped = history_mod.load_runs(directory)
    return show(args, runs, skipped, str(directory), default=default)


def show(
    args: argparse.Namespace,
    runs: list[Any],
    skipped: list[str],
    directory: str,
    *,
    default: bool,
) -> int:
    """The notes, the page and the table of loaded runs."""
    from pytest_llmbench.reporting import history as history_mod

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


# -- an S3 prefix of run records --------------------------------------------------------


def load_s3_runs(url: str, endpoint_url: str | None) -> tuple[list[Any], list[str]]:
    """`history.load_runs` over the ``*.json`` objects directly under an S3 prefix: each is
    streamed into a temporary file (at most the largest record read), read and checked as
    a file is, summarised and deleted before the next; notes name the object's URL."""
    from pytest_llmbench.datasets import object_store
    from pytest_llmbench.datasets.s3_url import parse_s3_url
    from pytest_llmbench.reporting import history as history_mod

    prefix = parse_s3_url(url, kind="prefix")
    store = object_store.connect(endpoint_url)
    store.check_bucket(prefix)
    with tempfile.TemporaryDirectory(prefix="llmbench-history-") as folder:
        sources = (
            (location.url, functools.partial(s3_record, store, location, size, Path(folder)))
            for location, size in store.objects(prefix)
            if location.name.endswith(".json")
        )
        return history_mod.collect_runs(sources)


def s3_record(store: Store, location: S3Location, size: int, folder: Path) -> RunRecord:
    from pytest_llmbench.datasets.object_store import TooLarge
    from pytest_llmbench.results import record as record_mod

    too_large = RecordError(
        f"{location.url}: over {record_mod.MAX_RECORD_BYTES // 2**20} MiB, the largest run "
        "record read; is this a run record?"
    )
    if size > record_mod.MAX_RECORD_BYTES:
        raise too_large
    path = folder / "record.json"
    try:
        with path.open("wb") as out:
            store.download(location, out, limit=record_mod.MAX_RECORD_BYTES)
        return record_mod.load(path)
    except TooLarge:
        raise too_large from None
    except RecordError as error:
        raise RecordError(str(error).replace(str(path), location.url)) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# -- --push RECORD ------------------------------------------------------------------------

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


def push_record(record_path: Path, destination: str, endpoint_url: str | None) -> int:
    """Add the run record to a history folder or S3 prefix as ``<run id>.json``: the same
    bytes there already is a no-op, another record under that name is refused."""
    from pytest_llmbench.datasets.sync import file_sha256
    from pytest_llmbench.results import record as record_mod

    record = record_mod.load(record_path)
    if record.get("shard"):
        raise CliError(
            f"{record_path}: a shard of a run; join the shards with `llmbench merge` and "
            "push the merged record"
        )
    run_id = str(record.get("run", {}).get("id") or "")
    if not _SAFE_NAME.fullmatch(run_id):
        raise CliError(
            f"{record_path}: run.id {run_id[:40]!r} cannot name a file in the history "
            "(letters, digits, '.', '_' and '-')"
        )
    del record
    name = f"{run_id}.json"
    sha256 = file_sha256(record_path)
    if is_s3_url(destination):
        where = push_to_s3(record_path, sha256, destination, name, endpoint_url)
    else:
        where = push_to_folder(record_path, sha256, Path(destination), name)
    if where is None:
        print(f"{destination}: already holds run {run_id} ({name}); nothing pushed")
    else:
        print(f"pushed run {run_id} to {where}")
    return OK


def push_to_s3(
    record_path: Path, sha256: str, destination: str, name: str, endpoint_url: str | None
) -> str | None:
    from pytest_llmbench.datasets import object_store
    from pytest_llmbench.datasets.s3_url import parse_s3_url

    target = parse_s3_url(destination, kind="prefix").child(name)
    store = object_store.connect(endpoint_url)
    store.check_bucket(target)
    there = store.metadata(target)
    if there is not None:
        if there.get(object_store.SHA256_KEY) == sha256:
            return None
        raise CliError(
            f"{target.url}: holds another record under this run id; remove it first if this "
            "one should replace it"
        )
    store.upload(record_path, target, sha256, "application/json")
    return target.url


def push_to_folder(record_path: Path, sha256: str, folder: Path, name: str) -> str | None:
    from pytest_llmbench.datasets.sync import file_sha256

    target = folder / name
    if target.exists():
        if target.is_file() and file_sha256(target) == sha256:
            return None
        raise CliError(
            f"{target}: holds another record under this run id; remove it first if this "
            "one should replace it"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
        os.close(fd)
    except OSError as error:
        raise CliError(f"{folder}: cannot write ({os_reason(error, folder)})") from None
    try:
        shutil.copyfile(record_path, partial)
        Path(partial).replace(target)
    except OSError as error:
        raise CliError(f"{target}: cannot write ({os_reason(error, target)})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(partial).unlink()
    return str(target)
