"""The live judge's HTTP clients: its requests sharded over several httpx.AsyncClients of
at most CONNECTIONS_PER_CLIENT connections each.

One client with many connections collapses at high concurrency: httpcore's connection pool
scans every connection for each request (and again as each one finishes), so the cost of a
request grows with the pool, and at 128 connections one client reached 0.12 of a 512/s
limit with its CPU spent in that scan, where four clients of 32 reached 0.85 (issue 12).
Smaller clients cost less again: the client CPU per request of a bare sharded client at
concurrency 128 was about 3 ms with clients of 32 connections, 1.6 ms with 16, 1.2 ms with
8 and 0.95 ms with 4 (2026-12-01, tests/perf/README.md); 8 keeps the number of clients
(and of their pools to pick from) small at concurrency 256.
Each request goes to the client with the fewest requests in flight, ties taken in turn, so
no client is asked for more connections than it has while another has room.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import httpx

__all__ = ["CONNECTIONS_PER_CLIENT", "ClientPool", "shard_sizes"]

CONNECTIONS_PER_CLIENT = 8


def shard_sizes(concurrency: int, per_client: int = CONNECTIONS_PER_CLIENT) -> list[int]:
    """The connections of each client: ceil(concurrency / per_client) clients, as even as
    can be (with 8: 12 -> [6, 6], 32 -> [8, 8, 8, 8]); they add up to `concurrency`."""
    concurrency = max(1, concurrency)
    count = math.ceil(concurrency / per_client)
    base, extra = divmod(concurrency, count)
    return [base + 1 if index < extra else base for index in range(count)]


class ClientPool:
    """The clients one judge posts through; made and closed together, in one event loop.

    `make(connections)` builds one client allowed that many connections (kept alive as
    many). With `sizes` of one entry it is a single client, as with an injected transport,
    which owns the connections itself.
    """

    def __init__(self, sizes: list[int], make: Callable[[int], httpx.AsyncClient]) -> None:
        self.clients = [make(size) for size in sizes]
        self.in_flight = [0] * len(self.clients)
        self._next = 0  # where the search for the least busy client starts: ties in turn

    def _pick(self) -> int:
        count = len(self.clients)
        start = self._next
        best = start
        for offset in range(1, count):
            index = (start + offset) % count
            if self.in_flight[index] < self.in_flight[best]:
                best = index
        self._next = (best + 1) % count
        return best

    @contextlib.contextmanager
    def client(self) -> Iterator[httpx.AsyncClient]:
        """The least busy client, counted in flight while the block runs (a streamed
        response is read inside it)."""
        index = self._pick()
        self.in_flight[index] += 1
        try:
            yield self.clients[index]
        finally:
            self.in_flight[index] -= 1

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        with self.client() as client:
            return await client.post(url, **kwargs)

    async def aclose(self) -> None:
        clients, self.clients = self.clients, []
        self.in_flight = []
        results = await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
