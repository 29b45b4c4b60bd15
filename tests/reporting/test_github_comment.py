"""The sticky PR comment, against a fake GitHub REST API on 127.0.0.1 that paginates."""

from __future__ import annotations

import pytest
from support.comments import LISTING, PR, REPO, REPORT, REPORT_2, TOKEN
from support.fake_github import BOT, FakeGitHub
from support.loopback import closed_port

from pytest_llmbench.reporting.github_comment import (
    MAX_ATTEMPTS,
    MAX_WAIT_S,
    CommentError,
    CommentResult,
    next_link,
    upsert_comment,
)
from pytest_llmbench.reporting.markdown import MARKER


def upsert(
    gh: FakeGitHub, body: str = REPORT, *, sleeps: list[float] | None = None, **kwargs: object
) -> CommentResult:
    """upsert_comment against `gh`; its waits between tries go to `sleeps`, not the clock."""
    waits = [] if sleeps is None else sleeps
    options: dict[str, object] = {"token": TOKEN, "api_base": gh.api_url, **kwargs}
    return upsert_comment(REPO, PR, body, sleep=waits.append, **options)  # type: ignore[arg-type]


def others(gh: FakeGitHub, count: int) -> list[int]:
    return [gh.add_comment(REPO, PR, f"comment {i} by a human", user="alice") for i in range(count)]


def methods(gh: FakeGitHub) -> list[str]:
    return [f"{r.method} {r.path}" for r in gh.requests]


# -- creating, updating, never a second copy -------------------------------------------------


def test_creates_the_comment_when_none_carries_the_marker(gh: FakeGitHub) -> None:
    others(gh, 2)
    result = upsert(gh)
    ((created_id, body),) = gh.created
    assert result == CommentResult(
        "created", created_id, f"https://github.example/{REPO}/pull/{PR}#issuecomment-{created_id}"
    )
    assert body == REPORT
    assert gh.edited == []
    assert methods(gh) == [
        f"GET /repos/{REPO}/issues/{PR}/comments?per_page=100",
        f"POST /repos/{REPO}/issues/{PR}/comments",
    ]
    headers = gh.requests[0].headers
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["x-github-api-version"] == "2022-11-28"
    assert headers["authorization"] == f"Bearer {TOKEN}"


def test_updates_the_marked_comment_found_on_page_3_of_3(gh: FakeGitHub) -> None:
    others(gh, 7)  # pages 1-2 and the first of page 3
    ours = gh.add_comment(REPO, PR, REPORT, user=BOT)
    others(gh, 1)  # after it, on page 3
    result = upsert(gh, REPORT_2)
    assert result.action == "updated"
    assert result.id == ours
    assert gh.edited == [(ours, REPORT_2)]
    assert gh.created == []
    assert methods(gh) == [
        f"GET /repos/{REPO}/issues/{PR}/comments?per_page=100",
        f"GET /repos/{REPO}/issues/{PR}/comments?per_page=3&page=2",
        f"GET /repos/{REPO}/issues/{PR}/comments?per_page=3&page=3",
        "GET /user",  # whose token: an App's (403), so our comment is a bot's
        f"PATCH /repos/{REPO}/issues/comments/{ours}",
    ]
    assert gh.bodies(REPO, PR).count(REPORT_2) == 1


def test_repeated_runs_keep_exactly_one_comment(gh: FakeGitHub) -> None:
    others(gh, 5)
    actions = [upsert(gh, f"{MARKER}\nrun {i}\n").action for i in range(3)]
    assert actions == ["created", "updated", "updated"]
    marked = [b for b in gh.bodies(REPO, PR) if b.startswith(MARKER)]
    assert marked == [f"{MARKER}\nrun 2\n"]
    assert len(gh.created) == 1


def test_only_the_first_of_two_marked_comments_is_updated(gh: FakeGitHub) -> None:
    first = gh.add_comment(REPO, PR, REPORT, user=BOT)
    gh.add_comment(REPO, PR, REPORT, user=BOT)
    result = upsert(gh, REPORT_2)
    assert (result.action, result.id) == ("updated", first)
    assert gh.edited == [(first, REPORT_2)]


def test_a_quoted_marker_is_not_the_report_comment(gh: FakeGitHub) -> None:
    gh.add_comment(REPO, PR, f"> {MARKER}\n> ## llmbench\n\nwhy did it drop?", user="alice")
    assert upsert(gh).action == "created"


