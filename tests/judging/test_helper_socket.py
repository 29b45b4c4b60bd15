"""The run's helper serves xdist workers over a Unix socket: whatever a connection sends
(the fuzz corpus in tests/fuzz/helper_lines/, and arbitrary JSON), it answers each line
with one JSON object or ends that connection alone; the helper goes on serving the next."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.aio import run

from pytest_llmbench.judging.helper_process import LINE_LIMIT, Calls, serve_worker
from pytest_llmbench.judging.result import JudgeResult

CORPUS = Path(__file__).resolve().parent.parent / "fuzz" / "helper_lines"
ANSWERS = {"result", "error", "pong", "taken", "absent"}


async def score(message: Mapping[str, Any]) -> JudgeResult:
    if message["judge"] != "default":
        raise KeyError(message["judge"])  # as the helper's engines[name] would
    return JudgeResult(status="scored", scores={"coverage": 0.5}, attempts=1)


@contextlib.asynccontextmanager
async def helper_socket() -> AsyncIterator[str]:
    # A short path: a Unix socket's is limited to about 100 bytes, tmp_path's can be longer.
    folder = tempfile.mkdtemp(prefix="llmb-")
    path = str(Path(folder) / "judge.sock")
    calls = Calls(score)
    server = await asyncio.start_unix_server(lambda r, w: serve_worker(calls, LINE_LIMIT, r, w), path)
    try:
        yield path
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)


async def exchange(path: str, line: bytes) -> list[dict[str, Any]] | None:
    """Send `line` then a ping; the JSON objects answered besides the pong (the fake
    judge answers at once: whatever comes within a moment of it), or None when the
    connection ended before the pong."""
    reader, writer = await asyncio.open_unix_connection(path, limit=2**20)
    try:
        writer.write(line.rstrip(b"\n") + b"\n" + b'{"ping": -1}\n')
        await writer.drain()
        answers: list[dict[str, Any]] = []
        ponged = False
        while True:
            try:
                raw = await asyncio.wait_for(reader.readline(), 0.1 if ponged else 10)
            except asyncio.TimeoutError:
                return answers if ponged else None
            if not raw:
                return answers if ponged else None
            answer = json.loads(raw)
            assert isinstance(answer, dict) and ANSWERS & set(answer), answer
            if answer.get("pong") == -1:
                ponged = True
            else:
                answers.append(answer)
    finally:
        writer.close()


async def survives(line: bytes) -> list[dict[str, Any]] | None:
    async with helper_socket() as path:
        answered = await exchange(path, line)
        # The helper still serves a well-behaved worker.
        assert await exchange(path, b'{"ping": 1}') == [{"pong": 1}]
        return answered


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.jsonl")))
def test_every_corpus_line_is_answered_or_ends_only_its_connection(name: str) -> None:
    line = (CORPUS / name).read_bytes()
    answered = run(lambda: survives(line), timeout_s=30)
    if name == "good-request.jsonl":
        assert answered is not None
        assert [a["result"]["status"] for a in answered] == ["scored"]
        assert (answered[0]["started"], answered[0]["claimed"]) == (True, True)
    if name in ("unknown-judge.jsonl", "request-without-fields.jsonl"):
        assert answered is not None and [set(a) for a in answered] == [{"id", "error"}]
    if name == "join-only-nothing.jsonl":
        assert answered == [{"id": 6, "absent": True}]
    if name == "good-repeat.jsonl":
        assert answered is not None
        assert [a["result"]["status"] for a in answered] == ["scored"]
    if name.startswith("repeat-"):
        assert answered is not None
        assert [a.get("error") for a in answered] == ["request repeat is not a whole number from 0"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
fields = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "judge": st.sampled_from(["default", "other"]) | json_values,
        "messages": json_values,
        "metrics": json_values,
        "temperature": json_values,
        "scale": json_values,
        "ahead": json_values,
        "join_only": json_values,
        "repeat": st.integers(-2, 3) | json_values,
        "ping": json_values,
        "cancel": json_values,
    },
)


@settings(max_examples=40, deadline=None)
@given(message=fields | json_values)
def test_any_json_line_is_answered_or_ends_only_its_connection(message: Any) -> None:
    line = json.dumps(message).encode()
    run(lambda: survives(line), timeout_s=30)
