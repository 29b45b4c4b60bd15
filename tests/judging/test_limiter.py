"""Adaptive concurrency (AIMD): a 429 halves the calls in flight, successes grow them back
one at a time; and a real rate-limiting server makes a live judge slow down."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import pytest
from support.aio import run
from support.judge_server import JudgeServer
from support.judges import judge_config

from pytest_llmbench.benchmark.judge_config import RetryPolicy
from pytest_llmbench.judging.chat_completions import OpenAIJudge
from pytest_llmbench.judging.judge_protocol import JudgeRequest
from pytest_llmbench.judging.limiter import AdaptiveLimiter
from pytest_llmbench.judging.result import JudgeResult


async def settle() -> None:
    """Let every runnable task take its next step."""
    for _ in range(5):
        await asyncio.sleep(0)


# -- multiplicative decrease ------------------------------------------------------------------


def test_a_throttle_halves_the_limit_down_to_one_call_and_never_below() -> None:
    async def go() -> list[tuple[int, int, int]]:
        limiter = AdaptiveLimiter(8)
        seen = [(limiter.limit, limiter.lowest, limiter.throttles)]
        for _ in range(5):
            limiter.throttled()
            seen.append((limiter.limit, limiter.lowest, limiter.throttles))
        return seen

    assert run(go) == [(8, 8, 0), (4, 4, 1), (2, 2, 2), (1, 1, 3), (1, 1, 4), (1, 1, 5)]


def test_an_odd_limit_halves_rounding_down() -> None:
    async def go() -> list[int]:
        limiter = AdaptiveLimiter(7)
        limits = []
        for _ in range(3):
            limiter.throttled()
            limits.append(limiter.limit)
        return limits

    assert run(go) == [3, 1, 1]


@pytest.mark.parametrize(("maximum", "expected"), [(0, 1), (-3, 1), (1, 1), (16, 16)])
def test_the_maximum_is_at_least_one_call(maximum: int, expected: int) -> None:
    async def go() -> tuple[int, int, int]:
        limiter = AdaptiveLimiter(maximum)
        return limiter.maximum, limiter.limit, limiter.lowest

    assert run(go) == (expected, expected, expected)


# -- additive increase ------------------------------------------------------------------------


def test_the_limit_grows_by_one_after_limit_successes_in_a_row() -> None:
    async def go() -> list[int]:
        limiter = AdaptiveLimiter(5)
        limiter.throttled()
        limiter.throttled()  # 5 -> 2 -> 1
        limits = [limiter.limit]
        for _ in range(1 + 2 + 3 + 4 + 3):
            await limiter.succeeded()
            limits.append(limiter.limit)
        return limits

    # 1 success at limit 1, 2 at limit 2, 3 at 3, 4 at 4; then 5 is the maximum and stays.
    assert run(go) == [1, 2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5]


def test_the_limit_never_grows_above_the_maximum() -> None:
    async def go() -> tuple[int, int]:
        limiter = AdaptiveLimiter(3)
        for _ in range(50):
            await limiter.succeeded()
        at_maximum = limiter.limit
        limiter.throttled()  # 3 -> 1
        for _ in range(50):
            await limiter.succeeded()
        return at_maximum, limiter.limit

    assert run(go) == (3, 3)


def test_a_throttle_restarts_the_count_of_successes() -> None:
    async def go() -> list[int]:
        limiter = AdaptiveLimiter(8)
        limiter.throttled()
        limiter.throttled()  # 8 -> 4 -> 2
        limits = []
        await limiter.succeeded()  # one of the two needed
        limiter.throttled()  # 2 -> 1, and the count starts again
        limits.append(limiter.limit)
        await limiter.succeeded()  # one success at limit 1: grow to 2
        limits.append(limiter.limit)
        await limiter.succeeded()  # one of two at limit 2
        limits.append(limiter.limit)
        await limiter.succeeded()
        limits.append(limiter.limit)
        return limits

    assert run(go) == [1, 2, 2, 3]


def test_lowest_remembers_the_lowest_limit_after_recovery() -> None:
    async def go() -> tuple[int, int, int]:
        limiter = AdaptiveLimiter(4)
        limiter.throttled()
        limiter.throttled()  # 4 -> 2 -> 1
        for _ in range(20):
            await limiter.succeeded()
        return limiter.limit, limiter.lowest, limiter.throttles

    assert run(go) == (4, 1, 2)


# -- slots and waiters ------------------------------------------------------------------------


def test_no_more_than_limit_callers_hold_a_slot() -> None:
    async def go() -> tuple[int, int]:
        limiter = AdaptiveLimiter(3)
        peak = 0
        done = 0

        async def call() -> None:
            nonlocal peak, done
            async with limiter:
                peak = max(peak, limiter.in_use)
                await asyncio.sleep(0.001)
            done += 1

        await asyncio.gather(*(call() for _ in range(20)))
        assert limiter.in_use == 0
        return peak, done

    assert run(go) == (3, 20)


def test_a_released_slot_lets_a_waiter_in() -> None:
    async def go() -> list[str]:
        limiter = AdaptiveLimiter(1)
        events: list[str] = []
        release = asyncio.Event()

        async def first() -> None:
            async with limiter:
                events.append("first in")
                await release.wait()
            events.append("first out")

        async def second() -> None:
            async with limiter:
                events.append("second in")

        tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
        await settle()
        assert events == ["first in"]  # the second waits for the only slot
        release.set()
        await asyncio.gather(*tasks)
        return events

    assert run(go) == ["first in", "first out", "second in"]


def test_growing_the_limit_lets_a_waiter_in_without_any_release() -> None:
    async def go() -> tuple[list[str], int]:
        limiter = AdaptiveLimiter(2)
        limiter.throttled()  # 2 -> 1
        events: list[str] = []
        release = asyncio.Event()

        async def holder() -> None:
            async with limiter:
                events.append("holder in")
                await release.wait()

        async def waiter() -> None:
            async with limiter:
                events.append("waiter in")

        tasks = [asyncio.create_task(holder()), asyncio.create_task(waiter())]
        await settle()
        assert events == ["holder in"]
        await limiter.succeeded()  # one success at limit 1: the limit is 2, the waiter goes
        await settle()
        in_use = limiter.in_use
        release.set()
        await asyncio.gather(*tasks)
        return events, in_use

    assert run(go) == (["holder in", "waiter in"], 1)


def test_waiters_get_slots_in_the_order_they_asked() -> None:
    async def go() -> list[int]:
        limiter = AdaptiveLimiter(1)
        order: list[int] = []
        release = asyncio.Event()

        async def holder() -> None:
            async with limiter:
                await release.wait()

        async def waiter(index: int) -> None:
            async with limiter:
                order.append(index)
                await asyncio.sleep(0)

        first = asyncio.create_task(holder())
        await settle()
        waiters = []
        for index in range(6):
            waiters.append(asyncio.create_task(waiter(index)))
            await settle()  # queued in this order
        release.set()
        await asyncio.gather(first, *waiters)
        return order

    assert run(go) == [0, 1, 2, 3, 4, 5]


def test_a_cancelled_waiter_loses_no_slot() -> None:
    async def go() -> tuple[list[str], int]:
        limiter = AdaptiveLimiter(1)
        events: list[str] = []
        release = asyncio.Event()

        async def holder() -> None:
            async with limiter:
                await release.wait()

        async def waiter(name: str) -> None:
            async with limiter:
                events.append(name)

        first = asyncio.create_task(holder())
        await settle()
        doomed = asyncio.create_task(waiter("cancelled"))
        survivor = asyncio.create_task(waiter("survivor"))
        await settle()
        doomed.cancel()  # while still waiting for the slot
        await settle()
        release.set()
        await asyncio.gather(first, survivor)
        assert doomed.cancelled()
        return events, limiter.in_use

    assert run(go) == (["survivor"], 0)


def test_a_waiter_cancelled_after_being_handed_a_slot_passes_it_on() -> None:
    async def go() -> tuple[list[str], int]:
        limiter = AdaptiveLimiter(1)
        events: list[str] = []

        async def waiter(name: str) -> None:
            async with limiter:
                events.append(name)

        await limiter.__aenter__()  # the only slot is taken
        doomed = asyncio.create_task(waiter("cancelled"))
        survivor = asyncio.create_task(waiter("survivor"))
        await settle()
        # The release hands the slot to the first waiter; it is cancelled before it runs.
        await limiter.__aexit__(None, None, None)
        doomed.cancel()
        await asyncio.gather(survivor)
        await asyncio.gather(doomed, return_exceptions=True)
        return events, limiter.in_use

    assert run(go) == (["survivor"], 0)


def test_after_a_throttle_new_callers_wait_until_in_use_is_below_the_new_limit() -> None:
    async def go() -> tuple[list[int], int]:
        limiter = AdaptiveLimiter(4)
        release = [asyncio.Event() for _ in range(4)]
        admitted: list[int] = []

        async def holder(index: int) -> None:
            async with limiter:
                await release[index].wait()

        async def newcomer(index: int) -> None:
            async with limiter:
                admitted.append(index)
                await asyncio.sleep(0)

        holders = [asyncio.create_task(holder(i)) for i in range(4)]
        await settle()
        assert limiter.in_use == 4
        limiter.throttled()  # 4 -> 2 while 4 calls are in flight
        newcomers = [asyncio.create_task(newcomer(i)) for i in range(3)]
        counts = []
        for index in range(4):
            release[index].set()
            await settle()
            counts.append(len(admitted))
        await asyncio.gather(*holders, *newcomers)
        return counts, limiter.in_use

    # 4 in flight, limit 2: the first two releases leave 3, then 2 in use, admitting nobody;
    # the third release (1 in use) admits one newcomer, the fourth the others in turn.
    counts, in_use = run(go)
    assert counts[:2] == [0, 0]
    assert counts[2] >= 1
    assert counts[3] == 3
    assert in_use == 0


def test_a_caller_that_raises_gives_its_slot_back() -> None:
    async def go() -> int:
        limiter = AdaptiveLimiter(1)
        with pytest.raises(RuntimeError):
            async with limiter:
                raise RuntimeError("the call failed")
        async with limiter:  # would wait forever if the slot were lost
            return limiter.in_use

    assert run(go) == 1


# -- a real rate-limiting server -------------------------------------------------------------

CONCURRENCY = 8
THROTTLED_FIRST = 8  # the whole first wave is told to slow down
# Few enough calls that additive increase cannot climb back to 8 (from 1 that takes
# 1 + 2 + ... + 7 = 28 successes): any 8 in flight after the throttle is a limiter miss.
CALLS = 24


def messages(index: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You are a strict evaluator."},
        {"role": "user", "content": f"Call {index}: return JSON with coverage and accuracy."},
    ]


@dataclass
class Throttled:
    results: list[JudgeResult]
    judge: OpenAIJudge
    limiter: AdaptiveLimiter
    server: JudgeServer
    in_flight: dict[int, int]  # call index -> requests the server was serving at its OK reply


def throttled_run(latency_s: float) -> Throttled:
    """CALLS calls at concurrency 8 against a server whose first 8 replies are 429 with
    Retry-After: 0.05. Calls 0-7 take the slots first (gather starts them in order)."""
    in_flight: dict[int, int] = {}
    call_index = re.compile(r"Call (\d+):")

    def scorer(body: dict[str, Any]) -> dict[str, float]:
        # Runs while this request still counts as in flight on the server.
        match = call_index.search(body["messages"][1]["content"])
        assert match is not None
        in_flight[int(match.group(1))] = server.in_flight
        return {"coverage": 0.9, "accuracy": 0.8}

    with JudgeServer(
        latency_s=latency_s, scorer=scorer, script=[("status", 429, 0.05)] * THROTTLED_FIRST
    ) as server:
        config = judge_config(
            server.url,
            concurrency=CONCURRENCY,
            timeout_s=10.0,
            retries=RetryPolicy(attempts=6, max_wait_s=10.0, base_s=0.01),
            structured_output="none",
        )

        async def go() -> tuple[list[JudgeResult], OpenAIJudge, AdaptiveLimiter]:
            async with OpenAIJudge(config, api_key=None) as judge:
                results = await asyncio.gather(
                    *(
                        judge.score(JudgeRequest(messages(i), ("coverage", "accuracy")))
                        for i in range(CALLS)
                    )
                )
                assert judge.limiter is not None
                return list(results), judge, judge.limiter

        results, judge, limiter = run(go)
    return Throttled(results, judge, limiter, server, in_flight)


def test_a_live_judge_halves_its_concurrency_when_the_server_answers_429() -> None:
    run_ = throttled_run(latency_s=0.05)
    assert [r.status for r in run_.results] == ["scored"] * CALLS
    assert all(r.scores == {"coverage": 0.9, "accuracy": 0.8} for r in run_.results)
    assert [r.retries for r in run_.results] == [1] * THROTTLED_FIRST + [0] * (
        CALLS - THROTTLED_FIRST
    )
    assert len(run_.server.requests) == CALLS + THROTTLED_FIRST
    assert run_.judge.stats.transient_errors == {"429": THROTTLED_FIRST}
    assert run_.limiter.throttles == THROTTLED_FIRST
    assert run_.limiter.lowest < CONCURRENCY
    assert run_.limiter.lowest == 1  # 8 -> 4 -> 2 -> 1, then stays at 1
    assert 1 < run_.limiter.limit < CONCURRENCY  # grown back some, not all the way
    assert run_.server.peak_in_flight == CONCURRENCY  # the first wave came at full width
    assert sorted(run_.in_flight) == list(range(CALLS))
    # Every call started after the throttle was let in under the halved, slowly regrown
    # limit: the server never served 8 at once again.
    after = [run_.in_flight[i] for i in range(THROTTLED_FIRST, CALLS)]
    assert max(after) < CONCURRENCY


def test_retries_after_a_429_respect_the_halved_limit_too() -> None:
    # A latency well above the spread of the 429 replies, so the retries would overlap.
    run_ = throttled_run(latency_s=0.5)
    assert [r.status for r in run_.results] == ["scored"] * CALLS
    retries = [run_.in_flight[i] for i in range(THROTTLED_FIRST)]
    assert max(retries) < CONCURRENCY
