"""Live judge calls from a helper process: the same results as the judge in process, over
real HTTP to a JudgeServer on 127.0.0.1; a clear reason when the process dies; no orphan
when pytest is killed; and test code that patches httpx does not reach the judge."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from support.aio import run
from support.judge_server import JudgeServer
from support.judges import judge_config
from support.project import Project, config_yaml, live_judge_yaml

from pytest_llmbench.benchmark.judge_config import JudgeConfig, Price
from pytest_llmbench.judging.chat_completions import OpenAIJudge
from pytest_llmbench.judging.helper_process import (
    JudgeProcess,
    _forget_keys,
    judge_from_dict,
    judge_to_dict,
)
from pytest_llmbench.judging.judge_protocol import JudgeRequest
from pytest_llmbench.judging.result import JudgeResult

METRICS = ("coverage", "accuracy")


def messages(marker: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": 'Reply with {"coverage": x, "accuracy": y}.'},
        {"role": "user", "content": f"Sample {marker}: the summary to judge."},
    ]


def through_process(
    judges: Sequence[JudgeConfig], calls: Sequence[tuple[str, str]], key: str | None = None
) -> list[JudgeResult]:
    """Score (judge name, marker) pairs through one helper process, all at once."""

    async def go() -> list[JudgeResult]:
        process = JudgeProcess({j.name: j for j in judges}, {j.name: key for j in judges})
        try:
            return list(
                await asyncio.gather(
                    *(process.score(name, messages(m), METRICS, None) for name, m in calls)
                )
            )
        finally:
            await process.aclose()

    return run(go)


def in_process(judge: JudgeConfig, markers: Sequence[str]) -> list[JudgeResult]:
    async def go() -> list[JudgeResult]:
        async with OpenAIJudge(judge, api_key="k-1") as engine:
            return list(
                await asyncio.gather(
                    *(engine.score(JudgeRequest(messages(m), METRICS)) for m in markers)
                )
            )

    return run(go)


def comparable(result: JudgeResult) -> dict[str, Any]:
    fields = dict(vars(result))
    fields.pop("latency_s")  # wall time differs from call to call
    return fields


def test_a_judge_config_survives_the_trip_to_the_helper_process() -> None:
    judge = judge_config(
        "http://127.0.0.1:1",
        model="judge",
        api_key_env="TEST_KEY",
        concurrency=4,
        attempts=4,
        price=Price(input_per_mtok=1.0, output_per_mtok=2.0),
    )
    assert judge_from_dict(judge_to_dict(judge)) == judge
    bare = JudgeConfig(name="x", kind="openai")
    assert judge_from_dict(judge_to_dict(bare)) == bare


def test_results_match_the_judge_in_process_call_for_call() -> None:
    markers = [f"s-{i:02d}" for i in range(12)]
    script = [("status", 503), ("garbage", "I think it is fine."), ("garbage", "no")]
    with JudgeServer(latency_s=0.02) as srv:
        srv.script_for("s-03", script)
        here = in_process(judge_config(srv.url), markers)
        srv.script_for("s-03", script)
        there = through_process([judge_config(srv.url)], [("local", m) for m in markers], "k-1")
    assert [comparable(r) for r in there] == [comparable(r) for r in here]
    assert [r.status for r in there].count("unscored") == 1  # s-03's second garbage reply
    assert there[0].prompt_tokens > 0 and there[0].completion_tokens > 0
    assert all(r.latency_s > 0 for r in there)


def test_calls_overlap_and_the_api_key_reaches_the_server() -> None:
    markers = [f"s-{i:02d}" for i in range(16)]
    with JudgeServer(latency_s=0.2) as srv:
        results = through_process(
            [judge_config(srv.url, concurrency=8)], [("local", m) for m in markers], "sk-9"
        )
        assert all(r.status == "scored" for r in results)
        assert 1 < srv.peak_in_flight <= 8  # overlapping, as the server saw them
        assert {h["authorization"] for h in srv.headers} == {"Bearer sk-9"}


def test_each_judge_keeps_its_own_concurrency_in_one_helper_process() -> None:
    with JudgeServer(latency_s=0.1) as one, JudgeServer(latency_s=0.1) as two:
        judges = [
            judge_config(one.url, concurrency=2, name="one"),
            judge_config(two.url, concurrency=5, name="two"),
        ]
        calls = [("one", f"a-{i}") for i in range(8)] + [("two", f"b-{i}") for i in range(10)]
        results = through_process(judges, calls)
        assert all(r.status == "scored" for r in results)
        assert (one.peak_in_flight, len(one.requests)) == (2, 8)
        assert (two.peak_in_flight, len(two.requests)) == (5, 10)


def test_calls_in_flight_when_the_helper_process_dies_end_unscored_with_the_reason() -> None:
    async def go() -> tuple[list[JudgeResult], JudgeResult]:
        with JudgeServer(latency_s=5) as srv:
            process = JudgeProcess({"local": judge_config(srv.url)}, {"local": None})
            try:
                calls = [
                    asyncio.create_task(process.score("local", messages(f"s-{i}"), METRICS, None))
                    for i in range(3)
                ]
                while srv.in_flight < 3:
                    await asyncio.sleep(0.02)
                assert process.pid is not None
                os.kill(process.pid, signal.SIGKILL)
                results = list(await asyncio.gather(*calls))
                later = await process.score("local", messages("s-9"), METRICS, None)
                return results, later
            finally:
                await process.aclose()

    results, later = run(go)
    assert [r.status for r in results] == ["unscored"] * 3
    assert {r.reason for r in results} == {"judge process exited with code -9"}
    assert later.status == "unscored" and later.reason == "judge process exited with code -9"


def test_a_helper_process_that_cannot_start_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytest_llmbench.judging.helper_process as jp

    monkeypatch.setattr(jp, "_child_command", lambda: ["/nonexistent/python-for-llmbench"])
    results = through_process([judge_config("http://127.0.0.1:1")], [("local", "s-1")])
    assert results[0].status == "unscored"
    assert results[0].reason is not None
    assert results[0].reason.startswith("could not start the judge process:")


def test_what_the_helper_process_prints_on_stderr_comes_with_its_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pytest_llmbench.judging.helper_process as jp

    crash = "import sys; sys.stdin.readline(); sys.exit('judge child: cannot import httpx')"
    monkeypatch.setattr(jp, "_child_command", lambda: [sys.executable, "-c", crash])
    results = through_process([judge_config("http://127.0.0.1:1")], [("local", "s-1")])
    assert results[0].reason == "judge process exited with code 1: judge child: cannot import httpx"


def test_a_key_the_helper_process_prints_on_stderr_is_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pytest_llmbench.judging.helper_process as jp

    crash = "import sys; sys.stdin.readline(); sys.exit('bad key sk-live-0123456789')"
    monkeypatch.setattr(jp, "_child_command", lambda: [sys.executable, "-c", crash])
    judge = judge_config("http://127.0.0.1:1")
    results = through_process([judge], [("local", "s-1")], key="sk-live-0123456789")
    assert results[0].reason == "judge process exited with code 1: bad key ***"


def test_closing_while_the_helper_is_still_starting_returns_promptly() -> None:
    from pytest_llmbench.judging.background_loop import BackgroundLoop

    # From Python 3.11, cancelling asyncio's pipe set-up mid-spawn could hang close().
    for delay in (0.0, 0.001, 0.05):
        loop = BackgroundLoop()
        process = JudgeProcess({"local": judge_config("http://127.0.0.1:1")}, {"local": None})
        loop.on_close(process.aclose)
        loop.submit(process.start())
        time.sleep(delay)
        closer = threading.Thread(target=loop.close, daemon=True)
        closer.start()
        closer.join(timeout=20)
        assert not closer.is_alive(), f"close() hung when called {delay} s into the spawn"


def test_a_call_still_waiting_when_the_helper_is_closed_gets_an_answer() -> None:
    async def go() -> JudgeResult:
        with JudgeServer(latency_s=30) as srv:
            process = JudgeProcess({"local": judge_config(srv.url)}, {"local": None})
            call = asyncio.create_task(process.score("local", messages("s-1"), METRICS, None))
            while srv.in_flight == 0:
                await asyncio.sleep(0.02)
            await process.aclose()
            return await call

    result = run(go)
    assert (result.status, result.reason) == ("unscored", "judge process closed")


def test_a_stray_line_on_the_helpers_stdout_ends_calls_unscored_not_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pytest_llmbench.judging.helper_process as jp

    # A .pth or sitecustomize that prints: valid JSON, but not a reply.
    child = "import sys; sys.stdin.readline(); print(1, flush=True); sys.stdin.read()"
    monkeypatch.setattr(jp, "_child_command", lambda: [sys.executable, "-c", child])
    results = through_process([judge_config("http://127.0.0.1:1")], [("local", "s-1")])
    assert results[0].status == "unscored"
    assert results[0].reason == "judge process sent an unreadable reply (ValueError)"


# -- whole runs ------------------------------------------------------------------------------

PATCHING_TEST = """\
import httpx
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge, monkeypatch):
    # The application under test is tested with its HTTP mocked out, as tests do.
    def refuse(*args, **kwargs):
        raise RuntimeError("this test forbids HTTP")

    monkeypatch.setattr(httpx.AsyncClient, "send", refuse)
    judge(sample.output)
