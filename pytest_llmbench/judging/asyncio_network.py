"""The judge's sockets on asyncio itself: an httpcore network backend without anyio.

httpx on asyncio reaches its sockets through anyio (httpcore's default backend): every
read and write enters a cancel scope, asks sniffio which library runs, and builds a
stream's attribute table, and at hundreds of requests a second in the helper's one loop
that was a third of its CPU (issue 12). This backend does what httpcore asks of one
(`httpcore.AsyncNetworkBackend`, its documented seam) with an asyncio Protocol per
connection: reads from a buffer the loop fills, writes straight to the transport with
asyncio's flow control, TLS by `loop.start_tls`, timeouts by one timer per wait. It
raises httpcore's own errors (ConnectError, ReadTimeout, ...), each from the OSError
underneath, so httpx maps them and the judge describes them as before.

`transport()` builds the httpx transport that uses it; anything it cannot build (an
httpx whose transport is not as expected) falls back to httpx's own.
"""

from __future__ import annotations

import asyncio
import select
import ssl
import sys
import time
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

import httpcore
import httpx

__all__ = ["AsyncioBackend", "AsyncioStream", "transport", "within"]

# Reading pauses above this many unread bytes and resumes below a quarter of it: a server
# that streams faster than the judge reads costs bounded memory.
READ_HIGH_WATER = 1 << 18
# An idle connection whose server said nothing for this long has its socket polled before
# it is reused (see is_readable).
QUIET_S = 0.5
T = TypeVar("T")

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class _Connection(asyncio.Protocol):
    """One connection's state, fed by the loop."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.reading_paused = False
        self.waiter: asyncio.Future[None] | None = None  # a read waiting for data
        self.drain: asyncio.Future[None] | None = None  # a write waiting for room
        self.writing_paused = False
        self.heard_at = time.monotonic()  # when the server last sent something

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.heard_at = time.monotonic()
        self.buffer += data
        if len(self.buffer) > READ_HIGH_WATER and not self.reading_paused:
            self.reading_paused = True
            if self.transport is not None:
                self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        drain, self.drain = self.drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        drain, self.drain = self.drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Expired(Exception):
    """A wait's time ran out (set on its future by the timer)."""


