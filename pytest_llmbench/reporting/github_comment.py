"""The sticky PR comment: create the report's comment on a pull request, or update it in place.

One comment per pull request: ours is the oldest comment whose body STARTS with the report's
hidden marker (the body's first line, ``<!-- llmbench-report -->``) and whose author is the
token's own identity: the login GET /user answers for a user's token, or, for a GitHub App's
installation token (the Actions ``GITHUB_TOKEN`` among them, which may not read /user), a
bot account (``type: Bot``, login ``…[bot]``). A reviewer quoting or pasting the report is
never edited. Every page of the PR's comments is searched; a new comment is created only
when none is ours. GitHub's 5xx answers and its rate limits (403/429 with ``Retry-After``,
or ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset``) are retried, MAX_ATTEMPTS times
at most and never waiting more than MAX_WAIT_S at once; each attempt starts again from the
listing, so a comment a failed request did create is found, not posted twice. The token
goes into the Authorization header and nowhere else: no message, no URL. The ``llmbench
comment`` command (``cli/comment.py``) calls ``upsert_comment``.
"""

from __future__ import annotations

import datetime as _dt
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from pytest_llmbench.redaction import url_origin

DEFAULT_API = "https://api.github.com"
MAX_BODY_CHARS = 65_536  # GitHub refuses a longer comment body (422)
MAX_PAGES = 200  # 20,000 comments: beyond that, something loops
TIMEOUT_S = 30.0
MAX_ATTEMPTS = 4  # tries of the whole listing-and-writing, for 5xx and rate limits
MAX_WAIT_S = 60  # a longer Retry-After or rate-limit reset is not waited for
BACKOFF_S = (1, 2, 4)  # between tries after a 5xx (or a rate limit that gives no time)

Action = Literal["created", "updated", "unchanged"]

_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_MARKER_RE = re.compile(r"^<!--.*-->$")
_NEXT_RE = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class CommentError(Exception):
    """Why the comment could not be written, and what to do; never holds the token.
    ``unavailable``: GitHub failed or rate-limited us (retrying later may work), as opposed
    to a refusal of the request itself."""

    def __init__(self, message: str, *, unavailable: bool = False) -> None:
        super().__init__(message)
        self.unavailable = unavailable


class _Retry(CommentError):
    """A 5xx or a rate limit: worth another try after ``wait_s`` (None or 0: by the
    backoff)."""

    def __init__(self, message: str, wait_s: float | None) -> None:
        super().__init__(message, unavailable=True)
        self.wait_s = wait_s


@dataclass(frozen=True)
class CommentResult:
    action: Action
    id: int
    url: str  # the comment's html_url