"""


@pytest.fixture
def live(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[JudgeServer]:
    with JudgeServer(latency_s=0.02, metrics=METRICS) as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        project.config(config_yaml(judge_block=live_judge_yaml()))
        yield srv


def test_a_test_that_patches_httpx_does_not_reach_the_judge(
    project: Project, live: JudgeServer
) -> None:
    project.write("benchmarks/test_digest.py", PATCHING_TEST)
    result = project.run("benchmarks", "--llmbench-judge=live")
    result.assert_outcomes(passed=4)
    assert len(live.requests) == 4
    # The same tests with the judge in the pytest process: the patch catches its calls.
    in_process = project.run(
        "benchmarks",
        "--llmbench-judge=live",
        "--llmbench-no-cache",
        "-o",
        "llmbench_judge_process=false",
    )
    in_process.assert_outcomes(failed=4)
    in_process.stdout.fnmatch_lines(["FAILED *RuntimeError: this test*"])
    assert len(live.requests) == 4


def test_the_judge_in_process_still_runs_when_asked_for(
    project: Project, live: JudgeServer
) -> None:
    result = project.run(
        "benchmarks", "--llmbench-judge=live", "-o", "llmbench_judge_process=false"
    )
    result.assert_outcomes(passed=4)
    assert len(live.requests) == 4


HELPER_WATCH = """\
import os
from pathlib import Path