def test_a_reviewers_comment_starting_with_the_marker_is_never_edited(gh: FakeGitHub) -> None:
    pasted = gh.add_comment(REPO, PR, f"{REPORT}\nwhy did it drop?", user="alice")
    result = upsert(gh, REPORT_2)
    assert result.action == "created"
    assert gh.edited == []
    assert gh.bodies(REPO, PR)[0] == f"{REPORT}\nwhy did it drop?"
    assert pasted != result.id


def test_a_bots_comment_with_the_marker_further_down_is_not_ours(gh: FakeGitHub) -> None:
    gh.add_comment(REPO, PR, f"Dependency bump.\n\n{REPORT}", user="renovate[bot]")
    assert upsert(gh).action == "created"
    assert gh.edited == []


def test_a_users_token_edits_only_that_users_comment() -> None:
    with FakeGitHub(token=TOKEN, page_size=3, login="Octo-CI") as gh:
        gh.add_pull(REPO, PR)
        gh.add_comment(REPO, PR, REPORT, user=BOT)  # not this token's: another bot's
        ours = gh.add_comment(REPO, PR, REPORT, user="octo-ci")  # logins ignore case
        result = upsert(gh, REPORT_2)
        assert (result.action, result.id) == ("updated", ours)
        assert gh.edited == [(ours, REPORT_2)]
        # The identity is asked once, however many comments start with the marker.
        assert [r.path for r in gh.requests].count("/user") == 1


def test_a_users_token_creates_its_own_comment_beside_a_bots() -> None:
    with FakeGitHub(token=TOKEN, login="octo-ci") as gh:
        gh.add_pull(REPO, PR)
        gh.add_comment(REPO, PR, REPORT, user=BOT)
        assert upsert(gh, REPORT_2).action == "created"
        ((_, body),) = gh.created
        assert body == REPORT_2
        assert gh.comments[(REPO, PR)][-1]["user"]["login"] == "octo-ci"


def test_no_comment_starting_with_the_marker_asks_no_identity(gh: FakeGitHub) -> None:
    others(gh, 4)
    assert upsert(gh).action == "created"
    assert "/user" not in [r.path for r in gh.requests]


def test_identical_body_is_left_unchanged_without_a_patch(gh: FakeGitHub) -> None:
    ours = gh.add_comment(REPO, PR, REPORT.replace("\n", "\r\n"), user=BOT)
    result = upsert(gh)
    assert (result.action, result.id) == ("unchanged", ours)
    assert methods(gh) == [f"GET /repos/{REPO}/issues/{PR}/comments?per_page=100", "GET /user"]
    assert gh.edited == gh.created == []


def test_an_enterprise_api_base_with_a_path_prefix(gh: FakeGitHub) -> None:
    with FakeGitHub(token=TOKEN, page_size=2, prefix="/api/v3") as ghe:
        ghe.add_pull(REPO, PR)
        for i in range(5):
            ghe.add_comment(REPO, PR, f"c{i}")
        assert ghe.api_url.endswith("/api/v3")
        assert upsert(ghe, api_base=ghe.api_url + "/").action == "created"
        assert [r.method for r in ghe.requests] == ["GET", "GET", "GET", "POST"]


def test_next_link_parsing() -> None:
    header = (
        '<https://api.github.com/x?page=2>; rel="next", '
        '<https://api.github.com/x?page=5>; rel="last"'
    )
    assert next_link(header) == "https://api.github.com/x?page=2"
    assert next_link('<https://api.github.com/x?page=1>; rel="prev"') is None
    assert next_link("") is None


# -- errors: exact messages, never the token ---------------------------------------------------

WHERE = f"{REPO}#{PR}"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        pytest.param(
            lambda gh: gh.fail_next(401, "Bad credentials"),
            f"{LISTING}: HTTP 401 (Bad credentials): GITHUB_TOKEN is missing or invalid; pass "
            "the workflow's token (env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}) or a token "
            "that has not expired",
            id="401",
        ),
        pytest.param(
            lambda gh: gh.fail_next(403, "Resource not accessible by integration", method="POST"),
            f"creating the comment on {WHERE}: HTTP 403 (Resource not accessible by "
            f"integration): the token may not write comments on {WHERE}; give the workflow "
            "`permissions: pull-requests: write` (a pull request from a fork gets a read-only "
            "token: comment from a pull_request_target or workflow_run job)",
            id="403-permissions",
        ),
        pytest.param(
            lambda gh: gh.fail_next(404, "Not Found"),
            f"{LISTING}: HTTP 404 (Not Found): the repository or pull request {WHERE} was not "
            "found, or the token cannot see it; check --repo and --pr, and that the token has "
            "access to a private repository",
            id="404",
        ),
        pytest.param(
            lambda gh: gh.fail_next(422, "Validation Failed", method="POST"),
            f"creating the comment on {WHERE}: HTTP 422: GitHub refused the comment "
            "(Validation Failed)",
            id="422",
        ),
    ],
)
def test_refusals_have_clear_messages_without_the_token(
    gh: FakeGitHub, setup: object, message: str
) -> None:
    setup(gh)  # type: ignore[operator]
    with pytest.raises(CommentError) as caught:
        upsert(gh)
    assert str(caught.value) == message
    assert TOKEN not in str(caught.value)
    assert gh.created == gh.edited == []


