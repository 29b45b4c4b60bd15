"""`llmbench dataset push` and `llmbench dataset pull`: a frozen dataset to and from S3/MinIO."""

from __future__ import annotations

import argparse
from pathlib import Path

from pytest_llmbench.cli.common import FORMATTER, OK, Commands

ENDPOINT_HELP = (
    "the S3-compatible endpoint, e.g. MinIO's http://127.0.0.1:9000 (default: "
    "AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS)"
)
CREDENTIALS_NOTE = (
    "credentials: the usual AWS chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "AWS_PROFILE, ~/.aws/...); never printed.\nneeds the s3 extra: pip install "
    "'pytest-llmbench[s3]'\n"
)


def add_command(commands: Commands) -> None:
    push = commands.add_parser(
        "push",
        help="upload a frozen dataset and its manifest to s3://BUCKET/PREFIX/",
        description="Upload PATH and its manifest (<name>.manifest.json beside it; "
        "`llmbench dataset freeze` writes it) under the prefix: the data first, then the "
        "manifest, so a prefix that holds the manifest holds the whole version. Both carry "
        "the data's sha256 as object metadata. The data must match its manifest. A "
        "different version already there is refused unless --force; the same version is "
        "left as it is. s3://BUCKET/PREFIX and s3://BUCKET/PREFIX/ name the same prefix.",
        epilog=CREDENTIALS_NOTE + "exit status:\n  0  pushed, or already there\n  2  usage "
        "error: no manifest, data that does not match it, another version there, or an S3 "
        "error (no credentials, no bucket, access denied, endpoint down)",
        formatter_class=FORMATTER,
    )
    push.add_argument("path", metavar="PATH", help="the dataset (.jsonl), frozen")
    push.add_argument("destination", metavar="s3://BUCKET/PREFIX/", help="where to put it")
    push.add_argument("--endpoint-url", metavar="URL", help=ENDPOINT_HELP)
    push.add_argument("--force", action="store_true", help="replace a different version")
    push.set_defaults(handler=cmd_push)

    pull = commands.add_parser(
        "pull",
        help="download a dataset and its manifest from S3, checksum verified",
        description="Download s3://BUCKET/PREFIX/NAME.jsonl and NAME.manifest.json beside "
        "it into DIR (created when missing). The data is streamed into a temporary file in "
        "DIR and renamed into place only when its sha256 is the manifest's: a damaged or "
        "tampered copy leaves nothing behind. A different version already in DIR is "
        "refused unless --force; the same version is left as it is.",
        epilog=CREDENTIALS_NOTE + "exit status:\n  0  pulled and verified, or already "
        "there\n  2  usage error: a checksum mismatch, a missing or damaged remote manifest, "
        "another version in DIR, or an S3 error",
        formatter_class=FORMATTER,
    )
    pull.add_argument("source", metavar="s3://BUCKET/PREFIX/NAME.jsonl", help="the dataset")
    pull.add_argument("directory", metavar="DIR", help="the folder to write it into")
    pull.add_argument("--endpoint-url", metavar="URL", help=ENDPOINT_HELP)
    pull.add_argument("--force", action="store_true", help="replace a different version")
    pull.set_defaults(handler=cmd_pull)


def cmd_push(args: argparse.Namespace) -> int:
    from pytest_llmbench.datasets import object_store, sync
    from pytest_llmbench.datasets.s3_url import parse_s3_url

    destination = parse_s3_url(args.destination, kind="prefix")
    version = sync.local_version(Path(args.path))  # before any request: freeze first, ...
    store = object_store.connect(args.endpoint_url)
    outcome = sync.push(store, version, destination, force=args.force)
    print(outcome.message)
    return OK


def cmd_pull(args: argparse.Namespace) -> int:
    from pytest_llmbench.datasets import object_store, sync
    from pytest_llmbench.datasets.s3_url import parse_s3_url

    source = parse_s3_url(args.source, kind="object")
    store = object_store.connect(args.endpoint_url)
    outcome = sync.pull(store, source, Path(args.directory), force=args.force)
    print(outcome.message)
    return OK
