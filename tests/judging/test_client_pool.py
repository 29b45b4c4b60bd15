"""The live judge's requests sharded over clients of at most CONNECTIONS_PER_CLIENT (8)
connections: how many clients and of what size, and against a real server on 127.0.0.1 that the requests in
flight are spread over them, that every connection is used and that all close together."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.aio import run
from support.judge_server import JudgeServer
from support.judges import judge_config

from pytest_llmbench.judging.chat_completions import OpenAIJudge
from pytest_llmbench.judging.client_pool import CONNECTIONS_PER_CLIENT, ClientPool, shard_sizes
from pytest_llmbench.judging.judge_protocol import JudgeRequest

REQUEST = JudgeRequest([{"role": "user", "content": "Summary: ok"}], ("coverage",))


@pytest.mark.parametrize(
    ("concurrency", "sizes"),
    [
        (1, [1]),
        (8, [8]),
        (9, [5, 4]),
        (12, [6, 6]),
        (32, [8, 8, 8, 8]),
        (33, [7, 7, 7, 6, 6]),
        (128, [8] * 16),
        (256, [8] * 32),
        (0, [1]),
    ],
)
def test_clients_are_ceil_of_concurrency_over_8_and_as_even_as_can_be(
    concurrency: int, sizes: list[int]
) -> None:
    assert shard_sizes(concurrency) == sizes


@given(st.integers(min_value=1, max_value=5000))
def test_the_shards_add_up_to_the_concurrency_and_none_passes_the_client_limit(concurrency: int) -> None:
    sizes = shard_sizes(concurrency)
    assert sum(sizes) == concurrency
    assert len(sizes) == math.ceil(concurrency / CONNECTIONS_PER_CLIENT)
    assert max(sizes) <= CONNECTIONS_PER_CLIENT
    assert max(sizes) - min(sizes) <= 1


def test_requests_in_flight_spread_over_the_clients_and_use_every_connection() -> None:
    concurrency = 64
    with JudgeServer(latency_s=0.5, metrics=("coverage",)) as srv:
        judge = OpenAIJudge(judge_config(srv.url, concurrency=concurrency), api_key=None)

        async def go() -> tuple[list[int], list[str]]:
            calls = [asyncio.ensure_future(judge.score(REQUEST)) for _ in range(concurrency)]
            while srv.in_flight < concurrency:
                await asyncio.sleep(0.01)
            pool = judge._client
            assert pool is not None
            spread = list(pool.in_flight)
            results = await asyncio.gather(*calls)
            await judge.aclose()
            return spread, [r.status for r in results]

        spread, statuses = run(go)
        assert spread == [8] * 8
        assert statuses == ["scored"] * concurrency
        assert srv.peak_in_flight == concurrency
        assert srv.connections == concurrency


def test_ties_go_to_the_clients_in_turn_and_all_close_together() -> None:
    made: list[httpx.AsyncClient] = []

    def make(connections: int) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})),
            limits=httpx.Limits(max_connections=connections),
        )
        made.append(client)
        return client

    pool = ClientPool([2, 2, 2], make)

    async def go() -> list[int]:
        chosen = []
        for _ in range(6):  # one at a time: every client idle, so in turn
            chosen.append(pool._pick())
        for client in made:
            await client.post("http://127.0.0.1/x")
        await pool.aclose()
        return chosen

    assert run(go) == [0, 1, 2, 0, 1, 2]
    assert all(client.is_closed for client in made)
    assert pool.clients == []