async def _wait(future: asyncio.Future[None], timeout: float | None) -> bool:
    """Wait for `future`; False when `timeout` passed first (one timer, no task)."""
    if timeout is None:
        await future
        return True
    timer = asyncio.get_running_loop().call_later(max(0.0, timeout), _expire, future)
    try:
        await future
    except _Expired:
        return False
    finally:
        timer.cancel()
    return True


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(_Expired())


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection, as httpcore reads and writes it."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        c = self._connection
        while not c.buffer and not c.eof:
            waiter = c.waiter = asyncio.get_running_loop().create_future()
            if not await _wait(waiter, timeout):
                c.waiter = None
                raise httpcore.ReadTimeout(f"no data in {timeout:g} s")
        if c.buffer:
            data = bytes(c.buffer[:max_bytes])
            del c.buffer[:max_bytes]
            if c.reading_paused and len(c.buffer) < READ_HIGH_WATER // 4:
                c.reading_paused = False
                if c.transport is not None and not c.transport.is_closing():
                    c.transport.resume_reading()
            return data
        if c.error is not None:
            raise httpcore.ReadError(str(c.error) or type(c.error).__name__) from c.error
        return b""  # the other end closed

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        c = self._connection
        transport = c.transport
        if transport is None or transport.is_closing():
            error = c.error
            raise httpcore.WriteError(str(error) if error else "connection closed") from error
        transport.write(buffer)
        while c.writing_paused and not c.eof:
            drain = c.drain = asyncio.get_running_loop().create_future()
            if not await _wait(drain, timeout):
                c.drain = None
                raise httpcore.WriteTimeout(f"could not write in {timeout:g} s")
        if c.error is not None:
            raise httpcore.WriteError(str(c.error)) from c.error

    async def aclose(self) -> None:
        transport = self._connection.transport
        if transport is not None:
            # Not close(): it waits for unsent data to drain (forever, should the server
            # have stopped reading: after a write timeout, say) and for TLS's close_notify.
            # As anyio's backend does.
            transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        c = self._connection
        loop = asyncio.get_running_loop()
        assert c.transport is not None
        if c.buffer or c.eof:
            # Bytes that came in the clear before the handshake are not the server's TLS
            # stream: read later, they would pass for it (an injected response).
            await self.aclose()
            raise httpcore.ConnectError("the server sent data before the TLS handshake")
        try:
            tls = await within(
                loop.start_tls(c.transport, c, ssl_context, server_hostname=server_hostname),
                timeout,
            )
        except (asyncio.TimeoutError, TimeoutError) as error:
            await self.aclose()
            raise httpcore.ConnectTimeout("TLS handshake timed out") from error
        except (OSError, ssl.SSLError, ConnectionError, ValueError) as error:
            await self.aclose()
            raise httpcore.ConnectError(str(error) or type(error).__name__) from error
        if tls is None:  # the connection closed during the handshake
            raise httpcore.ConnectError("connection closed during the TLS handshake")
        assert isinstance(tls, asyncio.Transport)
        c.transport = tls
        return self

    def get_extra_info(self, info: str) -> Any:
        c = self._connection
        transport = c.transport
        if transport is None:
            return None
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            return transport.get_extra_info("socket")
        if info == "is_readable":
            # An idle connection with something to read (or closed by the server) cannot
            # carry the next request: httpcore then opens another. A connection quiet for
            # a while has its socket asked too, as the loop may not have handed it the
            # server's close yet (a server closes idle connections after seconds); one
            # that just answered is not, a system call per pooled connection per request.
            if c.buffer or c.eof or transport.is_closing():
                return True
            if time.monotonic() - c.heard_at < QUIET_S:
                return False
            return _socket_readable(transport.get_extra_info("socket"))
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network on asyncio's own transports."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        connection = _Connection()
        local = (local_address, 0) if local_address else None
        await _connect(
            loop.create_connection(lambda: connection, host, port, local_addr=local), timeout
        )
        _apply(connection, socket_options)
        return AsyncioStream(connection)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        connection = _Connection()
        await _connect(loop.create_unix_connection(lambda: connection, path), timeout)
        _apply(connection, socket_options)
        return AsyncioStream(connection)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connect(opening: Awaitable[object], timeout: float | None) -> None:
    try:
        await within(opening, timeout)
    except (asyncio.TimeoutError, TimeoutError) as error:  # the bound, or the system's
        said = f"could not connect in {timeout:g} s" if timeout is not None else str(error)
        raise httpcore.ConnectTimeout(said or "connect timed out") from error
    except OSError as error:
        raise httpcore.ConnectError(str(error)) from error


async def within(awaitable: Awaitable[T], timeout: float | None) -> T:
    """`awaitable` within `timeout` seconds (None: no bound): TimeoutError past them. In
    this task: before 3.12 wait_for makes a task of its own, per request for the judge."""
    if timeout is None:
        return await awaitable
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(max(0.0, timeout)):
            return await awaitable
    return await asyncio.wait_for(awaitable, max(0.0, timeout))  # pragma: no cover


def _socket_readable(sock: Any) -> bool:
    """Whether the socket has something to read (data, or the other end's close) now."""
    try:
        fd = sock.fileno() if sock is not None else -1
    except (OSError, ValueError):
        return True
    if fd < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)  # pragma: no cover - no poll()
    return bool(readable)


def _apply(connection: _Connection, options: Iterable[SocketOption] | None) -> None:
    """httpcore's socket options, set on the connected socket (asyncio sets TCP_NODELAY)."""
    transport = connection.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        for option in options or ():
            sock.setsockopt(*option)


def transport(verify: ssl.SSLContext | bool, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's transport (HTTP/1.1, no proxy) with its connection pool on AsyncioBackend.
    A client given it ignores proxies from the environment: where one is set, the judge
    keeps httpx's own transport (chat_completions)."""
    made = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
    pool = getattr(made, "_pool", None)
    if type(pool) is not httpcore.AsyncConnectionPool:
        return made  # an httpx this module does not know: its own backend, as before
    context = getattr(pool, "_ssl_context", None)
    made._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=AsyncioBackend(),
    )
    return made