def upsert_comment(
    repo: str,
    pr: int,
    body: str,
    *,
    token: str,
    api_base: str = DEFAULT_API,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CommentResult:
    """Update our comment on the PR (``body``'s marker at the start, by the token's
    identity), or create one.

    Raises CommentError for a bad repo, PR or body (before any request) and for every
    answer GitHub refuses (401, 403, 404, 422), a network failure, and 5xx answers or rate
    limits that outlast the retries (``unavailable`` is then true). ``sleep`` waits between
    tries (tests pass one that records).
    """
    try:
        return _with_retries(
            lambda: _upsert(repo, pr, body, token=token, api_base=api_base, transport=transport),
            sleep,
        )
    except CommentError as error:
        if token and token in str(error):  # defence in depth: no message carries the token
            raise CommentError(
                str(error).replace(token, "***"), unavailable=error.unavailable
            ) from None
        raise


def _with_retries(
    attempt: Callable[[], CommentResult], sleep: Callable[[float], None]
) -> CommentResult:
    for number in range(1, MAX_ATTEMPTS + 1):
        try:
            return attempt()
        except _Retry as retry:
            wait = retry.wait_s or BACKOFF_S[min(number, len(BACKOFF_S)) - 1]
            if number == MAX_ATTEMPTS or wait > MAX_WAIT_S:
                tried = f" (tried {number} times)" if number > 1 else ""
                raise CommentError(f"{retry}{tried}", unavailable=True) from None
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _upsert(
    repo: str,
    pr: int,
    body: str,
    *,
    token: str,
    api_base: str,
    transport: httpx.BaseTransport | None,
) -> CommentResult:
    marker = check_body(body)
    if not _REPO_RE.match(repo):
        raise CommentError(f"--repo {repo!r}: expected OWNER/NAME, e.g. octo-org/octo-repo")
    if pr < 1:
        raise CommentError(f"--pr {pr}: expected a pull request number (1 or more)")
    base = check_api_base(api_base)
    where = f"{repo}#{pr}"
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "Authorization": f"Bearer {token}",
        "User-Agent": "pytest-llmbench",
    }
    with httpx.Client(
        headers=headers, timeout=TIMEOUT_S, transport=transport, follow_redirects=True
    ) as client:
        identity: list[str | None] = []  # asked once, when a comment starts with the marker

        def ours(comment: Mapping[str, Any]) -> bool:
            if not starts_with_marker(str(comment.get("body") or ""), marker):
                return False
            if not identity:
                identity.append(token_login(client, base, where))
            return is_author(comment, identity[0])

        found = _find(client, base, repo, pr, ours, where)
        if found is None:
            created = _call(
                client, "POST", f"{base}/repos/{repo}/issues/{pr}/comments", where, body
            )
            return CommentResult("created", int(created["id"]), str(created["html_url"]))
        if _same(found.get("body") or "", body):
            return CommentResult("unchanged", int(found["id"]), str(found["html_url"]))
        updated = _call(
            client, "PATCH", f"{base}/repos/{repo}/issues/comments/{found['id']}", where, body
        )
        return CommentResult("updated", int(updated["id"]), str(updated["html_url"]))


def check_body(body: str) -> str:
    """The body's marker (its first line), or CommentError: too long, or no marker."""
    if len(body) > MAX_BODY_CHARS:
        over = len(body) - MAX_BODY_CHARS
        raise CommentError(
            f"the comment body is {len(body):,} characters, {over:,} over GitHub's limit of "
            f"{MAX_BODY_CHARS:,}; shorten the report (nothing was sent)"
        )
    marker = body.split("\n", 1)[0].strip()
    if not _MARKER_RE.match(marker):
        raise CommentError(
            "the body's first line is not a hidden marker such as <!-- llmbench-report -->; "
            "post the file --llmbench-report wrote (the marker finds the comment to update)"
        )
    return marker


def check_api_base(api_base: str) -> str:
    # An unreadable base (a bad port) is refused here: two unreadable origins would compare
    # equal when the next page's host is checked.
    if not url_origin(api_base).startswith(("http://", "https://")):
        raise CommentError(
            f"--api-base {api_base!r}: expected an http(s) URL, e.g. https://api.github.com "
            "or https://github.example.com/api/v3"
        )
    return api_base.rstrip("/")


def starts_with_marker(text: str, marker: str) -> bool:
    """The body starts with the marker, on a line of its own (a quote, `> <!-- … -->`, or
    a copy further down, does not count)."""
    first = text.split("\n", 1)[0]
    return first.rstrip("\r").rstrip() == marker


def is_author(comment: Mapping[str, Any], login: str | None) -> bool:
    """Written by the token's identity: the login ``login``, or (``None``: an App's
    installation token, which cannot read /user) a bot account."""
    user = comment.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("login"), str):
        return False
    if login is not None:
        return bool(user["login"].lower() == login.lower())
    return bool(user.get("type") == "Bot" and user["login"].endswith("[bot]"))


