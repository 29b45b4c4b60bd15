"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests.

asyncio in a background thread with a minimal HTTP/1.1 (keep-alive, Content-Length
bodies), so it sustains many concurrent requests with injected latency and can misbehave
on cue: error statuses, Retry-After, prose instead of JSON, hangs, dropped connections,
replies dripped a byte at a time, and requests never answered. With `echo=True` it is the
server a secret scan needs: every error message and every reply's content quotes the
request back (its path and query, its headers, Authorization included, and its body).

    with JudgeServer(latency_s=0.2) as srv:
        srv.script_for("tg-0042", [("status", 503), "ok"])
        ...  # point a judge at srv.url
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from http import HTTPStatus
from types import TracebackType
from typing import Any, NamedTuple

# "ok" | ("status", code) | ("status", code, retry_after_s) | ("error", code, message)
# | ("garbage", text) | ("fenced",) | ("bad_json_body",) | ("hang", seconds) | ("close",)
# | ("message", {field: value}) (the whole choices[0].message, e.g. with reasoning_content)
# | ("drip", seconds_per_byte) (a good reply, sent a byte at a time) | ("never",) (no reply,
# until the client gives up) | ("usage", {field: value}) (a good reply with this usage block)
# | ("body", bytes) (these bytes as a 200 response body)
Behaviour = str | tuple[Any, ...]
Scorer = Callable[[dict[str, Any]], dict[str, float]]

_HOST = "127.0.0.1"  # never any other address
_COMPLETION_TOKENS = 20
_METRIC_IN_PROMPT = re.compile(r'"([A-Za-z_][A-Za-z0-9_-]*)"\s*:')
_MAX_HEADER_LINES = 100


class _Response(NamedTuple):
    status: int
    payload: bytes
    content_type: str
    extra: dict[str, str]  # more headers
    drip_s: float = 0.0  # > 0: written a byte at a time, this many seconds apart


