"""Every wait on the helper process ends: a helper that stops answering (a wedged loop,
SIGSTOP) is killed and its calls are unscored with the reason; a call a live helper never
answers is given up; a reply line with text UTF-8 cannot encode still goes out.

Every test runs under a guard (asyncio.wait_for) far above its bound, so that a
regression fails instead of hanging the suite; no assertion is on wall-clock time.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.deadlines import METRICS, guarded, messages, short_judge
from support.judge_server import JudgeServer

from pytest_llmbench.judging import helper_process as hp
from pytest_llmbench.judging.helper_process import JudgeProcess
from pytest_llmbench.judging.result import JudgeResult

LINUX_PROC = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")

# -- the helper process: liveness -----------------------------------------------------------


def fake_child(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    monkeypatch.setattr(hp, "_child_command", lambda: [sys.executable, "-c", code])


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


KILLED = re.compile(r"judge helper process stopped answering; killed after \d+ s")


def test_a_helper_that_says_nothing_is_killed_and_its_calls_end_unscored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Says it is ready, then reads what it is sent and never answers, not even a ping: a
    # wedged loop.
    fake_child(
        monkeypatch,
        "import sys\nprint('{\"ready\": true}', flush=True)\nfor line in sys.stdin: pass",
    )

    async def go() -> tuple[list[JudgeResult], JudgeResult, int | None]:
        process = JudgeProcess(
            {"local": short_judge("http://127.0.0.1:1")},
            {"local": None},
            ping_every_s=0.1,
            stall_s=1.0,
        )
        try:
            results = await asyncio.gather(
                *(process.score("local", messages(f"s-{i}"), METRICS, None) for i in range(3))
            )
            later = await process.score("local", messages("s-9"), METRICS, None)
            return list(results), later, process.pid
        finally:
            await process.aclose()

    results, later, pid = guarded(go)
    for result in [*results, later]:
        assert result.status == "unscored"
        assert result.reason is not None and KILLED.fullmatch(result.reason), result.reason
    assert pid is not None and not alive(pid)


@LINUX_PROC
def test_a_helper_stopped_by_sigstop_is_killed_and_said_so() -> None:
    async def go() -> tuple[JudgeResult, int | None]:
        with JudgeServer(latency_s=30) as srv:
            process = JudgeProcess(
                {"local": short_judge(srv.url, timeout_s=60)},
                {"local": None},
                ping_every_s=0.1,
                stopped_s=0.5,
            )
            try:
                call = asyncio.create_task(process.score("local", messages("s-1"), METRICS, None))
                while srv.in_flight == 0:
                    await asyncio.sleep(0.02)
                assert process.pid is not None
                os.kill(process.pid, signal.SIGSTOP)
                return await call, process.pid
            finally:
                await process.aclose()

    result, pid = guarded(go)
    assert result.status == "unscored"
    assert result.reason is not None
    assert re.fullmatch(
        r"judge helper process stopped answering \(stopped by a signal\); killed after \d+ s",
        result.reason,
    ), result.reason
    assert pid is not None and not alive(pid)


PINGS_ONLY = """\
import json, sys
sys.stdin.readline()
for line in sys.stdin:
    message = json.loads(line)
    if "ping" in message:
        print(json.dumps({"pong": message["ping"]}), flush=True)
    elif "cancel" in message:
        print(json.dumps({"pong": 0, "cancelled": message["cancel"]}), flush=True)
        with open(sys.argv[1], "a") as seen:
            seen.write(str(message["cancel"]) + "\\n")