def token_login(client: httpx.Client, base: str, where: str) -> str | None:
    """The token's login (GET /user), or None for a GitHub App installation token (the
    Actions GITHUB_TOKEN among them), which GitHub answers 403 or 404 there."""
    response = _request(client, "USER", f"{base}/user", where, None)
    if response.status_code in (403, 404) and _wait_s(response) is None:
        return None
    data = _checked(response, "USER", f"{base}/user", where).json()
    if not isinstance(data, dict) or not isinstance(data.get("login"), str):
        raise CommentError(f"{_doing('USER', where)}: GitHub's answer has no login")
    return str(data["login"])


def _same(current: str, body: str) -> bool:
    def norm(text: str) -> str:
        return text.replace("\r\n", "\n").rstrip()

    return norm(current) == norm(body)


def _find(
    client: httpx.Client,
    base: str,
    repo: str,
    pr: int,
    ours: Callable[[Mapping[str, Any]], bool],
    where: str,
) -> dict[str, Any] | None:
    """The first comment (oldest first, across all pages) that is ``ours``."""
    url: str | None = f"{base}/repos/{repo}/issues/{pr}/comments?per_page=100"
    seen: set[str] = set()
    origin = url_origin(base)
    while url is not None:
        if url in seen or len(seen) >= MAX_PAGES:
            raise CommentError(
                f"listing the comments of {where}: the pages do not end (page {len(seen) + 1} "
                f"of at most {MAX_PAGES}); check --api-base"
            )
        seen.add(url)
        response = _send(client, "GET", url, where, None)
        page = response.json()
        if not isinstance(page, list):
            raise CommentError(
                f"listing the comments of {where}: expected a JSON list, got "
                f"{type(page).__name__}; is --api-base a GitHub REST API?"
            )
        for comment in page:
            if isinstance(comment, dict) and ours(comment):
                return comment
        url = next_link(response.headers.get("link", ""))
        if url is not None and url_origin(url) != origin:
            # The token is sent with every page: never to another host.
            raise CommentError(
                f"listing the comments of {where}: the next page is on another host "
                f"({url_origin(url)}, not {origin}); check --api-base"
            )
    return None


def next_link(header: str) -> str | None:
    """The rel="next" URL of a Link header, if any."""
    for part in header.split(","):
        match = _NEXT_RE.search(part)
        if match:
            return match.group(1).strip()
    return None


def _call(client: httpx.Client, method: str, url: str, where: str, body: str) -> dict[str, Any]:
    data = _send(client, method, url, where, body).json()
    if not isinstance(data, dict) or "id" not in data or "html_url" not in data:
        raise CommentError(f"{method} a comment on {where}: GitHub's answer has no comment id")
    return data


def _send(
    client: httpx.Client, method: str, url: str, where: str, body: str | None
) -> httpx.Response:
    return _checked(_request(client, method, url, where, body), method, url, where)


def _request(
    client: httpx.Client, method: str, url: str, where: str, body: str | None
) -> httpx.Response:
    verb = "GET" if method == "USER" else method
    try:
        return client.request(verb, url, json=None if body is None else {"body": body})
    except httpx.TimeoutException:
        raise CommentError(
            f"{_doing(method, where)}: GitHub did not answer within {TIMEOUT_S:g} s; retry",
            unavailable=True,
        ) from None
    except httpx.HTTPError as error:
        raise CommentError(
            f"{_doing(method, where)}: cannot reach {url_origin(url)} ({type(error).__name__}); "
            "check the network and --api-base",
            unavailable=True,
        ) from None


def _checked(response: httpx.Response, method: str, url: str, where: str) -> httpx.Response:
    """The response if it succeeded with JSON; else CommentError, or _Retry for a 5xx or
    a rate limit."""
    if response.is_success:
        try:
            response.json()
        except ValueError:
            raise CommentError(
                f"{_doing(method, where)}: the answer is not JSON; is --api-base "
                f"({url_origin(url)}) a GitHub REST API?"
            ) from None
        return response
    message = refusal(response, method, where)
    if response.status_code >= 500:
        raise _Retry(message, None)
    wait = _wait_s(response)
    if wait is not None:
        raise _Retry(message, wait)
    raise CommentError(message)