# -- retries: GitHub's 5xx and rate limits ----------------------------------------------------


def test_a_5xx_is_retried_with_backoff_and_then_succeeds(gh: FakeGitHub) -> None:
    gh.fail_next(502, "Server Error")
    gh.fail_next(503, "Service Unavailable", method="POST")
    sleeps: list[float] = []
    assert upsert(gh, sleeps=sleeps).action == "created"
    assert sleeps == [1, 2]
    assert len(gh.created) == 1


def test_a_comment_created_before_a_5xx_is_found_not_posted_twice(gh: FakeGitHub) -> None:
    gh.fail_next(502, "Server Error", method="POST", after=True)
    sleeps: list[float] = []
    result = upsert(gh, sleeps=sleeps)
    ((created_id, _),) = gh.created
    assert (result.action, result.id) == ("unchanged", created_id)
    assert sleeps == [1]
    assert gh.bodies(REPO, PR) == [REPORT]


def test_a_5xx_that_lasts_gives_up_after_the_attempts(gh: FakeGitHub) -> None:
    for _ in range(MAX_ATTEMPTS):
        gh.fail_next(500, "Server Error")
    sleeps: list[float] = []
    with pytest.raises(CommentError) as caught:
        upsert(gh, sleeps=sleeps)
    assert str(caught.value) == (
        f"{LISTING}: HTTP 500: GitHub failed (Server Error); retry later (tried 4 times)"
    )
    assert caught.value.unavailable
    assert sleeps == [1, 2, 4]
    assert [r.method for r in gh.requests] == ["GET"] * MAX_ATTEMPTS


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        pytest.param(403, {"Retry-After": "7"}, 7, id="403-retry-after"),
        pytest.param(429, {"Retry-After": "3"}, 3, id="429-retry-after"),
        pytest.param(429, {}, 1, id="429-no-time-backs-off"),
        pytest.param(
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000000"},  # past: 1 s
            1,
            id="403-remaining-0-reset-passed",
        ),
    ],
)
def test_a_secondary_rate_limit_is_waited_out_then_retried(
    gh: FakeGitHub, status: int, headers: dict[str, str], wait: float
) -> None:
    gh.fail_next(status, "You have exceeded a secondary rate limit", method="POST", headers=headers)
    sleeps: list[float] = []
    assert upsert(gh, sleeps=sleeps).action == "created"
    assert sleeps == [wait]
    assert len(gh.created) == 1


def test_a_rate_limit_that_outlasts_the_retries_says_when_it_resets(gh: FakeGitHub) -> None:
    gh.rate_limited()
    sleeps: list[float] = []
    with pytest.raises(CommentError) as caught:
        upsert(gh, sleeps=sleeps)
    assert str(caught.value) == (
        f"{LISTING}: HTTP 403: GitHub's API rate limit is exhausted (API rate limit exceeded "
        "for installation.); it resets at 22:13:20 UTC; retry then (tried 4 times)"
    )
    assert caught.value.unavailable
    assert sleeps == [1, 1, 1]


def test_a_wait_longer_than_the_limit_is_not_waited(gh: FakeGitHub) -> None:
    gh.fail_next(
        403,
        "You have exceeded a secondary rate limit",
        headers={"Retry-After": str(MAX_WAIT_S + 1)},
    )
    sleeps: list[float] = []
    with pytest.raises(CommentError) as caught:
        upsert(gh, sleeps=sleeps)
    assert str(caught.value) == (
        f"{LISTING}: HTTP 403: GitHub's secondary rate limit (You have exceeded a secondary "
        f"rate limit); retry in {MAX_WAIT_S + 1} s"
    )
    assert sleeps == []
    assert len(gh.requests) == 1


def test_a_permission_403_is_not_retried(gh: FakeGitHub) -> None:
    gh.fail_next(403, "Resource not accessible by integration", method="POST")
    sleeps: list[float] = []
    with pytest.raises(CommentError) as caught:
        upsert(gh, sleeps=sleeps)
    assert not caught.value.unavailable
    assert sleeps == []


