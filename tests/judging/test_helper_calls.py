"""The run's helper makes one call per distinct request (helper_process.Calls): an item
takes what was judged ahead for it, a repeat of an item is judged anew, and a call whose
asker went away answers the next asker."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from support.aio import run

from pytest_llmbench.judging.helper_process import Calls, request_key
from pytest_llmbench.judging.result import JudgeResult


def message(text: str, *, ahead: bool = False, taken_here: bool = False) -> dict[str, Any]:
    extra = {"taken_here": True} if taken_here else {}
    return {
        **extra,
        "id": 1,
        "judge": "default",
        "messages": [{"role": "user", "content": text}],
        "metrics": ["coverage"],
        "temperature": None,
        "scale": None,
        "ahead": ahead,
    }


class Counting:
    """A judge that counts its calls per text, answering after `gate` opens."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.gate = asyncio.Event()

    async def __call__(self, asked: Mapping[str, Any]) -> JudgeResult:
        text = asked["messages"][0]["content"]
        self.calls[text] = self.calls.get(text, 0) + 1
        await self.gate.wait()
        return JudgeResult(status="scored", scores={"coverage": 0.5}, attempts=1)


def test_an_item_takes_the_call_made_ahead_for_it_and_counts_it() -> None:
    async def go() -> list[tuple[bool, bool]]:
        judge = Counting()
        calls = Calls(judge)
        ahead = asyncio.ensure_future(calls.ask(message("a", ahead=True)))
        await asyncio.sleep(0)
        item = asyncio.ensure_future(calls.ask(message("a")))
        judge.gate.set()
        done = [await ahead, await item]
        assert judge.calls == {"a": 1}
        assert len(calls) == 0  # taken: forgotten
        return [(d[1], d[2]) for d in done if not isinstance(d, str)]

    # (started, claimed): the ahead call made it, the item is the one it counts under
    assert run(go) == [(True, False), (False, True)]


def test_a_finished_ahead_call_waits_for_its_item() -> None:
    async def go() -> None:
        judge = Counting()
        judge.gate.set()
        calls = Calls(judge)
        await calls.ask(message("a", ahead=True))
        answer = await calls.ask(message("a"))
        assert not isinstance(answer, str) and answer[1:] == (False, True)
        assert judge.calls == {"a": 1}

    run(go)


def test_an_ahead_call_for_a_request_already_taken_is_not_made() -> None:
    async def go() -> None:
        judge = Counting()
        judge.gate.set()
        calls = Calls(judge)
        await calls.ask(message("a"))
        assert await calls.ask(message("a", ahead=True)) == "taken"
        assert judge.calls == {"a": 1}

    run(go)


def test_a_call_asked_taken_here_is_forgotten_once_done_as_a_taken_call_is() -> None:
    """The single process's controller takes its own results (run/ahead_of_items): the
    helper keeps nothing for another asker, and the request counts as taken."""

    async def go() -> None:
        judge = Counting()
        judge.gate.set()
        calls = Calls(judge)
        answer = await calls.ask(message("a", ahead=True, taken_here=True))
        assert not isinstance(answer, str) and answer[1:] == (True, False)
        assert len(calls) == 0
        assert await calls.ask(message("a", ahead=True)) == "taken"
        # An item asking for it again (the same sample's item run twice) is a call anew.
        again = await calls.ask(message("a"))
        assert not isinstance(again, str) and again[1:] == (True, True)
        assert judge.calls == {"a": 2}

    run(go)


def test_a_repeat_of_an_item_is_judged_anew_even_while_the_first_is_in_flight() -> None:
    async def go() -> None:
        judge = Counting()
        calls = Calls(judge)
        first = asyncio.ensure_future(calls.ask(message("a")))
        await asyncio.sleep(0)
        second = asyncio.ensure_future(calls.ask(message("a")))
        await asyncio.sleep(0)
        judge.gate.set()
        answers = [await first, await second]
        assert [a[1:] for a in answers if not isinstance(a, str)] == [(True, True)] * 2
        assert judge.calls == {"a": 2}

    run(go)


def test_a_call_given_up_by_its_only_asker_is_cancelled_and_asked_anew() -> None:
    async def go() -> None:
        judge = Counting()
        calls = Calls(judge)
        asked = asyncio.ensure_future(calls.ask(message("a", ahead=True)))
        await asyncio.sleep(0)
        asked.cancel()
        await asyncio.gather(asked, return_exceptions=True)
        assert len(calls) == 0
        judge.gate.set()
        await calls.ask(message("a"))
        assert judge.calls == {"a": 2}

    run(go)


def test_untaken_calls_beyond_the_limit_are_forgotten_oldest_first() -> None:
    async def go() -> None:
        judge = Counting()
        judge.gate.set()
        calls = Calls(judge, untaken_limit=2)
        for text in "abc":
            await calls.ask(message(text, ahead=True))
        assert len(calls) == 2
        await calls.ask(message("a"))  # forgotten: asked again
        await calls.ask(message("c"))  # kept: taken
        assert judge.calls == {"a": 2, "b": 1, "c": 1}

    run(go)


def test_a_join_only_request_joins_a_call_made_ahead_and_nothing_else() -> None:
    async def go() -> None:
        judge = Counting()
        judge.gate.set()
        calls = Calls(judge)
        assert await calls.ask({**message("a"), "join_only": True}) == "absent"
        await calls.ask(message("a", ahead=True))
        answer = await calls.ask({**message("a"), "join_only": True})
        assert not isinstance(answer, str) and answer[1:] == (False, True)
        assert judge.calls == {"a": 1}

    run(go)


@given(
    a=st.dictionaries(st.sampled_from(["judge", "messages", "metrics", "temperature", "scale"]),
                      st.one_of(st.none(), st.text(max_size=5), st.integers())),
)
def test_the_request_key_ignores_the_id_and_ahead_flag_and_nothing_else(
    a: dict[str, Any],
) -> None:
    base = {**a, "id": 1, "ahead": False}
    assert request_key(base) == request_key({**a, "id": 99, "ahead": True})
    for field in ("judge", "messages", "metrics", "temperature", "scale"):
        changed = {**base, field: ["something else"]}
        assert request_key(changed) != request_key(base)


# -- repeats: each of a sample's judgements is a call of its own ---------------------------


def test_a_repeat_index_makes_a_request_of_its_own_and_repeat_0_keeps_the_key() -> None:
    first = message("a")
    assert request_key({**first, "repeat": 0}) == request_key(first)
    assert request_key({**first, "repeat": 1}) != request_key(first)
    assert request_key({**first, "repeat": 1}) != request_key({**first, "repeat": 2})


def test_a_samples_repeats_in_flight_together_are_each_a_call() -> None:
    async def go() -> list[bool]:
        judge = Counting()
        calls = Calls(judge)
        asked = [
            asyncio.ensure_future(calls.ask({**message("a"), "repeat": k})) for k in range(3)
        ]
        await asyncio.sleep(0)
        judge.gate.set()
        done = [await a for a in asked]
        assert judge.calls == {"a": 3}
        return [d[1] for d in done if not isinstance(d, str)]

    assert run(go) == [True, True, True]  # each made its own call