def _wait_s(response: httpx.Response) -> float | None:
    """For a rate-limited answer (403 or 429), the seconds to wait before the next try
    (0 when GitHub gives no time); None when the answer is not a rate limit."""
    if response.status_code not in (403, 429):
        return None
    headers = response.headers
    retry_after = headers.get("retry-after", "").strip()
    if retry_after.isdigit():
        return float(min(int(retry_after), 10**6))
    reset = headers.get("x-ratelimit-reset", "").strip()
    if headers.get("x-ratelimit-remaining") == "0":
        if reset.isdigit() and len(reset) <= 12:
            return float(max(1, int(reset) - int(time.time())))
        return 0.0
    if response.status_code == 429 or "rate limit" in _github_message(response).lower():
        return 0.0  # a secondary rate limit with no time given: back off
    return None


def _doing(method: str, where: str) -> str:
    return {
        "GET": f"listing the comments of {where}",
        "POST": f"creating the comment on {where}",
        "PATCH": f"updating the comment on {where}",
        "USER": f"reading the token's identity (GET /user) to find our comment on {where}",
    }[method]


def refusal(response: httpx.Response, method: str, where: str) -> str:
    """The message for an HTTP error answer from GitHub: what happened and what to do."""
    code = response.status_code
    doing = _doing(method, where)
    message = _github_message(response)
    said = f" ({message})" if message else ""
    headers = response.headers
    if code in (403, 429) and (headers.get("x-ratelimit-remaining") == "0" or code == 429):
        return f"{doing}: HTTP {code}: GitHub's API rate limit is exhausted{said}; " + _retry_when(
            headers
        )
    if code == 403 and ("retry-after" in headers or "rate limit" in message.lower()):
        # a secondary rate limit
        return f"{doing}: HTTP 403: GitHub's secondary rate limit{said}; " + _retry_when(headers)
    if code == 401:
        return (
            f"{doing}: HTTP 401{said}: GITHUB_TOKEN is missing or invalid; pass the workflow's "
            "token (env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}) or a token that has not "
            "expired"
        )
    if code == 403:
        return (
            f"{doing}: HTTP 403{said}: the token may not write comments on {where}; give "
            "the workflow `permissions: pull-requests: write` (a pull request from a fork "
            "gets a read-only token: comment from a pull_request_target or workflow_run job)"
        )
    if code == 404:
        return (
            f"{doing}: HTTP 404{said}: the repository or pull request {where} was not found, "
            "or the token cannot see it; check --repo and --pr, and that the token has access "
            "to a private repository"
        )
    if code == 422:
        return f"{doing}: HTTP 422: GitHub refused the comment{said or ' (no reason given)'}"
    if code >= 500:
        return f"{doing}: HTTP {code}: GitHub failed{said}; retry later"
    return f"{doing}: HTTP {code}{said}"


def _github_message(response: httpx.Response) -> str:
    """GitHub's own reason, from its JSON error body: `message`, then each error's detail."""
    try:
        data = response.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts = [str(data["message"])] if data.get("message") else []
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            detail = error.get("message") or " ".join(
                str(error[k]) for k in ("field", "code") if error.get(k)
            )
            if detail:
                parts.append(str(detail))
        elif isinstance(error, str):
            parts.append(error)
    return ": ".join(parts)[:300]


def _retry_when(headers: Mapping[str, str]) -> str:
    if headers.get("retry-after", "").isdigit():
        return f"retry in {int(headers['retry-after'])} s"
    reset = headers.get("x-ratelimit-reset", "")
    if reset.isdigit():
        when = _dt.datetime.fromtimestamp(int(reset), _dt.timezone.utc)
        return f"it resets at {when.strftime('%H:%M:%S')} UTC; retry then"
    return "retry later"