class JudgeServer:
    """Context manager: `with JudgeServer() as srv:` serves at `srv.url` until the block ends."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        script: Sequence[Behaviour] | None = None,
        scorer: Scorer | None = None,
        reject_json_schema: bool = False,
        metrics: Sequence[str] = (),
        default_score: float = 0.9,
        echo: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """`tls`: serve HTTPS with this server-side context (a trustme certificate)."""
        self.tls = tls
        self.latency_s = latency_s
        self.scorer = scorer
        self.reject_json_schema = reject_json_schema
        # Used for "ok" replies when the request has no json_schema and the prompt names none.
        self.metrics = tuple(metrics)
        self.default_score = default_score
        self.echo = echo
        self.requests: list[dict[str, Any]] = []  # every request body, in arrival order
        self.headers: list[dict[str, str]] = []  # their headers, lower-cased names
        self.peak_in_flight = 0
        self.in_flight = 0
        self.connections = 0  # TCP connections accepted: keep-alive keeps this low
        self.errors: list[Exception] = []  # bugs in a test's script or scorer, raised at exit
        self._lock = threading.Lock()
        self._script: deque[Behaviour] = deque(script or ())
        self._marker_scripts: dict[str, deque[Behaviour]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    # -- test-facing API ----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{_HOST}:{self.port}"

    def set_script(self, behaviours: Iterable[Behaviour]) -> None:
        """Behaviours for the next requests, one each in order; then "ok"."""
        with self._lock:
            self._script = deque(behaviours)

    def script_for(self, marker: str, behaviours: Iterable[Behaviour]) -> None:
        """Behaviours for requests whose user message contains `marker`, before the script."""
        with self._lock:
            self._marker_scripts[marker] = deque(behaviours)

    def count_for(self, marker: str) -> int:
        with self._lock:
            return sum(marker in user_text(body) for body in self.requests)

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> JudgeServer:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="judge-server", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), loop).result(timeout=10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._loop = self._thread = None
        if self.errors and exc is None:
            raise RuntimeError(f"JudgeServer failed while serving: {self.errors[0]!r}")

    def _run(self) -> None:
        assert self._loop is not None
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _start(self) -> None:
        # A backlog past asyncio's 100: at concurrency 256 the clients connect all at once,
        # and a connection dropped from a full queue waits a second for its SYN again.
        self._server = await asyncio.start_server(
            self._connection, _HOST, 0, backlog=1024, ssl=self.tls
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        # End open connections before waiting: from Python 3.12 wait_closed() waits for
        # them, and a reply held back by a long latency would hold it up; before 3.12 it
        # does not, and ending them here leaks no socket.
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- HTTP/1.1 -------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        with self._lock:
            self.connections += 1
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # the server is stopping
        except Exception as exc:
            with self._lock:
                self.errors.append(exc)
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection should end."""
        request_line = await reader.readline()
        if not request_line.strip():
            return False
        method, path, version = _request_line(request_line)
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADER_LINES):
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"

        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            reply = await self._reply(method, path, headers, body, reader)
        finally:
            with self._lock:
                self.in_flight -= 1
        if reply is None:  # "close", "hang" and "never": end without a response
            return False
        lines = [
            f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(reply.payload)}",
            *(f"{name}: {value}" for name, value in reply.extra.items()),
        ]
        if not keep_alive:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.payload
        if reply.drip_s <= 0:
            writer.write(data)
            await writer.drain()
            return keep_alive
        # Each byte within any per-read timeout: only a deadline on the whole response ends it.
        for index in range(len(data)):
            writer.write(data[index : index + 1])
            await writer.drain()
            if writer.is_closing() or reader.at_eof():
                return False
            await asyncio.sleep(reply.drip_s)
        return keep_alive

    async def _reply(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
        reader: asyncio.StreamReader,
    ) -> _Response | None:
        route = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and route == "/v1/models":
            return _json(200, {"object": "list", "data": [{"id": "judge", "object": "model"}]})
        if method != "POST" or route != "/v1/chat/completions":
            return _error(404, f"no route for {method} {path}")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "request body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "request body is not a JSON object")
        if self.echo:
            return await self._echoing(self._reply_to(body, headers, reader), path, headers, raw)
        return await self._reply_to(body, headers, reader)

    async def _echoing(
        self,
        reply: Awaitable[_Response | None],
        path: str,
        headers: dict[str, str],
        raw: bytes,
    ) -> _Response | None:
        """`reply` with the request quoted back (echo_quote) after an error's message (so a
        scripted message's length puts the plugin's 160-character cut where a test wants it)
        and before a completion's content."""
        quoted = echo_quote(path, headers, raw)
        response = await reply
        if response is None or response.content_type != "application/json":
            return response
        payload = json.loads(response.payload)
        error = payload.get("error")
        if isinstance(error, dict):
            error["message"] = f"{error['message']} {quoted}"
        for choice in payload.get("choices", []):
            choice["message"]["content"] = f"{quoted}\n\n{choice['message']['content']}"
        return response._replace(payload=json.dumps(payload).encode())

    async def _reply_to(
        self, body: dict[str, Any], headers: dict[str, str], reader: asyncio.StreamReader
    ) -> _Response | None:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)

        response_format = body.get("response_format")
        if (
            self.reject_json_schema
            and isinstance(response_format, dict)
            and response_format.get("type") == "json_schema"
        ):
            # What llama-cpp-python 0.3.x does with a json_schema response_format.
            return _error(500, "json_schema is not supported")

        behaviour = self._next_behaviour(user_text(body))
        kind = behaviour if isinstance(behaviour, str) else behaviour[0]
        if kind == "ok":
            return _json(200, self._completion(body, json.dumps(self._scores(body))))
        if kind == "status":
            code = int(behaviour[1])
            extra: dict[str, str] = {}
            if len(behaviour) > 2 and behaviour[2] is not None:
                extra["Retry-After"] = f"{float(behaviour[2]):g}"
            return _error(code, HTTPStatus(code).phrase)._replace(extra=extra)
        if kind == "error":
            return _error(int(behaviour[1]), str(behaviour[2]))
        if kind == "garbage":
            text = behaviour[1] if len(behaviour) > 1 else "The answer looks mostly fine to me."
            return _json(200, self._completion(body, str(text)))
        if kind == "message":
            completion = self._completion(body, "")
            fields = behaviour[1] if isinstance(behaviour, tuple) else {}
            completion["choices"][0]["message"] = {"role": "assistant", **fields}
            return _json(200, completion)
        if kind == "fenced":
            scores = json.dumps(self._scores(body), indent=2)
            text = f"Here are my scores:\n```json\n{scores}\n```\nLet me know if you need more."
            return _json(200, self._completion(body, text))
        if kind == "usage":
            completion = self._completion(body, json.dumps(self._scores(body)))
            completion["usage"] = behaviour[1]
            return _json(200, completion)
        if kind == "body":
            payload = behaviour[1]
            assert isinstance(payload, bytes), behaviour
            return _Response(200, payload, "application/json", {})
        if kind == "bad_json_body":
            return _Response(200, b"<html><body>upstream error</body></html>", "text/html", {})
        if kind == "hang":
            # Stay silent past the client's timeout; stop early if the client gives up.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read(1), timeout=float(behaviour[1]))
            return None
        if kind == "close":
            return None
        if kind == "never":
            await reader.read(1)  # b"" once the client closes the connection
            return None
        if kind == "drip":
            reply = _json(200, self._completion(body, json.dumps(self._scores(body))))
            return reply._replace(drip_s=float(behaviour[1]) if len(behaviour) > 1 else 1.0)
        raise ValueError(f"unknown JudgeServer behaviour {behaviour!r}")

    def _next_behaviour(self, user_text: str) -> Behaviour:
        with self._lock:
            for marker, queue in self._marker_scripts.items():
                if queue and marker in user_text:
                    return queue.popleft()
            if self._script:
                return self._script.popleft()
        return "ok"

    def _scores(self, body: dict[str, Any]) -> dict[str, float]:
        if self.scorer is not None:
            return self.scorer(body)
        return {metric: self.default_score for metric in _metrics_asked(body, self.metrics)}

    def _completion(self, body: dict[str, Any], content: str) -> dict[str, Any]:
        prompt = "".join(str(m.get("content", "")) for m in body.get("messages", []))
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": len(prompt) // 4,
                "completion_tokens": _COMPLETION_TOKENS,
                "total_tokens": len(prompt) // 4 + _COMPLETION_TOKENS,
            },
        }


