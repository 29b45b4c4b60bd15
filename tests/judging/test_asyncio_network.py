"""The judge's sockets on asyncio (judging/asyncio_network): what httpcore asks of a network
backend, over real sockets on 127.0.0.1: bytes read back exactly however they arrive, a
server's close or silence becomes httpcore's error (never a hang), keep-alive connections
the server closed are not reused, TLS verifies as httpx's own does, and the judge scores
over HTTPS with it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpcore
import httpx
import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st
from support.aio import run
from support.judge_server import JudgeServer
from support.judges import judge_config

from pytest_llmbench.judging import asyncio_network
from pytest_llmbench.judging.asyncio_network import AsyncioBackend, AsyncioStream
from pytest_llmbench.judging.chat_completions import OpenAIJudge
from pytest_llmbench.judging.judge_protocol import JudgeRequest

HOST = "127.0.0.1"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
REQUEST = JudgeRequest(
    [{"role": "user", "content": "Score this."}], ("coverage", "accuracy"), temperature=0.0
)


@contextlib.asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 running `handler` per connection; yields its port. Its
    connections are ended with it (a handler still waiting included)."""
    writers: list[asyncio.StreamWriter] = []

    async def each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await handler(reader, writer)

    server = await asyncio.start_server(each, HOST, 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in writers:
            writer.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)
        await asyncio.sleep(0)  # the aborted transports close


async def read_all(stream: httpcore.AsyncNetworkStream, sizes: list[int]) -> bytes:
    got = bytearray()
    turn = 0
    while chunk := await stream.read(sizes[turn % len(sizes)], timeout=5):
        got += chunk
        turn += 1
    return bytes(got)


@settings(max_examples=40, deadline=None)
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=3000), max_size=12),
    sizes=st.lists(st.integers(1, 70_000), min_size=1, max_size=5),
)
def test_what_the_server_sends_is_read_back_exactly_however_it_is_cut(
    chunks: list[bytes], sizes: list[int]
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        writer.close()

    async def go() -> bytes:
        async with serving(handler) as port:
            stream = await AsyncioBackend().connect_tcp(HOST, port, timeout=5)
            try:
                return await read_all(stream, sizes)
            finally:
                await stream.aclose()

    assert run(go) == b"".join(chunks)


HEADS = [b"HTTP/1.1 200 OK\r\n", b"content-length: 5\r\n", b"transfer-encoding: chunked\r\n",
         b"\r\n", b"0\r\n\r\n", b"HTTP/1.1 ", b"\r\n\r\nhello"]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(st.sampled_from(HEADS) | st.binary(max_size=200), max_size=8))
def test_any_bytes_a_server_sends_end_as_a_response_or_an_httpx_error_never_a_hang(
    parts: list[bytes],
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"".join(parts))
        await writer.drain()
        writer.close()

    async def go() -> None:
        async with serving(handler) as port:
            transport = asyncio_network.transport(True, httpx.Limits(max_connections=1))
            async with httpx.AsyncClient(transport=transport, timeout=2) as client:
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get(f"http://{HOST}:{port}/")
                    assert 100 <= response.status_code <= 999

    run(go, timeout_s=10)


def test_a_body_larger_than_the_read_buffer_pauses_reading_and_arrives_whole() -> None:
    body = bytes(range(256)) * (4 * asyncio_network.READ_HIGH_WATER // 256)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(body)
        await writer.drain()
        writer.close()

    async def go() -> bytes:
        async with serving(handler) as port:
            stream = await AsyncioBackend().connect_tcp(HOST, port, timeout=5)
            await asyncio.sleep(0.2)  # the server sends ahead of the reads: reading pauses
            try:
                return await read_all(stream, [1 << 16])
            finally:
                await stream.aclose()

    assert run(go) == body


def test_writes_reach_the_server_in_order() -> None:
    received: list[bytes] = []
    done = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read())
        done.set()
        writer.close()

    parts = [bytes([n]) * (n * 5000 + 1) for n in range(40)]

    async def go() -> None:
        async with serving(handler) as port:
            stream = await AsyncioBackend().connect_tcp(HOST, port, timeout=5)
            for part in parts:
                await stream.write(part, timeout=5)
            await stream.aclose()
            await asyncio.wait_for(done.wait(), 5)

    run(go)
    assert received == [b"".join(parts)]


