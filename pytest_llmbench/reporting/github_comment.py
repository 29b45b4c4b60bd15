"""The sticky PR comment: create the report's comment on a pull request, or update it in place.

One comment per pull request: the one carrying the report's hidden marker (the body's first
line, ``<!-- llmbench-report -->``) on a line of its own. Every page of the PR's comments is
searched; the first such comment is edited, and a new one is created only when there is
none. The token goes into the Authorization header and nowhere else: no message, no URL.
The ``llmbench comment`` command (``cli/comment.py``) calls ``upsert_comment``.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from pytest_llmbench.redaction import url_origin

DEFAULT_API = "https://api.github.com"
MAX_BODY_CHARS = 65_536  # GitHub refuses a longer comment body (422)
MAX_PAGES = 200  # 20,000 comments: beyond that, something loops
TIMEOUT_S = 30.0

Action = Literal["created", "updated", "unchanged"]

_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_MARKER_RE = re.compile(r"^<!--.*-->$")
_NEXT_RE = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class CommentError(Exception):
    """Why the comment could not be written, and what to do; never holds the token."""


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
) -> CommentResult:
    """Update the PR's comment carrying ``body``'s marker (its first line), or create one.

    Raises CommentError for a bad repo, PR or body (before any request) and for every
    answer GitHub refuses (401, 403, 404, 422, rate limits, 5xx) or a network failure.
    """
    try:
        return _upsert(repo, pr, body, token=token, api_base=api_base, transport=transport)
    except CommentError as error:
        if token and token in str(error):  # defence in depth: no message carries the token
            raise CommentError(str(error).replace(token, "***")) from None
        raise


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
        found = _find(client, base, repo, pr, marker, where)
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


def has_marker(text: str, marker: str) -> bool:
    """A marker on a line of its own (a quoted copy, `> <!-- … -->`, does not count)."""
    return any(line.strip() == marker for line in text.splitlines())


def _same(current: str, body: str) -> bool:
    def norm(text: str) -> str:
        return text.replace("\r\n", "\n").rstrip()

    return norm(current) == norm(body)


def _find(
    client: httpx.Client, base: str, repo: str, pr: int, marker: str, where: str
) -> dict[str, Any] | None:
    """The first comment (oldest first, across all pages) carrying the marker."""
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
            if isinstance(comment, dict) and has_marker(comment.get("body") or "", marker):
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
    try:
        response = client.request(method, url, json=None if body is None else {"body": body})
    except httpx.TimeoutException:
        raise CommentError(
            f"{_doing(method, where)}: GitHub did not answer within {TIMEOUT_S:g} s; retry"
        ) from None
    except httpx.HTTPError as error:
        raise CommentError(
            f"{_doing(method, where)}: cannot reach {url_origin(url)} ({type(error).__name__}); "
            "check the network and --api-base"
        ) from None
    if response.is_success:
        try:
            response.json()
        except ValueError:
            raise CommentError(
                f"{_doing(method, where)}: the answer is not JSON; is --api-base "
                f"({url_origin(url)}) a GitHub REST API?"
            ) from None
        return response
    raise CommentError(refusal(response, method, where))


def _doing(method: str, where: str) -> str:
    return {
        "GET": f"listing the comments of {where}",
        "POST": f"creating the comment on {where}",
        "PATCH": f"updating the comment on {where}",
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
    if code == 403 and "retry-after" in headers:  # a secondary rate limit
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