def echo_quote(path: str, headers: dict[str, str], raw: bytes) -> str:
    """How an echoing server quotes a request: path and query, then the Authorization
    header, the other headers and the body (braces made parentheses, so that the quote adds
    no JSON object to a reply)."""
    others = " ".join(f"{k}: {v}" for k, v in headers.items() if k != "authorization")
    body = raw.decode("utf-8", "replace").replace("{", "(").replace("}", ")")
    return f"you sent {path} authorization: {headers.get('authorization', '')} {others} {body}"


def _request_line(line: bytes) -> tuple[str, str, str]:
    parts = line.decode("latin-1").split()
    if len(parts) != 3:
        raise ConnectionError(f"bad request line {line!r}")
    return parts[0], parts[1], parts[2]


def user_text(body: dict[str, Any]) -> str:
    """The user messages of a chat-completions request body, one a line."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    return "\n".join(
        str(m.get("content", ""))
        for m in messages
        if isinstance(m, dict) and m.get("role") == "user"
    )


def _metrics_asked(body: dict[str, Any], fallback: tuple[str, ...]) -> list[str]:
    """The metrics in the json_schema, else the configured ones, else `"name":` in the prompt."""
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema", {})
        return list(schema.get("required") or schema.get("properties") or [])
    if fallback:
        return list(fallback)
    prompt = "\n".join(
        str(m.get("content", "")) for m in body.get("messages", []) if isinstance(m, dict)
    )
    return list(dict.fromkeys(_METRIC_IN_PROMPT.findall(prompt)))


def _json(status: int, obj: object) -> _Response:
    return _Response(status, json.dumps(obj).encode(), "application/json", {})


def _error(status: int, message: str) -> _Response:
    return _json(status, {"error": {"message": message, "type": "server_error", "code": status}})