def test_a_silent_server_is_a_read_timeout_not_a_hang() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    async def go() -> None:
        async with serving(handler) as port:
            stream = await AsyncioBackend().connect_tcp(HOST, port, timeout=5)
            with pytest.raises(httpcore.ReadTimeout):
                await stream.read(100, timeout=0.2)
            await stream.aclose()

    run(go, timeout_s=5)


def test_a_refused_connection_is_a_connect_error_that_says_refused() -> None:
    async def go() -> None:
        async with serving(lambda r, w: asyncio.sleep(0)) as port:
            pass  # closed: nothing listens on the port any more
        with pytest.raises(httpcore.ConnectError) as raised:
            await AsyncioBackend().connect_tcp(HOST, port, timeout=5)
        assert isinstance(raised.value.__cause__, ConnectionRefusedError)

    run(go)


def test_a_reset_connection_is_a_read_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # SO_LINGER on with a zero timeout: closing sends a reset, not the end of data.
        writer.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        writer.transport.abort()

    async def go() -> None:
        async with serving(handler) as port:
            stream = await AsyncioBackend().connect_tcp(HOST, port, timeout=5)
            await asyncio.sleep(0.1)
            with contextlib.suppress(httpcore.ReadError):
                # A reset reads as an error, or (if the kernel saw a FIN first) as the end.
                assert await stream.read(100, timeout=5) == b""
            assert stream.get_extra_info("is_readable") is True  # not reused
            await stream.aclose()

    run(go)


def test_a_keep_alive_connection_the_server_closed_is_not_reused() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        # Keep-alive promised, then the connection closed while idle (a server restart).
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()

    async def go() -> list[str]:
        async with serving(handler) as port:
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            transport = asyncio_network.transport(True, limits)
            async with httpx.AsyncClient(transport=transport) as client:
                texts = []
                for _ in range(3):
                    texts.append((await client.get(f"http://{HOST}:{port}/")).text)
                    await asyncio.sleep(0.2)  # the server closes the idle connection
                return texts

    assert run(go) == ["ok"] * 3
    assert connections == 3


def test_a_close_the_loop_has_not_handed_over_yet_still_makes_a_quiet_connection_unusable() -> (
    None
):
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def go() -> bool:
        async with serving(handler) as port:
            stream = await AsyncioBackend().connect_tcp(HOST, port, timeout=5)
            await asyncio.sleep(0)
            # The loop is busy elsewhere past the quiet time: the server's FIN is not read.
            time.sleep(asyncio_network.QUIET_S + 0.1)
            readable = stream.get_extra_info("is_readable")
            await stream.aclose()
            return bool(readable)

    assert run(go) is True


def test_closing_a_connection_whose_server_stopped_reading_ends_it_at_once() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)  # reads nothing: the client's writes back up

    async def go() -> None:
        async with serving(handler) as port:
            stream = await AsyncioBackend().connect_tcp(HOST, port, timeout=5)
            with pytest.raises(httpcore.WriteTimeout):
                while True:
                    await stream.write(b"x" * (1 << 20), timeout=0.2)
            await stream.aclose()
            assert isinstance(stream, AsyncioStream)
            connection = stream._connection
            for _ in range(100):
                if connection.eof:
                    break
                await asyncio.sleep(0.01)
            assert connection.eof  # the socket is closed, not left draining forever

    run(go, timeout_s=10)


def test_a_timeout_from_the_system_with_no_bound_set_is_a_connect_timeout() -> None:
    async def times_out() -> None:
        raise TimeoutError(110, "Connection timed out")

    with pytest.raises(httpcore.ConnectTimeout, match="Connection timed out"):
        run(lambda: asyncio_network._connect(times_out(), None))


def test_the_transport_falls_back_to_httpx_own_when_its_pool_is_not_as_expected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Other(httpx.AsyncHTTPTransport):
        def __init__(self, **kwargs: object) -> None:
            super().__init__()
            self._pool = object()  # type: ignore[assignment]

    monkeypatch.setattr(httpx, "AsyncHTTPTransport", Other)
    made = asyncio_network.transport(True, httpx.Limits())
    assert isinstance(made, Other)
    assert not isinstance(made._pool, httpcore.AsyncConnectionPool)


