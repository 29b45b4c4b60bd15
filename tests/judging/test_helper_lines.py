"""The helper's line protocol under hostile lines: any line is a request, a ping, a cancel
or a refusal; lines are bounded on both sides; an oversized request unscores its own
sample only, and the helper stays alive for the next."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.aio import run
from support.judge_server import JudgeServer
from support.judges import judge_config

from pytest_llmbench.judging import helper_process as hp
from pytest_llmbench.judging.helper_process import BoundedLines, JudgeProcess, Overlong

METRICS = ("coverage", "accuracy")


def lines_of(chunks: list[bytes], limit: int) -> list[bytes | Overlong]:
    async def go() -> list[bytes | Overlong]:
        reader = asyncio.StreamReader()
        for chunk in chunks:
            reader.feed_data(chunk)
        reader.feed_eof()
        return [line async for line in BoundedLines(reader, limit)]

    return run(go)


@given(st.lists(st.binary(max_size=40), max_size=12), st.integers(1, 30))
def test_bounded_lines_are_the_lines_with_each_long_one_skipped(
    chunks: list[bytes], limit: int
) -> None:
    data = b"".join(chunks)
    expected: list[bytes | Overlong] = []
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()  # the newline ends the last line
    for part in parts:
        expected.append(part if len(part) <= limit else Overlong(part[:64], limit))
    assert lines_of(chunks, limit) == expected


@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "replace")))
def test_any_request_line_is_acted_on_or_refused_with_a_reason(raw: bytes) -> None:
    outcome = hp.read_request(raw)
    if isinstance(outcome, tuple):
        request_id, reason = outcome
        assert request_id is None or isinstance(request_id, int)
        assert reason
    else:
        assert isinstance(outcome, dict)


@given(
    st.dictionaries(
        st.sampled_from(["id", "judge", "messages", "metrics", "temperature", "scale", "x"]),
        st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=3),
    )
)
def test_a_request_of_the_wrong_shape_is_refused_naming_its_id(message: dict[str, Any]) -> None:
    outcome = hp.read_request(json.dumps(message).encode())
    if isinstance(outcome, dict):
        assert isinstance(outcome["id"], int) and isinstance(outcome["judge"], str)
    else:
        request_id, _ = outcome
        expected_id = message.get("id")
        assert request_id == (expected_id if type(expected_id) is int else None)


def test_an_oversized_request_line_is_refused_with_its_id() -> None:
    head = b'{"id":42,"judge":"default","messages":[' + b"x" * 100
    assert hp.read_request(Overlong(head[:64], 50)) == (42, "request line over 50 bytes")


def test_the_child_refuses_bad_lines_answers_the_rest_and_stays_alive() -> None:
    request = {"id": 5, "judge": "none", "messages": [], "metrics": [], "temperature": None}
    lines = [
        {"judges": {}, "keys": {}, "line_limit": 200},
        {"ping": 1},
        "not json",
        [1, 2],
        {"id": True},
        {**request, "id": 6, "messages": "text"},
        {**request, "id": 7, "pad": "x" * 300},
        request,
        {"ping": 2},
    ]
    stdin = "".join((t if isinstance(t, str) else json.dumps(t)) + "\n" for t in lines)
    # stdin stays open until every answer is in, as the parent keeps it: its end stops the
    # child at once, calls still in flight included.
    child = subprocess.Popen(
        hp._child_command(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    child.stdin.write(stdin)
    child.stdin.flush()
    replies = [json.loads(child.stdout.readline()) for _ in range(6)]
    child.stdin.close()
    assert child.wait(timeout=60) == 0
    stderr = child.stderr.read()
    child.stdout.close()
    child.stderr.close()
    assert sorted(replies, key=json.dumps) == sorted(
        [
            {"ready": True},
            {"pong": 1},
            {"id": 6, "error": "request messages are not a list of chat messages"},
            {"id": 7, "error": "request line over 200 bytes"},
            {"id": 5, "error": "KeyError: 'none'"},
            {"pong": 2},
        ],
        key=json.dumps,
    )
    assert stderr.splitlines() == [
        "llmbench judge helper: request line is not JSON; line skipped",
        "llmbench judge helper: request line is not a JSON object; line skipped",
        "llmbench judge helper: request has no id; line skipped",
    ]


def test_an_oversized_sample_is_unscored_alone_and_the_helper_serves_the_next() -> None:
    with JudgeServer(metrics=METRICS) as server:
        judge = judge_config(server.url, name="default")

        async def go() -> list[Any]:
            process = JudgeProcess({"default": judge}, {"default": None}, line_limit=4096)
            try:
                small = [{"role": "user", "content": "Sample s-1."}]
                big = [{"role": "user", "content": "Sample s-2. " + "x" * 5000}]
                first = await process.score("default", small, METRICS, None)
                second = await process.score("default", big, METRICS, None)
                third = await process.score("default", small, METRICS, None)
                return [first, second, third]
            finally:
                await process.aclose()

        first, second, third = run(go)
        assert len(server.requests) == 2  # the oversized sample never reached the judge
    assert (first.status, third.status) == ("scored", "scored")
    assert second.status == "unscored"
    assert second.reason == hp.oversized(second_size(judge), 4096)


def second_size(judge: Any) -> int:
    message = {
        "id": 2,
        "judge": "default",
        "messages": [{"role": "user", "content": "Sample s-2. " + "x" * 5000}],
        "metrics": list(METRICS),
        "temperature": None,
        "scale": None,
        "ahead": False,
        "join_only": False,
    }
    return len(hp._line(message))


@pytest.mark.parametrize(
    ("stray", "first"),
    [
        ("not json", "scored"),
        ("[1]", "scored"),
        ('{"id": 1, "result": {"status": "great"}}', "not a judge result"),
        ('{"id": 1, "result": 7}', "not a judge result"),
        ('{"id": 1, "result": {"status": "scored", "secret": 1}}', "not a judge result"),
    ],
    ids=["not-json", "not-an-object", "bad-status", "result-not-an-object", "unknown-field"],
)
def test_a_bad_reply_line_after_ready_unscores_at_most_its_call(
    monkeypatch: pytest.MonkeyPatch, stray: str, first: str
) -> None:
    # A child that serves, and before its first answer sends one bad line.
    child = (
        "import sys, json\n"
        "sys.stdin.readline()\n"
        "print(json.dumps({'ready': True}), flush=True)\n"
        "for n, line in enumerate(sys.stdin):\n"
        "    m = json.loads(line)\n"
        "    if 'id' in m:\n"
        f"        if m['id'] == 1: print({stray!r}, flush=True)\n"
        "        r = {'status': 'scored', 'scores': {'coverage': 1.0, 'accuracy': 1.0}}\n"
        "        print(json.dumps({'id': m['id'], 'result': r}), flush=True)\n"
    )
    monkeypatch.setattr(hp, "_child_command", lambda: [sys.executable, "-c", child])

    async def go() -> list[Any]:
        process = JudgeProcess({"default": judge_config("http://127.0.0.1:1")}, {"default": None})
        try:
            one = [{"role": "user", "content": "s-1"}]
            return [await process.score("default", one, METRICS, None) for _ in range(2)]
        finally:
            await process.aclose()

    one, two = run(go)
    assert (two.status, two.scores) == ("scored", {"coverage": 1.0, "accuracy": 1.0})
    if first == "scored":
        assert one.status == "scored"
    else:
        assert (one.status, one.reason) == (
            "unscored",
            "judge process sent a reply that is not a judge result",
        )


@pytest.mark.parametrize("value", ["x" * 100, True, 1.5, None, [1]])
def test_a_ping_or_cancel_that_is_not_a_whole_number_is_refused(value: object) -> None:
    for control in ("ping", "cancel"):
        line = json.dumps({control: value}).encode()
        assert hp.read_request(line) == (None, f"{control} is not a whole number")
    assert hp.read_request(b'{"ping": 7}') == {"ping": 7}


def test_a_stderr_line_of_any_length_is_kept_by_its_head_and_reading_goes_on() -> None:
    async def go() -> list[str]:
        process = JudgeProcess({"default": judge_config("http://127.0.0.1:1")}, {"default": None})
        reader = asyncio.StreamReader()
        reader.feed_data(b"Traceback: " + b"x" * 300_000 + b"\nlast words\n")
        reader.feed_eof()
        await process._read_stderr(reader)
        return list(process._stderr)

    head, last = run(go)
    assert (head, last) == ("Traceback: " + "x" * 53, "last words")
