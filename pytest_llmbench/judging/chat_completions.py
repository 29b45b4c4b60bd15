"""The live judge: an OpenAI-compatible chat-completions API over httpx.

Every call ends as scored or as unscored with a short reason a person can act on. The API
key is sent as a header and appears in no reason, exception message or repr.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus

import httpx

from pytest_llmbench.benchmark.judge_config import JudgeConfig, StructuredOutput
from pytest_llmbench.judging.asyncio_network import transport as asyncio_transport
from pytest_llmbench.judging.asyncio_network import within
from pytest_llmbench.judging.client_pool import ClientPool, shard_sizes
from pytest_llmbench.judging.judge_protocol import JudgeRequest
from pytest_llmbench.judging.limiter import AdaptiveLimiter
from pytest_llmbench.judging.reply_parsing import (
    ParsedReply,
    Scale,
    UnusableReply,
    bound_text,
    extract_message,
    extract_reasoning_content,
    extract_usage,
    parse_reply,
    split_reasoning,
    usage_problem,
)
from pytest_llmbench.judging.result import JudgeResult
from pytest_llmbench.judging.retry_policy import (
    backoff_delay,
    is_transient_status,
    parse_retry_after,
)
from pytest_llmbench.redaction import (
    has_userinfo,
    public_url,
    redact,
    redact_cut,
    url_secrets,
)

__all__ = ["JudgeStats", "OpenAIJudge", "chat_completions_url"]

# "auto" walks down this ladder when the server rejects a response_format it does not support.
_DOWNGRADES: dict[StructuredOutput, StructuredOutput] = {
    "json_schema": "json_object",
    "json_object": "none",
}
_REJECTED_FORMAT_STATUSES = frozenset({400, 422})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_SERVER_MESSAGE_CHARS = 160
# The largest response body read: a score object and a long reasoning fit many times over.
MAX_REPLY_BYTES = 4 * 2**20


@dataclass
class JudgeStats:
    """Counters over the judge's life, for the report."""

    requests: int = 0  # HTTP requests sent
    retries: int = 0  # requests beyond the first of a call, for any cause
    transient_errors: dict[str, int] = field(default_factory=dict)  # "503", "timeout", ...
    unusable_replies: int = 0
    format_downgrades: int = 0
    unknown_usage: int = 0  # replies whose usage block held no believable token count

    def to_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "transient_errors": dict(sorted(self.transient_errors.items())),
            "unusable_replies": self.unusable_replies,
            "format_downgrades": self.format_downgrades,
            "unknown_usage": self.unknown_usage,
        }


def chat_completions_url(base_url: str) -> str:
    """`<root>/v1/chat/completions` for a base_url given with or without `/v1` and `/`; a
    query (`?api-version=...`) stays at the end."""
    root, mark, query = base_url.strip().partition("?")
    root = root.rstrip("/")
    if root.endswith("/chat/completions"):
        path = root
    elif root.endswith("/v1"):
        path = f"{root}/chat/completions"
    else:
        path = f"{root}/v1/chat/completions"
    return f"{path}{mark}{query}"


@dataclass
class _Call:
    """The running totals of one score() call."""

    attempts: int = 0
    waited_s: float = 0.0
    extra_attempts: int = 0  # granted by format downgrades, which are not the server's fault
    unusable_retried: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    started: float | None = None  # when the first request got a concurrency slot
    reasoning: str = ""  # the judge's words in the last reply, bounded and redacted
    raw_reply: str = ""
    usage_note: str = ""  # why a reply's token counts were not believed

    def scored(self, parsed: ParsedReply) -> JudgeResult:
        result = JudgeResult(status="scored", scores=parsed.scores, raw_scores=parsed.raw_scores)
        return self._result(result)

    def unscored(self, reason: str) -> JudgeResult:
        return self._result(JudgeResult(status="unscored", reason=reason))

    def _result(self, result: JudgeResult) -> JudgeResult:
        result.reasoning = self.reasoning
        result.raw_reply = self.raw_reply
        result.attempts = self.attempts
        result.retries = max(0, self.attempts - 1)
        result.prompt_tokens = self.prompt_tokens
        result.completion_tokens = self.completion_tokens
        result.usage_note = self.usage_note
        return result