def test_an_httpx_transport_normally_gets_the_asyncio_backend() -> None:
    made = asyncio_network.transport(True, httpx.Limits(max_connections=4))
    assert isinstance(made._pool, httpcore.AsyncConnectionPool)
    assert isinstance(made._pool._network_backend, AsyncioBackend)


# -- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(HOST).configure_cert(context)
    return context


def test_bytes_sent_in_the_clear_before_the_tls_handshake_are_refused_not_read(
    authority: trustme.CA, tls_server: ssl.SSLContext
) -> None:
    """A response injected before the handshake must not pass for the server's TLS stream."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nINJECTED")
        await writer.drain()
        await asyncio.sleep(5)

    async def go() -> None:
        async with serving(handler) as port:
            stream = await AsyncioBackend().connect_tcp(HOST, port, timeout=5)
            await asyncio.sleep(0.2)  # the injected bytes have arrived
            context = ssl.create_default_context()
            authority.configure_trust(context)
            with pytest.raises(httpcore.ConnectError, match="before the TLS handshake"):
                await stream.start_tls(context, server_hostname=HOST, timeout=5)

    run(go)


def test_a_tls_handshake_that_never_comes_is_a_connect_timeout(authority: trustme.CA) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)  # accepts, and never answers the ClientHello

    async def go() -> None:
        async with serving(handler) as port:
            stream = await AsyncioBackend().connect_tcp(HOST, port, timeout=5)
            context = ssl.create_default_context()
            authority.configure_trust(context)
            with pytest.raises(httpcore.ConnectTimeout):
                await stream.start_tls(context, server_hostname=HOST, timeout=0.3)

    run(go, timeout_s=10)


def test_the_judge_scores_over_https_with_a_trusted_certificate(
    authority: trustme.CA,
    tls_server: ssl.SSLContext,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # as a user's own CA bundle is given
    with JudgeServer(tls=tls_server) as server:
        assert server.url.startswith("https://127.0.0.1:")

        async def go() -> list[str]:
            async with OpenAIJudge(judge_config(server.url, concurrency=4), api_key=None) as judge:
                results = await asyncio.gather(*(judge.score(REQUEST) for _ in range(8)))
            return [r.status for r in results]

        assert run(go) == ["scored"] * 8
        assert len(server.requests) == 8
        assert server.connections <= 4  # kept alive over TLS


def test_an_untrusted_certificate_is_unscored_with_the_reason_not_retried_forever(
    tls_server: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with JudgeServer(tls=tls_server) as server:

        async def go() -> tuple[str, str | None, int]:
            async with OpenAIJudge(judge_config(server.url), api_key=None) as judge:
                result = await judge.score(REQUEST)
            return result.status, result.reason, result.attempts

        status, reason, attempts = run(go)
        assert status == "unscored"
        assert reason is not None
        assert reason.startswith("the judge's TLS certificate is not trusted (")
        assert reason.endswith("set SSL_CERT_FILE to its certificate bundle")
        assert attempts == 1  # every attempt would fail alike
        assert server.requests == []  # the handshake failed: no request was sent


# -- proxies from the environment ---------------------------------------------------------


def test_a_proxy_from_the_environment_carries_the_judges_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With HTTP_PROXY set the judge keeps httpx's own transport, which honours it (a client
    given a transport of its own would not)."""
    seen: list[bytes] = []
    reply = json.dumps(
        {"choices": [{"message": {"content": '{"coverage": 0.7, "accuracy": 0.6}'}}]}
    ).encode()

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head.split(b"\r\n", 1)[0])
        length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(reply), reply))  # fmt: skip
        await writer.drain()
        writer.close()

    async def go() -> tuple[str, dict[str, float]]:
        async with serving(proxy) as port:
            for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY"):
                monkeypatch.delenv(name, raising=False)
            monkeypatch.setenv("HTTP_PROXY", f"http://{HOST}:{port}")
            # An origin nothing listens on: only the proxy can answer.
            config = judge_config("http://judge.invalid:9/v1", concurrency=2)
            async with OpenAIJudge(config, api_key=None) as judge:
                result = await judge.score(REQUEST)
            return result.status, result.scores

    status, scores = run(go)
    assert (status, scores) == ("scored", {"coverage": 0.7, "accuracy": 0.6})
    assert seen == [b"POST http://judge.invalid:9/v1/chat/completions HTTP/1.1"]