def test_an_identity_lookup_that_fails_with_a_5xx_is_retried(gh: FakeGitHub) -> None:
    ours = gh.add_comment(REPO, PR, REPORT, user=BOT)
    gh.fail_next(502, "Server Error", path="/user")
    sleeps: list[float] = []
    assert upsert(gh, REPORT_2, sleeps=sleeps).action == "updated"
    assert gh.edited == [(ours, REPORT_2)]
    assert sleeps == [1]
    assert [r.path for r in gh.requests].count("/user") == 2


def test_a_wrong_token_is_401_from_the_server(gh: FakeGitHub) -> None:
    with pytest.raises(
        CommentError, match=r"HTTP 401 \(Bad credentials\): GITHUB_TOKEN is missing"
    ):
        upsert(gh, token="ghs_wrong")


def test_an_unknown_pull_request_is_404(gh: FakeGitHub) -> None:
    with pytest.raises(CommentError, match=r"HTTP 404 \(Not Found\): the repository or pull"):
        upsert_comment(REPO, 99, REPORT, token=TOKEN, api_base=gh.api_url)


def test_a_patch_refused_with_422_names_githubs_reason(gh: FakeGitHub) -> None:
    ours = gh.add_comment(REPO, PR, REPORT, user=BOT)
    gh.fail_next(422, "Validation Failed", method="PATCH")
    with pytest.raises(CommentError) as caught:
        upsert(gh, REPORT_2)
    assert str(caught.value) == (
        f"updating the comment on {WHERE}: HTTP 422: GitHub refused the comment (Validation Failed)"
    )
    assert gh.bodies(REPO, PR) == [REPORT]
    assert ours


def test_an_oversized_body_is_refused_before_any_request(gh: FakeGitHub) -> None:
    body = MARKER + "\n" + "x" * 65_600
    with pytest.raises(CommentError) as caught:
        upsert(gh, body)
    assert str(caught.value) == (
        "the comment body is 65,625 characters, 89 over GitHub's limit of 65,536; shorten the "
        "report (nothing was sent)"
    )
    assert gh.requests == []


def test_a_body_at_the_limit_is_sent(gh: FakeGitHub) -> None:
    body = MARKER + "\n" + "x" * (65_536 - len(MARKER) - 1)
    assert upsert(gh, body).action == "created"


def test_a_body_without_a_marker_is_refused_before_any_request(gh: FakeGitHub) -> None:
    with pytest.raises(CommentError, match=r"^the body's first line is not a hidden marker"):
        upsert(gh, "## llmbench\n")
    assert gh.requests == []


@pytest.mark.parametrize(
    ("repo", "pr", "api_base", "message"),
    [
        (
            "octo",
            PR,
            "http://127.0.0.1:9",
            "--repo 'octo': expected OWNER/NAME, e.g. octo-org/octo-repo",
        ),
        (REPO, 0, "http://127.0.0.1:9", "--pr 0: expected a pull request number (1 or more)"),
        (
            REPO,
            PR,
            "api.github.com",
            "--api-base 'api.github.com': expected an http(s) URL, e.g. https://api.github.com or https://github.example.com/api/v3",
        ),
        (
            REPO,
            PR,
            "https://api.github.com:port",
            "--api-base 'https://api.github.com:port': expected an http(s) URL, e.g. https://api.github.com or https://github.example.com/api/v3",
        ),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    repo: str, pr: int, api_base: str, message: str
) -> None:
    with pytest.raises(CommentError) as caught:
        upsert_comment(repo, pr, REPORT, token=TOKEN, api_base=api_base)
    assert str(caught.value) == message


def test_an_unreachable_api_is_a_clear_error(unused_port: int) -> None:
    with pytest.raises(CommentError) as caught:
        upsert_comment(REPO, PR, REPORT, token=TOKEN, api_base=f"http://127.0.0.1:{unused_port}")
    assert str(caught.value) == (
        f"{LISTING}: cannot reach http://127.0.0.1:{unused_port} (ConnectError); check the "
        "network and --api-base"
    )


def test_the_token_is_never_sent_to_another_host(gh: FakeGitHub) -> None:
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.host == "api.github.com"
        return httpx.Response(
            200, json=[], headers={"Link": '<https://evil.example/next?page=2>; rel="next"'}
        )

    with pytest.raises(CommentError) as caught:
        upsert_comment(REPO, PR, REPORT, token=TOKEN, transport=httpx.MockTransport(handler))
    assert str(caught.value) == (
        f"{LISTING}: the next page is on another host (https://evil.example, not "
        "https://api.github.com); check --api-base"
    )


@pytest.fixture
def unused_port() -> int:
    return closed_port()
