"""An incoming-webhook stand-in (Slack / Discord) on 127.0.0.1, for tests.

    with WebhookReceiver(status=204, reply="") as hook:
        ...  # post to hook.url
        assert hook.json_bodies == [...]

`status`, `reply` and `delay_s` are read at each request, so a test may change them after
the receiver has started.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, TypedDict, TypeVar

from support.loopback import Served

R = TypeVar("R", bound="WebhookReceiver")


class Post(TypedDict):
    path: str
    content_type: str | None
    json: Any


class WebhookReceiver:
    """Records each POST (its path, Content-Type and JSON body) and answers `status`, with
    `reply` as a text/plain body, after `delay_s`. Serves any path; `url` names `path`."""

    def __init__(
        self, status: int = 200, reply: str = "ok", delay_s: float = 0.0, path: str = "/hook"
    ) -> None:
        self.status, self.reply, self.delay_s, self.path = status, reply, delay_s, path
        self.bodies: list[Post] = []  # every POST, in arrival order
        self.json_bodies: list[Any] = []  # their JSON bodies alone
        self._closed = threading.Event()  # wakes replies still waiting out delay_s
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw)
                receiver.bodies.append(
                    {
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type"),
                        "json": body,
                    }
                )
                receiver.json_bodies.append(body)
                receiver._closed.wait(receiver.delay_s)
                self.send_response(receiver.status)
                if receiver.status in (204, 304):  # no body, and no Content-Length to say so
                    self.end_headers()
                    return
                blob = receiver.reply.encode("utf-8")
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(blob)))
                self.end_headers()
                self.wfile.write(blob)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._served = Served(Handler)

    @property
    def port(self) -> int:
        return self._served.port

    @property
    def origin(self) -> str:
        return self._served.url

    @property
    def url(self) -> str:
        return f"{self.origin}{self.path}"

    def close(self) -> None:
        self._closed.set()
        self._served.stop()

    def __enter__(self: R) -> R:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
