"""`llmbench comment`: its arguments, output and exit status, against a fake GitHub REST API
on 127.0.0.1 (the requests themselves: tests/reporting/test_github_comment.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from support.comments import LISTING, PR, REPO, REPORT, REPORT_2, TOKEN
from support.fake_github import FakeGitHub

from pytest_llmbench.cli.comment import add_command, comment_main
from pytest_llmbench.reporting import github_comment
from pytest_llmbench.reporting.markdown import MARKER


@pytest.fixture
def body_file(tmp_path: Path) -> Path:
    path = tmp_path / "report.md"
    path.write_text(REPORT, encoding="utf-8")
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    return monkeypatch


def run_main(gh: FakeGitHub, body_file: Path, *extra: str) -> int:
    argv = ["--repo", REPO, "--pr", str(PR), "--body-file", str(body_file)]
    return comment_main([*argv, "--api-base", gh.api_url, *extra])


def test_command_creates_then_updates_then_leaves_unchanged(
    gh: FakeGitHub, body_file: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(gh, body_file) == 0
    ((cid, _),) = gh.created
    url = f"https://github.example/{REPO}/pull/{PR}#issuecomment-{cid}"
    body_file.write_text(REPORT_2, encoding="utf-8")
    assert run_main(gh, body_file) == 0
    assert run_main(gh, body_file) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"created comment {cid}: {url}",
        f"updated comment {cid}: {url}",
        f"comment {cid} already has this body: {url}",
    ]
    assert err == ""


def test_command_takes_repo_and_api_base_from_the_actions_environment(
    gh: FakeGitHub, body_file: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("GITHUB_REPOSITORY", REPO)
    env.setenv("GITHUB_API_URL", gh.api_url)
    assert comment_main(["--pr", str(PR), "--body-file", str(body_file)]) == 0
    assert capsys.readouterr().out.startswith("created comment ")


def test_command_without_a_token_exits_2_before_any_request(
    gh: FakeGitHub, body_file: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.delenv("GITHUB_TOKEN")
    assert run_main(gh, body_file) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "llmbench comment: GITHUB_TOKEN is not set; export the token (in a workflow: env: "
        "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }})\n"
    )
    assert gh.requests == []


@pytest.mark.parametrize("status", [401, 403, 404, 422])
def test_command_refusals_exit_2_with_one_line_and_no_token(
    gh: FakeGitHub,
    body_file: Path,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: int,
) -> None:
    gh.fail_next(status, "nope")
    assert run_main(gh, body_file) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"llmbench comment: {LISTING}: HTTP {status}")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert TOKEN not in err


def test_command_exits_3_when_github_stays_unavailable(
    gh: FakeGitHub,
    body_file: Path,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env.setattr(github_comment, "BACKOFF_S", (0, 0, 0))  # no waiting in a test
    for _ in range(github_comment.MAX_ATTEMPTS):
        gh.fail_next(503, "Service Unavailable")
    assert run_main(gh, body_file) == 3
    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        f"llmbench comment: {LISTING}: HTTP 503: GitHub failed (Service Unavailable); retry "
        "later (tried 4 times)\n",
    )
    assert gh.created == []


def test_command_rides_out_one_5xx(
    gh: FakeGitHub,
    body_file: Path,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env.setattr(github_comment, "BACKOFF_S", (0, 0, 0))
    gh.fail_next(502, "Bad Gateway", method="POST")
    assert run_main(gh, body_file) == 0
    assert capsys.readouterr().out.startswith("created comment ")
    assert len(gh.created) == 1


def test_command_oversized_body_exits_2(
    gh: FakeGitHub, body_file: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body_file.write_text(MARKER + "\n" + "y" * 70_000, encoding="utf-8")
    assert run_main(gh, body_file) == 2
    assert capsys.readouterr().err == (
        "llmbench comment: the comment body is 70,025 characters, 4,489 over GitHub's limit "
        "of 65,536; shorten the report (nothing was sent)\n"
    )
    assert gh.requests == []


def test_command_missing_body_file_exits_2(
    gh: FakeGitHub, tmp_path: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.md"
    assert run_main(gh, missing) == 2
    assert capsys.readouterr().err == (
        f"llmbench comment: --body-file {missing}: cannot read (No such file or directory)\n"
    )


def test_command_usage_errors_exit_2(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert comment_main(["--repo", REPO, "--pr", "abc", "--body-file", "r.md"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "llmbench comment: error: argument --pr: expected a pull request number, not 'abc'"
    )
    assert comment_main(["--pr", "3", "--body-file", "r.md"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "llmbench comment: error: the following arguments are required: --repo"
    )


def test_add_command_plugs_comment_into_the_llmbench_parser(
    gh: FakeGitHub, body_file: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="llmbench")
    add_command(parser.add_subparsers(dest="command", required=True))
    argv = ["--repo", REPO, "--pr", str(PR), "--body-file", str(body_file)]
    args = parser.parse_args(["comment", *argv, "--api-base", gh.api_url])
    assert args.handler(args) == 0
    assert capsys.readouterr().out.startswith("created comment ")
