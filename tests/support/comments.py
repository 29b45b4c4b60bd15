"""The pull request the comment tests post reports to, on the fake GitHub (the `gh` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pytest_llmbench.reporting.markdown import MARKER
from support.fake_github import FakeGitHub

REPO = "octo/bench"
PR = 7
TOKEN = "ghs_s3cr3tTOKENvalue42"
REPORT = f"{MARKER}\n## llmbench\n\nverdict: pass\n"
REPORT_2 = f"{MARKER}\n## llmbench\n\nverdict: warn\n"
LISTING = f"listing the comments of {REPO}#{PR}"


@contextmanager
def github_with_pull() -> Iterator[FakeGitHub]:
    """A fake GitHub that knows pull request REPO#PR, takes TOKEN and pages by three."""
    with FakeGitHub(token=TOKEN, page_size=3) as server:
        server.add_pull(REPO, PR)
        yield server
