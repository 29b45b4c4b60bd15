"""`llmbench comment`: post the markdown report as the pull request's sticky comment.

The arguments and messages; the requests to GitHub are ``reporting/github_comment.py``.

    llmbench comment --repo OWNER/NAME --pr 17 --body-file report.md
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pytest_llmbench.cli.common import FORMATTER, OK, USAGE, Commands, Parser
from pytest_llmbench.reporting.github_comment import DEFAULT_API, CommentError, upsert_comment

PROG = "llmbench comment"
TOKEN_ENV = "GITHUB_TOKEN"
UNAVAILABLE = 3  # GitHub failed or rate-limited us: not the benchmark's fault, nor the user's

DESCRIPTION = (
    "Post the markdown report (--llmbench-report) as the pull request's sticky comment: our "
    "comment, the one whose body starts with the report's hidden marker (its first line) "
    "and whose author is the token's identity (GET /user, or a bot account for a GitHub "
    "App's token such as the Actions GITHUB_TOKEN), is updated in place, searched across "
    "every page of the PR's comments; one is created when there is none. GitHub's 5xx "
    "answers and rate limits are retried a few times. The token is read from the "
    "GITHUB_TOKEN environment variable."
)
EPILOG = """\
exit status:
  0  the comment was created, updated, or already had this body
  2  usage error, a missing token, an unreadable or oversized body, or GitHub refused
     (401 bad token, 403 no permission, 404 no such repo or PR, 422)
  3  GitHub unavailable: 5xx answers or rate limits outlasting the retries, or no answer
     (a workflow may treat this as a warning: the benchmark's own status still decides)
"""


def _pr_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a pull request number, not {text!r}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    repo = os.environ.get("GITHUB_REPOSITORY") or None
    parser.add_argument(
        "--repo",
        required=repo is None,
        default=repo,
        metavar="OWNER/NAME",
        help="the repository (default: $GITHUB_REPOSITORY)",
    )
    parser.add_argument(
        "--pr", required=True, type=_pr_number, metavar="N", help="the pull request number"
    )
    parser.add_argument(
        "--body-file", required=True, metavar="PATH", help="the report markdown ('-': stdin)"
    )
    parser.add_argument(
        "--api-base",
        default=os.environ.get("GITHUB_API_URL") or DEFAULT_API,
        metavar="URL",
        help="the REST API root, for GitHub Enterprise e.g. https://github.example.com/api/v3 "
        f"(default: $GITHUB_API_URL, else {DEFAULT_API})",
    )


def add_command(commands: Commands) -> None:
    parser = commands.add_parser(
        "comment",
        help="create or update the sticky PR comment from a report",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=FORMATTER,
    )
    add_arguments(parser)
    parser.set_defaults(handler=cmd_comment)


def cmd_comment(args: argparse.Namespace) -> int:
    """Run a parsed `llmbench comment`: one line on stdout, or one on stderr and exit 2."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        print(
            f"{PROG}: {TOKEN_ENV} is not set; export the token (in a workflow: "
            "env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }})",
            file=sys.stderr,
        )
        return USAGE
    try:
        body = _read_body(args.body_file)
        result = upsert_comment(args.repo, args.pr, body, token=token, api_base=args.api_base)
    except CommentError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return UNAVAILABLE if error.unavailable else USAGE
    if result.action == "unchanged":
        print(f"comment {result.id} already has this body: {result.url}")
    else:
        print(f"{result.action} comment {result.id}: {result.url}")
    return OK


def _read_body(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as error:
        raise CommentError(f"--body-file {path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise CommentError(f"--body-file {path}: not UTF-8 ({error.reason})") from None


def comment_main(argv: Sequence[str] | None = None) -> int:
    """`llmbench comment ...` on its own: argv without the command name."""
    parser = Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=FORMATTER)
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2), already printed
        return exit_.code if isinstance(exit_.code, int) else USAGE
    return cmd_comment(args)