def helpers():
    found = 0
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        found += parent == os.getpid() and b"helper_process" in command
    return found


def pytest_runtest_teardown(item):
    seen = Path(item.config.rootpath, "helpers-seen.txt")
    before = int(seen.read_text()) if seen.exists() else 0
    seen.write_text(str(max(before, helpers())))
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_warm_rerun_starts_no_helper_process(project: Project, live: JudgeServer) -> None:
    project.write("benchmarks/conftest.py", HELPER_WATCH)
    seen = project.root / "helpers-seen.txt"
    project.run("benchmarks", "--llmbench-judge=live").assert_outcomes(passed=4)
    assert (seen.read_text(), len(live.requests)) == ("1", 4)
    seen.unlink()
    project.run("benchmarks", "--llmbench-judge=live").assert_outcomes(passed=4)
    assert (seen.read_text(), len(live.requests)) == ("0", 4)  # all cached, no process


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_killed_pytest_leaves_no_helper_process_behind(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with JudgeServer(latency_s=30, metrics=METRICS) as srv:  # calls that never finish in time
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        project.config(config_yaml(judge_block=live_judge_yaml(timeout_s=60)))
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "benchmarks"]
        pytest_run = subprocess.Popen(
            command, cwd=project.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 30
            while srv.in_flight == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert srv.in_flight > 0, "the run never reached the judge"
            helpers = _children(pytest_run.pid)
            assert len(helpers) == 1
            pytest_run.kill()
            pytest_run.wait(timeout=10)
            deadline = time.monotonic() + 15
            while _alive(helpers[0]) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(helpers[0]), "the helper process outlived a killed pytest"
        finally:
            if pytest_run.poll() is None:
                pytest_run.kill()


def test_the_judges_words_raw_scores_and_scale_travel_through_the_helper_process() -> None:
    answer = '<think>Draft: {"coverage": 1, "accuracy": 1}</think>{"coverage": 4, "accuracy": 2}'
    script = [("garbage", answer), ("message", {"content": '{"coverage": 5, "accuracy": 1}',
              "reasoning_content": "Short and exact."})]  # fmt: skip

    async def go(process: JudgeProcess) -> list[JudgeResult]:
        return [
            await process.score("local", messages(m), METRICS, None, (1.0, 5.0))
            for m in ("s-01", "s-02")
        ]

    async def there(url: str) -> list[JudgeResult]:
        process = JudgeProcess({"local": judge_config(url)}, {"local": "k-1"})
        try:
            return await go(process)
        finally:
            await process.aclose()

    async def here(url: str) -> list[JudgeResult]:
        async with OpenAIJudge(judge_config(url), api_key="k-1") as engine:
            return [
                await engine.score(JudgeRequest(messages(m), METRICS, scale=(1.0, 5.0)))
                for m in ("s-01", "s-02")
            ]

    with JudgeServer() as srv:
        srv.set_script(script)
        remote = run(lambda: there(srv.url))
        srv.set_script(script)
        local = run(lambda: here(srv.url))
    assert [comparable(r) for r in remote] == [comparable(r) for r in local]
    first, second = remote
    assert first.scores == {"coverage": 0.75, "accuracy": 0.25}
    assert first.raw_scores == {"coverage": 4.0, "accuracy": 2.0}
    assert first.reasoning == 'Draft: {"coverage": 1, "accuracy": 1}'
    assert first.raw_reply == answer
    assert second.scores == {"coverage": 1.0, "accuracy": 0.0}
    assert second.reasoning == "Short and exact."
    schema = srv.requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["accuracy"] == {"type": "number", "minimum": 1.0, "maximum": 5.0}


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)")
def test_the_helper_process_has_no_key_variable_in_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_KEY", "sk-helper-env-Zq8Xk3Vt7Lm")

    async def go() -> tuple[JudgeResult, bytes]:
        judge = judge_config(srv.url, api_key_env="TEST_KEY")
        process = JudgeProcess({"local": judge}, {"local": "sk-helper-env-Zq8Xk3Vt7Lm"})
        try:
            result = await process.score("local", messages("s-01"), METRICS, None)
            assert process.pid is not None
            return result, Path(f"/proc/{process.pid}/environ").read_bytes()
        finally:
            await process.aclose()

    with JudgeServer() as srv:
        result, environ = run(go)
        assert result.status == "scored"
        assert srv.headers[0]["authorization"] == "Bearer sk-helper-env-Zq8Xk3Vt7Lm"
    names = {entry.partition(b"=")[0] for entry in environ.split(b"\0")}
    assert b"PATH" in names  # the rest of the environment is inherited
    assert b"TEST_KEY" not in names
    assert b"sk-helper-env" not in environ


def test_the_helper_removes_the_key_variables_it_was_started_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_KEY", "sk-1")
    monkeypatch.setenv("OTHER", "kept")
    _forget_keys([{"api_key_env": "TEST_KEY"}, {"api_key_env": None}, {}])
    assert "TEST_KEY" not in os.environ
    assert os.environ["OTHER"] == "kept"
