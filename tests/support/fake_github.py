"""A fake GitHub REST API on 127.0.0.1, for tests: the issue-comment endpoints, paginated.

    with FakeGitHub(token="t0k", page_size=3) as gh:
        gh.add_pull("octo/repo", 7)
        gh.add_comment("octo/repo", 7, "hello", user="someone")
        ...  # point api_base at gh.api_url
        assert gh.created == [] and gh.edited == [(4, "<!-- m -->\\n...")]

Implements, under an optional path prefix (GitHub Enterprise serves the API at /api/v3):
- GET   /repos/{owner}/{repo}/issues/{n}/comments?per_page=&page=  (Link: next/last/first/prev,
  absolute URLs to itself; pages hold min(per_page, page_size) comments, oldest first)
- POST  /repos/{owner}/{repo}/issues/{n}/comments                  (201, the new comment)
- PATCH /repos/{owner}/{repo}/issues/comments/{id}                  (200, the edited comment)
- GET   /user  (the token's identity: `login` given, {"login": login, "type": "User"}; by
  default the token is a GitHub App installation token, as the Actions GITHUB_TOKEN, and
  /user answers 403 "Resource not accessible by integration")

Comments carry `user: {login, type}` (type "Bot" for a login ending in "[bot]"); the ones
the API creates are by the token's identity (`login`, else BOT).

Like GitHub: a wrong or missing token is 401 "Bad credentials", an unknown repository or
pull request is 404 "Not Found", a body over 65,536 characters is 422. Failures can be
injected for the next requests (`fail_next`; with `after=True` the request takes effect
first, as when GitHub creates the comment and then answers 502), and `rate_limited()`
answers 403 with x-ratelimit-remaining: 0 until cleared.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from support.loopback import Served

MAX_BODY = 65_536
BOT = "github-actions[bot]"

Answer = tuple[int, Any, dict[str, str]]  # status, JSON data, headers

_LIST = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$")
_EDIT = re.compile(r"^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$")


@dataclass
class Failure:
    status: int
    message: str
    method: str | None = None  # only requests with this method; None: any
    headers: dict[str, str] = field(default_factory=dict)
    after: bool = False  # the request takes effect, then this answer replaces its own
    path: str | None = None  # only requests for this path (without the query); None: any


@dataclass
class Request:
    method: str
    path: str  # without the prefix, with the query
    headers: dict[str, str]  # lower-cased names
    body: Any


class FakeGitHub:
    def __init__(
        self,
        *,
        token: str = "test-token",
        page_size: int = 30,
        prefix: str = "",
        login: str | None = None,
    ) -> None:
        self.token = token
        self.login = login
        self.page_size = page_size
        self.prefix = prefix.rstrip("/")
        self.comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.requests: list[Request] = []
        self.created: list[tuple[int, str]] = []  # (comment id, body)
        self.edited: list[tuple[int, str]] = []  # (comment id, new body)
        self.failures: list[Failure] = []
        self.rate_limit_exhausted = False
        self._next_id = 1000
        self._lock = threading.Lock()
        self._served: Served | None = None

    # -- test-facing API ---------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._served is not None, "start the server first (use `with FakeGitHub()`)"
        return self._served.url

    @property
    def api_url(self) -> str:
        return self.url + self.prefix

    def add_pull(self, repo: str, number: int) -> None:
        self.comments.setdefault((repo, number), [])

    def add_comment(self, repo: str, number: int, body: str, *, user: str = "someone") -> int:
        with self._lock:
            return self._new_comment(repo, number, body, user)["id"]  # type: ignore[no-any-return]

    def bodies(self, repo: str, number: int) -> list[str]:
        return [c["body"] for c in self.comments[(repo, number)]]

    def fail_next(
        self,
        status: int,
        message: str = "",
        *,
        method: str | None = None,
        headers: dict[str, str] | None = None,
        after: bool = False,
        path: str | None = None,
    ) -> None:
        """The next request (with `method` and for `path`, if given) gets this answer
        instead (`after`: once it has taken effect)."""
        self.failures.append(Failure(status, message, method, dict(headers or {}), after, path))

    def rate_limited(self, exhausted: bool = True) -> None:
        self.rate_limit_exhausted = exhausted

    # -- serving -------------------------------------------------------------------------

    def __enter__(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PATCH(self) -> None:
                fake._handle(self, "PATCH")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._served = Served(Handler)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._served is not None
        self._served.stop()

    def _new_comment(self, repo: str, number: int, body: str, user: str) -> dict[str, Any]:
        self._next_id += 1
        comment = {
            "id": self._next_id,
            "body": body,
            "user": {"login": user, "type": "Bot" if user.endswith("[bot]") else "User"},
            "html_url": f"https://github.example/{repo}/pull/{number}#issuecomment-{self._next_id}",
            "url": f"{self.api_url}/repos/{repo}/issues/comments/{self._next_id}",
        }
        self.comments.setdefault((repo, number), []).append(comment)
        return comment

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        split = urlsplit(handler.path)
        path = split.path
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            if not path.startswith(self.prefix + "/"):
                return self._reply(handler, 404, {"message": "Not Found"})
            path = path[len(self.prefix) :]
            self.requests.append(
                Request(method, path + (f"?{split.query}" if split.query else ""), headers, body)
            )
            if headers.get("authorization") not in (f"Bearer {self.token}", f"token {self.token}"):
                return self._reply(handler, 401, {"message": "Bad credentials"})
            if self.rate_limit_exhausted:
                return self._reply(
                    handler,
                    403,
                    {"message": "API rate limit exceeded for installation."},
                    {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000000"},
                )
            for index, failure in enumerate(self.failures):
                if failure.method in (None, method) and failure.path in (None, path):
                    del self.failures[index]
                    if failure.after:
                        self._route(method, path, parse_qs(split.query), body)
                    message = {"message": failure.message} if failure.message else {}
                    return self._reply(handler, failure.status, message, failure.headers)
            self._reply(handler, *self._route(method, path, parse_qs(split.query), body))

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any,
    ) -> Answer:
        """The answer to a request: (status, JSON data, headers)."""
        if path == "/user" and method == "GET":
            if self.login is None:
                return (403, {"message": "Resource not accessible by integration"}, {})
            return (200, {"login": self.login, "type": "User"}, {})
        listing = _LIST.match(path)
        if listing and method in ("GET", "POST"):
            key = (listing.group(1), int(listing.group(2)))
            if key not in self.comments:
                return (404, {"message": "Not Found"}, {})
            if method == "GET":
                return self._list(path, key, query)
            problem = _body_problem(body)
            if problem:
                return (422, problem, {})
            comment = self._new_comment(key[0], key[1], body["body"], self.login or BOT)
            self.created.append((comment["id"], comment["body"]))
            return (201, comment, {})
        edit = _EDIT.match(path)
        if edit and method == "PATCH":
            found = [
                c
                for (repo, _), comments in self.comments.items()
                if repo == edit.group(1)
                for c in comments
                if c["id"] == int(edit.group(2))
            ]
            if not found:
                return (404, {"message": "Not Found"}, {})
            problem = _body_problem(body)
            if problem:
                return (422, problem, {})
            found[0]["body"] = body["body"]
            self.edited.append((found[0]["id"], body["body"]))
            return (200, found[0], {})
        return (404, {"message": "Not Found"}, {})

    def _list(
        self,
        path: str,
        key: tuple[str, int],
        query: dict[str, list[str]],
    ) -> Answer:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100, self.page_size)
        page = int(query.get("page", ["1"])[0])
        comments = self.comments[key]
        last = max(1, -(-len(comments) // per_page))
        chunk = comments[(page - 1) * per_page : page * per_page]

        def link(number: int) -> str:
            return f"<{self.api_url}{path}?per_page={per_page}&page={number}>"

        links = []
        if page < last:
            links += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        if page > 1:
            links += [f'{link(page - 1)}; rel="prev"', f'{link(1)}; rel="first"']
        return (200, chunk, {"Link": ", ".join(links)} if links else {})

    def _reply(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        data: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        blob = json.dumps(data).encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(blob)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(blob)


def _body_problem(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict) or not isinstance(body.get("body"), str):
        return {"message": "Invalid request.", "errors": ["body is missing"]}
    if len(body["body"]) > MAX_BODY:
        return {
            "message": "Validation Failed",
            "errors": [
                {
                    "resource": "IssueComment",
                    "code": "custom",
                    "field": "body",
                    "message": "body is too long (maximum is 65536 characters)",
                }
            ],
        }
    return None