class OpenAIJudge:
    """A `Judge` that scores chat messages with an OpenAI-compatible API, bounded by
    `concurrency`. It runs in the helper process (behind RemoteJudge), or in the item
    process on its background loop when the helper is off (Windows, or the ini key).

    Use it from one event loop and close it there (`await judge.aclose()`): the client and
    the concurrency limiter are created lazily inside that loop.
    """

    def __init__(
        self,
        judge: JudgeConfig,
        *,
        api_key: str | None,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.judge = judge
        self.url = chat_completions_url(judge.base_url)
        self.stats = JudgeStats()
        self._api_key = api_key or None
        # What a reason must never show: the key, and credentials in base_url (httpx sends
        # those as basic auth, which a server may echo).
        self._secrets = [self._api_key, *url_secrets(judge.base_url)]
        self._transport = transport
        self._rng = rng if rng is not None else random.Random()
        self._sleep = sleep
        self._clock = clock
        self._concurrency = max(1, judge.concurrency)
        self._format: StructuredOutput = (
            "json_schema" if judge.structured_output == "auto" else judge.structured_output
        )
        self._client: ClientPool | None = None
        self._limiter: AdaptiveLimiter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return (
            f"OpenAIJudge(name={self.judge.name!r}, url={public_url(self.url)!r}, "
            f"model={self.judge.model!r}, structured_output={self._format!r})"
        )

    @property
    def structured_output(self) -> StructuredOutput:
        """The response_format in use now: the configured one, or where "auto" settled."""
        return self._format

    async def __aenter__(self) -> OpenAIJudge:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        client, self._client = self._client, None
        self._limiter = None
        self._loop = None
        if client is not None:
            await client.aclose()

    def request_body(
        self,
        messages: list[dict[str, str]],
        metrics: Sequence[str],
        temperature: float | None = None,
        scale: Scale | None = None,
    ) -> dict[str, object]:
        """The JSON POSTed for these messages, with the response_format in use now.
        ``temperature`` (a prompt's own) overrides the judge's; ``scale`` (the prompt's
        declared one) bounds each score in a json_schema."""
        body: dict[str, object] = {
            "model": self.judge.model,
            "messages": messages,
            "temperature": self.judge.temperature if temperature is None else temperature,
        }
        if self.judge.max_tokens is not None:
            body["max_tokens"] = self.judge.max_tokens
        response_format = _response_format(self._format, metrics, scale)
        if response_format is not None:
            body["response_format"] = response_format
        return body

    async def score(self, request: JudgeRequest) -> JudgeResult:
        """Ask the judge for the request's metrics; retries what is worth retrying, never
        raises for HTTP.

        latency_s runs from when the first concurrency slot is taken, so it measures the
        judge (and its backoff waits), not this process's queue.
        """
        if not self.judge.base_url.strip():
            shown = self.judge.base_url_raw or "base_url"
            return JudgeResult(
                status="unscored",
                reason=f"judge {self.judge.name!r} has no base_url (is {shown} set?)",
            )
        client, limiter = self._in_loop()
        call = _Call()
        result = await self._score(client, limiter, call, request)
        if call.started is not None:
            result.latency_s = max(0.0, self._clock() - call.started)
        if result.status == "scored":
            await limiter.succeeded()
        return result

    @property
    def limiter(self) -> AdaptiveLimiter | None:
        return self._limiter

    def _in_loop(self) -> tuple[ClientPool, AdaptiveLimiter]:
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError(
                "OpenAIJudge was used from another event loop; "
                "create one judge per loop and aclose() it in that loop"
            )
        if self._client is None or self._limiter is None:
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            # One TLS context for all the clients: each would load the CA bundle itself
            # (about 35 ms of CPU a client, a second at concurrency 256).
            tls = None if self._transport else httpx.create_ssl_context()

            # Sockets on asyncio itself, not through anyio (asyncio_network); but not with
            # a proxy in the environment: a client given a transport ignores those, and
            # httpx's own then routes each URL as HTTP(S)_PROXY, ALL_PROXY and NO_PROXY say.
            own_sockets = self._transport is None and not urllib.request.getproxies()

            def make(connections: int) -> httpx.AsyncClient:
                limits = httpx.Limits(
                    max_connections=connections, max_keepalive_connections=connections
                )
                transport = self._transport
                if own_sockets:
                    transport = asyncio_transport(tls or True, limits)
                return httpx.AsyncClient(
                    transport=transport,
                    verify=tls if tls is not None else True,
                    headers=headers,
                    timeout=httpx.Timeout(self.judge.timeout_s),
                    limits=limits,
                )

            # Sharded over clients of a few connections each (see client_pool); an
            # injected transport holds the connections itself: one client.
            sizes = [self._concurrency] if self._transport else shard_sizes(self._concurrency)
            self._client = ClientPool(sizes, make)
            self._limiter = AdaptiveLimiter(self._concurrency)
            self._loop = loop
        return self._client, self._limiter

    async def _score(
        self,
        client: ClientPool,
        limiter: AdaptiveLimiter,
        call: _Call,
        request: JudgeRequest,
    ) -> JudgeResult:
        policy = self.judge.retries
        while True:
            if call.attempts > 0:
                self.stats.retries += 1
            call.attempts += 1
            self.stats.requests += 1
            retry_after: float | None = None
            try:
                # A slot per request, given back during backoff: retries after a 429 queue
                # behind the halved limit instead of all coming back at once.
                async with limiter:
                    if call.started is None:
                        call.started = self._clock()
                    # Built once the slot is ours: a downgrade made meanwhile applies.
                    body = self.request_body(
                        request.messages, request.metrics, request.temperature, request.scale
                    )
                    sent_format = self._format
                    # timeout_s bounds the whole request: httpx's own timeouts are per
                    # operation, so a reply dripped a byte at a time would never trip them.
                    response, content = await within(
                        _post(client, self.url, body), self.judge.timeout_s
                    )
            except (httpx.TimeoutException, asyncio.TimeoutError):
                problem, key = f"timed out after {self.judge.timeout_s:g} s", "timeout"
            except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
                # A broken base_url or request: retrying cannot help.
                return call.unscored(
                    self._clean(
                        f"judge request failed: {type(exc).__name__} "
                        f"(check base_url {public_url(self.judge.base_url)})"
                    )
                )
            except httpx.TransportError as exc:
                untrusted = _certificate_problem(exc)
                if untrusted is not None:
                    # Every attempt would fail the same way: said once, not retried.
                    return call.unscored(self._clean(untrusted))
                problem = key = _describe_transport_error(exc)
            except httpx.HTTPError as exc:
                # Redirect loops, undecodable bodies: not the kind of failure a wait fixes.
                return call.unscored(self._clean(f"judge request failed: {type(exc).__name__}"))
            else:
                status = response.status_code
                if 200 <= status < 300:
                    outcome = self._read_reply(content, request, call)
                    if isinstance(outcome, ParsedReply):
                        return call.scored(outcome)
                    self.stats.unusable_replies += 1
                    if call.unusable_retried or call.attempts >= self._budget(call):
                        return call.unscored(self._clean(f"unusable judge reply: {outcome}"))
                    # One more try: sampling or a busy server can give a clean reply next time.
                    call.unusable_retried = True
                    continue
                if self._rejects_format(status, body):
                    self._downgrade(sent_format)
                    call.extra_attempts += 1
                    continue
                if not is_transient_status(status):
                    return call.unscored(self._clean(self._rejection(response, content)))
                problem, key = _status_text(status), str(status)
                if status == 429 and self._limiter is not None:
                    self._limiter.throttled()
                if status in _RETRY_AFTER_STATUSES:
                    retry_after = parse_retry_after(
                        response.headers.get("retry-after"), _server_now(response)
                    )

            self.stats.transient_errors[key] = self.stats.transient_errors.get(key, 0) + 1
            attempts = f"{call.attempts} attempt{'s' if call.attempts != 1 else ''}"
            give_up = f"judge unavailable after {attempts}: {problem}"
            if call.attempts >= self._budget(call):
                return call.unscored(self._clean(give_up))
            delay = backoff_delay(call.attempts - 1, policy.base_s, policy.max_wait_s, self._rng)
            if retry_after is not None:
                delay = max(delay, retry_after)
            if call.waited_s + delay > policy.max_wait_s:
                return call.unscored(
                    self._clean(
                        f"{give_up} (the next wait, {delay:.1f} s, would pass "
                        f"the {policy.max_wait_s:g} s retry budget)"
                    )
                )
            await self._sleep(delay)
            call.waited_s += delay

    def _budget(self, call: _Call) -> int:
        return max(1, self.judge.retries.attempts) + call.extra_attempts

    def _read_reply(
        self, raw: bytes | None, request: JudgeRequest, call: _Call
    ) -> ParsedReply | str:
        """The scores, or the reason the reply is unusable; tokens are counted either way,
        and the judge's words kept on the call (an unusable reply's too, to show why)."""
        if raw is None:
            return f"the response body is over {MAX_REPLY_BYTES // 2**20} MiB; not read"
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError):
            return "response body is not JSON"
        if (problem := usage_problem(payload)) is not None:
            self.stats.unknown_usage += 1
            call.usage_note = problem
        prompt_tokens, completion_tokens = extract_usage(payload)
        call.prompt_tokens += prompt_tokens
        call.completion_tokens += completion_tokens
        thoughts = extract_reasoning_content(payload)
        call.reasoning, call.raw_reply = self._kept(thoughts), ""
        try:
            content, _, _ = extract_message(payload)
        except UnusableReply as exc:
            return exc.reason
        call.raw_reply = self._kept(content)
        try:
            parsed = parse_reply(
                content, request.metrics, scale=request.scale, reasoning_content=thoughts
            )
        except UnusableReply as exc:
            thought, _ = split_reasoning(content)
            words = [part for part in (thoughts.strip(), thought) if part]
            call.reasoning = self._kept("\n\n".join(words))
            return exc.reason
        call.reasoning = self._kept(parsed.reasoning)
        return parsed

    def _kept(self, text: str) -> str:
        """The judge's words as a sample keeps them: bounded, and without a secret."""
        return bound_text(text, clean=self._clean if any(self._secrets) else None)

    def _rejects_format(self, status: int, body: dict[str, object]) -> bool:
        # llama-cpp-python 0.3.x answers 500 to json_schema; others answer 400 or 422.
        if self.judge.structured_output != "auto" or "response_format" not in body:
            return False
        return status in _REJECTED_FORMAT_STATUSES or status == 500

    def _downgrade(self, sent: StructuredOutput) -> None:
        # Calls in flight together may all be rejected; only the first one steps down.
        if sent != self._format:
            return
        lower = _DOWNGRADES.get(sent)
        if lower is not None:
            self._format = lower
            self.stats.format_downgrades += 1

    def _rejection(self, response: httpx.Response, content: bytes | None) -> str:
        status = response.status_code
        text = f"judge rejected the request: {_status_text(status)}"
        if status in (401, 403):
            return f"{text} ({self._credentials_hint()})"
        if status == 404:
            return (
                f"{text} (check base_url {public_url(self.judge.base_url)} "
                f"and model {self.judge.model!r})"
            )
        message = _server_message(content, self._secrets)
        return f"{text}: {message}" if message else text

    def _credentials_hint(self) -> str:
        """What to fix after a 401 or 403: the credential this judge sent, or the variable
        that would have given it one."""
        env = self.judge.api_key_env
        if self._api_key:
            return f"check the API key in ${env}" if env else "check the API key"
        if has_userinfo(self.judge.base_url):
            return "check the user:password in base_url"
        if env:
            return f"no API key was sent: set ${env} (it is unset or empty)"
        return "no API key configured: set api_key_env in the judge config"

    def _clean(self, reason: str) -> str:
        # Defence in depth: a server could echo the key back in an error message.
        return redact(reason, self._secrets)