"""


def test_a_call_a_live_helper_never_answers_is_given_up_and_cancelled_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cancelled = tmp_path / "cancelled.txt"
    monkeypatch.setattr(
        hp, "_child_command", lambda: [sys.executable, "-c", PINGS_ONLY, str(cancelled)]
    )
    judge = short_judge("http://127.0.0.1:1", timeout_s=0.1, attempts=1)

    async def go() -> tuple[JudgeResult, bool]:
        process = JudgeProcess(
            {"local": judge}, {"local": None}, ping_every_s=0.1, call_margin_s=0.5
        )
        try:
            result = await process.score("local", messages("s-1"), METRICS, None)
            while not cancelled.exists():
                await asyncio.sleep(0.05)
            assert process.pid is not None
            return result, alive(process.pid)
        finally:
            await process.aclose()

    result, still_alive = guarded(go)
    assert result.status == "unscored"
    assert result.reason is not None
    assert re.fullmatch(
        r"judge helper process gave no answer to this call in \d+ s; given up", result.reason
    ), result.reason
    assert cancelled.read_text() == "1\n"
    assert still_alive  # it answers pings: alive, not killed


def test_a_busy_helper_that_answers_pings_is_not_killed() -> None:
    async def go() -> JudgeResult:
        with JudgeServer(latency_s=2) as srv:
            process = JudgeProcess(
                {"local": short_judge(srv.url, timeout_s=10)},
                {"local": None},
                ping_every_s=0.1,
                stall_s=0.5,  # well under the server's latency: only pongs keep it alive
            )
            try:
                return await process.score("local", messages("s-1"), METRICS, None)
            finally:
                await process.aclose()

    assert guarded(go).status == "scored"


def test_the_helper_process_cuts_a_dripping_reply_too() -> None:
    async def go() -> JudgeResult:
        with JudgeServer(script=[("drip", 0.25)] * 2) as srv:
            process = JudgeProcess({"local": short_judge(srv.url)}, {"local": None})
            try:
                return await process.score("local", messages("s-1"), METRICS, None)
            finally:
                await process.aclose()
                assert len(srv.requests) == 2

    result = guarded(go)
    assert result.reason == "judge unavailable after 2 attempts: timed out after 1 s"


def test_a_helper_slow_to_start_has_startup_s_not_stall_s_to_say_it_is_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    python, flag, code = hp._child_command()
    slow = [python, flag, "import time; time.sleep(1.5); " + code]
    monkeypatch.setattr(hp, "_child_command", lambda: slow)

    async def go() -> JudgeResult:
        with JudgeServer() as srv:
            process = JudgeProcess(
                {"local": short_judge(srv.url)},
                {"local": None},
                ping_every_s=0.1,
                stall_s=0.5,  # shorter than its start: only startup_s lets it live
                startup_s=30,
            )
            try:
                return await process.score("local", messages("s-1"), METRICS, None)
            finally:
                await process.aclose()

    assert guarded(go).status == "scored"


# -- the helper process: replies it cannot encode -------------------------------------------


def test_a_line_with_a_lone_surrogate_is_still_written_as_utf8() -> None:
    line = hp._line({"reason": "bad \ud800 text"})
    assert json.loads(line.decode("utf-8")) == {"reason": "bad ? text"}


def test_a_server_message_with_a_lone_surrogate_comes_back_from_the_helper() -> None:
    async def go() -> JudgeResult:
        # JSON's "\ud800" escape decodes to a lone surrogate, which UTF-8 cannot encode.
        with JudgeServer(script=[("error", 409, "bad \ud800 input")]) as srv:
            process = JudgeProcess({"local": short_judge(srv.url)}, {"local": None})
            try:
                return await process.score("local", messages("s-1"), METRICS, None)
            finally:
                await process.aclose()

    result = guarded(go)
    assert result.status == "unscored"
    assert result.reason == "judge rejected the request: HTTP 409 Conflict: bad ? input"


def test_the_helper_process_imports_no_pytest() -> None:
    # What the child loads to serve: its module and the chat-completions judge.
    code = (
        "import sys, pytest_llmbench.judging.helper_process, "
        "pytest_llmbench.judging.chat_completions; "
        "print(sorted(m for m in ('pytest', '_pytest') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
