"""An OpenAI-compatible `/v1/embeddings` and legacy `/v1/completions` server on 127.0.0.1,
for tests.

Its completions echo the prompt with fixed log-probabilities (`word_logprobs`: each
whitespace-led word scores −0.25 per character, the first none) and one generated token
after it, " ok", at GENERATED_LOGPROB.

Its embeddings are deterministic: a text's lower-cased character trigrams hashed into
DIMENSIONS buckets and counted, so texts sharing wording (a paraphrase) are closer than
unrelated ones. It keeps every request body, and misbehaves on cue (`reply`):

    with EmbeddingServer() as srv:
        srv.reply = ("status", 500)
        ...  # point a judge at srv.url
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

from support.loopback import Served

DIMENSIONS = 256
GENERATED_LOGPROB = -9.0
# "ok" | "no_echo" (completions: only the generated token) | ("status", code) |
# ("body", bytes) (these bytes as the 200 reply's body)
Reply = str | tuple[Any, ...]


def trigram_vector(text: str) -> list[float]:
    """The server's embedding of `text`: counts of its hashed character trigrams."""
    padded = f"  {text.lower()} "
    vector = [0.0] * DIMENSIONS
    for i in range(len(padded) - 2):
        digest = hashlib.blake2b(padded[i : i + 3].encode("utf-8"), digest_size=4).digest()
        vector[int.from_bytes(digest, "big") % DIMENSIONS] += 1.0
    return vector


def word_tokens(text: str) -> list[str]:
    """The server's tokens of `text`: its words, each with the whitespace before it."""
    return re.findall(r"\s*\S+|\s+$", text)


def word_logprobs(text: str) -> list[float | None]:
    """The server's log-probability of each token of `text` (the first has none)."""
    tokens = word_tokens(text)
    return [None, *(-0.25 * len(token.strip()) for token in tokens[1:])][: len(tokens)]


def completion(prompt: str, echo: bool) -> dict[str, Any]:
    """A completions reply: `prompt` echoed with its logprobs, then " ok"."""
    tokens = [*word_tokens(prompt), " ok"] if echo else [" ok"]
    logprobs = [*word_logprobs(prompt), GENERATED_LOGPROB] if echo else [GENERATED_LOGPROB]
    text = "".join(tokens)
    choice = {"text": text, "index": 0, "logprobs": {"tokens": tokens, "token_logprobs": logprobs}}
    return {"object": "text_completion", "choices": [choice]}


class EmbeddingServer:
    """Context manager: `with EmbeddingServer() as srv:` serves at `srv.url`."""

    def __init__(self) -> None:
        self.reply: Reply = "ok"
        self.requests: list[dict[str, Any]] = []  # the JSON bodies, in order
        self._lock = threading.Lock()
        self._served: Served | None = None

    @property
    def url(self) -> str:
        assert self._served is not None, "use the server in a with block"
        return self._served.url

    def __enter__(self) -> EmbeddingServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    reply = server.reply
                if self.path not in ("/v1/embeddings", "/v1/completions"):
                    self._send(404, b'{"error": "not found"}')
                elif isinstance(reply, tuple) and reply[0] == "status":
                    self._send(int(reply[1]), b'{"error": {"message": "scripted"}}')
                elif isinstance(reply, tuple) and reply[0] == "body":
                    self._send(200, bytes(reply[1]))
                elif self.path == "/v1/completions":
                    echoed = completion(str(body.get("prompt", "")), reply != "no_echo")
                    self._send(200, json.dumps(echoed).encode("utf-8"))
                else:
                    data = [
                        {"object": "embedding", "index": i, "embedding": trigram_vector(text)}
                        for i, text in enumerate(body.get("input", []))
                    ]
                    payload = {"object": "list", "data": data, "model": body.get("model")}
                    self._send(200, json.dumps(payload).encode("utf-8"))

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._served = Served(Handler)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._served is not None:
            self._served.stop()