def _response_format(
    fmt: StructuredOutput, metrics: Sequence[str], scale: Scale | None = None
) -> dict[str, object] | None:
    low, high = scale if scale is not None else (0, 1)
    if fmt == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {
                "name": "scores",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {
                        metric: {"type": "number", "minimum": low, "maximum": high}
                        for metric in metrics
                    },
                    "required": list(metrics),
                    "additionalProperties": False,
                },
            },
        }
    if fmt == "json_object":
        return {"type": "json_object"}
    return None


def _status_text(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _describe_transport_error(exc: httpx.TransportError) -> str:
    # httpx's messages vary by backend ("All connection attempts failed"); the OSError
    # underneath says what happened, in a short fixed phrase.
    chain = _exception_chain(exc)
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    if any(isinstance(e, ConnectionResetError) for e in chain):
        return "connection reset"
    text = " ".join(str(e).lower() for e in chain)
    if "refused" in text:
        return "connection refused"
    if "reset" in text:
        return "connection reset"
    if isinstance(exc, httpx.RemoteProtocolError) or "disconnect" in text or "closed" in text:
        return "connection closed by the judge"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    return f"connection error ({type(exc).__name__})"


def _certificate_problem(exc: httpx.TransportError) -> str | None:
    """Why the judge's TLS certificate was refused, when it was; None otherwise."""
    for error in _exception_chain(exc):
        if isinstance(error, ssl.SSLCertVerificationError):
            why = error.verify_message or "verification failed"
            return (
                f"the judge's TLS certificate is not trusted ({why}); for a private CA, "
                "set SSL_CERT_FILE to its certificate bundle"
            )
    return None


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _server_now(response: httpx.Response) -> float:
    """The server's clock from its Date header, so a Retry-After date ignores clock skew."""
    date = response.headers.get("date")
    if date:
        try:
            when = parsedate_to_datetime(date)
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return when.timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    return time.time()


async def _post(
    pool: ClientPool, url: str, body: dict[str, object]
) -> tuple[httpx.Response, bytes | None]:
    """POST ``body``; the response and its body, or None for a body over MAX_REPLY_BYTES
    (declared or as it streams in, decompressed), which is left unread."""
    with pool.client() as client:
        return await _read_bounded(client, url, body)


async def _read_bounded(
    client: httpx.AsyncClient, url: str, body: dict[str, object]
) -> tuple[httpx.Response, bytes | None]:
    response = await client.send(client.build_request("POST", url, json=body), stream=True)
    try:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
            return response, None
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_REPLY_BYTES:
                return response, None
            chunks.append(chunk)
        return response, b"".join(chunks)
    finally:
        await response.aclose()


def _server_message(content: bytes | None, secrets: Sequence[str | None]) -> str:
    """The error message an OpenAI-style server put in its body, redacted, then shortened
    (in that order: a cut through an echoed key would leave a piece too short to find)."""
    if content is None:
        return ""
    try:
        payload = json.loads(content)
    except (ValueError, RecursionError):
        return ""
    error = payload.get("error") if isinstance(payload, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str):
        return ""
    # Bounded before it is split: a 10 MB message costs no more than a short one.
    flat = " ".join(message[: 64 * _SERVER_MESSAGE_CHARS].split())
    return redact_cut(flat, secrets, _SERVER_MESSAGE_CHARS)
