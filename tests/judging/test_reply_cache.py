"""The judge reply cache: what its key covers, the SQLite store shared by processes, and
whole runs against a live judge (the scripted JudgeServer) that must not pay twice."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Imported once out here so that pytester's in-process runs do not re-import it each time
# (see test_live_judge.py).
import hypothesis.internal.observability  # noqa: F401
import pytest
from support.judge_server import JudgeServer
from support.judges import judge_config
from support.project import Project, config_yaml, live_judge_yaml, make_samples, marker

from pytest_llmbench.benchmark.judge_config import Price, RetryPolicy
from pytest_llmbench.judging.reply_cache import FILENAME, JudgeCache, cache_key

# -- cache_key ----------------------------------------------------------------------------

# The design example's judge (see test_config.py): every field the key ignores differs
# from the value the ignore test changes it to.
JUDGE = judge_config(
    "http://127.0.0.1:8000",
    name="default",
    base_url_raw="${LLM_URL}",
    model="gpt-4o",
    api_key_env="OPENAI_API_KEY",
    concurrency=16,
    timeout_s=60.0,
    retries=RetryPolicy(attempts=5, max_wait_s=60.0, base_s=0.5),
    price=Price(2.5, 10.0),
)
MESSAGES = [
    {"role": "system", "content": "You are a strict evaluator."},
    {"role": "user", "content": "Posts: a new metro station.\n\nSummary: a station opened."},
]
METRICS = ("coverage", "accuracy")
REF = "digest_judge@v1"
SHA = "a" * 64


def key(**changes: Any) -> str:
    """The key of the reference request, with some judge fields or arguments changed."""
    arguments = {
        name: changes.pop(name)
        for name in ("messages", "metrics", "prompt_ref", "prompt_sha256")
        if name in changes
    }
    judge = dataclasses.replace(JUDGE, **changes)
    return cache_key(
        judge,
        arguments.get("messages", MESSAGES),
        arguments.get("metrics", METRICS),
        arguments.get("prompt_ref", REF),
        arguments.get("prompt_sha256", SHA),
    )


def test_cache_key_is_a_stable_sha256_hex_digest() -> None:
    first = key()
    assert first == key()
    assert len(first) == 64
    assert int(first, 16) >= 0


@pytest.mark.parametrize(
    "changes",
    [
        {"base_url": "http://127.0.0.1:8001"},
        {"base_url": "https://api.openai.com/v1"},
        {"model": "gpt-4o-mini"},
        {"temperature": 0.7},
        {"max_tokens": 512},
        {"structured_output": "json_object"},
        {"structured_output": "none"},
        {"messages": [MESSAGES[0], {"role": "user", "content": MESSAGES[1]["content"] + "!"}]},
        {"messages": [{"role": "system", "content": "Be lenient."}, MESSAGES[1]]},
        {"messages": MESSAGES[1:]},
        {"metrics": ("coverage",)},
        {"metrics": ("coverage", "accuracy", "coherence")},
        {"prompt_ref": "digest_judge@v2"},
        {"prompt_sha256": "b" * 64},
    ],
    ids=lambda changes: "-".join(f"{k}={str(v)[:20]}" for k, v in changes.items()),
)
def test_cache_key_changes_with_everything_that_can_change_the_reply(
    changes: dict[str, Any],
) -> None:
    assert key(**changes) != key()


@pytest.mark.parametrize(
    "changes",
    [
        {"api_key_env": "OTHER_KEY"},
        {"api_key_env": None},
        {"name": "strict"},
        {"base_url_raw": "${OTHER_URL}"},
        {"concurrency": 1},
        {"timeout_s": 5.0},
        {"retries": RetryPolicy(attempts=1, max_wait_s=0.0, base_s=0.1)},
        {"price": None},
        {"price": Price(0.15, 0.60)},
        {"base_url": "http://127.0.0.1:8000/v1"},
        {"base_url": "http://127.0.0.1:8000/"},
        {"base_url": "http://127.0.0.1:8000/v1/"},
        {"metrics": ("accuracy", "coverage")},
    ],
    ids=lambda changes: "-".join(f"{k}={str(v)[:20]}" for k, v in changes.items()),
)
def test_cache_key_ignores_what_cannot_change_the_reply(changes: dict[str, Any]) -> None:
    assert key(**changes) == key()


def test_cache_key_does_not_contain_the_messages_or_url_in_clear() -> None:
    # A digest: a cache file copied around does not leak prompts or endpoints by its keys.
    assert "metro" not in key()
    assert "127.0.0.1" not in key()


# -- JudgeCache ---------------------------------------------------------------------------


def test_judge_cache_round_trips_a_reply_and_counts_hits_misses_and_writes(
    tmp_path: Path,
) -> None:
    cache = JudgeCache(tmp_path / "cache")
    try:
        assert cache.path == tmp_path / "cache" / FILENAME
        assert len(cache) == 0
        assert cache.get(key()) is None
        cache.put(key(), {"scores": {"coverage": 0.9, "accuracy": 0.75}, "note": "сводка"})
        assert cache.get(key()) == {"scores": {"coverage": 0.9, "accuracy": 0.75}, "note": "сводка"}
        assert cache.get(key(model="other")) is None
        cache.put(key(), {"scores": {"coverage": 0.5, "accuracy": 0.5}})  # replaced, not added
        assert cache.get(key()) == {"scores": {"coverage": 0.5, "accuracy": 0.5}}
        assert len(cache) == 1
        assert (cache.stats.hits, cache.stats.misses, cache.stats.writes) == (2, 2, 2)
    finally:
        cache.close()


def test_judge_cache_persists_across_instances_in_wal_mode(tmp_path: Path) -> None:
    first = JudgeCache(tmp_path)
    first.put("k1", {"scores": {"coverage": 1.0}})
    first.close()
    second = JudgeCache(tmp_path)
    try:
        assert second.get("k1") == {"scores": {"coverage": 1.0}}
        assert len(second) == 1
    finally:
        second.close()
    with sqlite3.connect(tmp_path / FILENAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from pytest_llmbench.judging.reply_cache import JudgeCache

    directory, tag, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    sys.stdin.readline()  # start together
    cache = JudgeCache(directory)
    for i in range(count):
        cache.put(f"{tag}-{i}", {"scores": {"coverage": i / count}, "by": tag})
        cache.put("shared", {"scores": {"coverage": 0.5}, "by": tag})
        assert cache.get(f"{tag}-{i}")["by"] == tag
    cache.close()
    print("done", tag)
    """
)


def test_two_processes_write_one_cache_file_concurrently_without_errors(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    directory = tmp_path / "shared-cache"
    count = 150
    writers = [
        subprocess.Popen(
            [sys.executable, str(script), str(directory), tag, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b", "c")
    ]
    outputs = [w.communicate("go\n", timeout=120) for w in writers]
    for writer, (_, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
        assert err == ""
    assert sorted(out.strip() for out, _ in outputs) == ["done a", "done b", "done c"]
    cache = JudgeCache(directory)
    try:
        assert len(cache) == 3 * count + 1
        for tag in ("a", "b", "c"):
            for i in range(count):
                assert cache.get(f"{tag}-{i}") == {"scores": {"coverage": i / count}, "by": tag}
        assert cache.get("shared")["by"] in {"a", "b", "c"}  # type: ignore[index]
    finally:
        cache.close()


# -- whole runs against a live judge -----------------------------------------------------

LIVE_JUDGE = live_judge_yaml(retries="{attempts: 2, max_wait_s: 2, base_s: 0.01}")
CACHE_DB = Path(".llmbench") / "cache" / FILENAME


def per_sample(srv: JudgeServer, count: int) -> list[int]:
    return [srv.count_for(marker(n)) for n in range(1, count + 1)]


def record_of(project: Project) -> dict[str, Any]:
    """The record of the last run (`run` passes --llmbench-json=result.json)."""
    data: dict[str, Any] = json.loads((project.root / "result.json").read_text("utf-8"))
    return data


@pytest.fixture
def server(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[JudgeServer]:
    with JudgeServer(latency_s=0.02) as srv:
        monkeypatch.setenv("TEST_LLM_URL", srv.url)
        project.config(config_yaml(judge_block=LIVE_JUDGE))
        yield srv


def run(project: Project, *args: str, **kwargs: Any) -> pytest.RunResult:
    return project.run("--llmbench-json=result.json", *args, **kwargs)


def test_warm_run_makes_no_request_and_says_every_reply_was_cached(
    project: Project, server: JudgeServer
) -> None:
    cold = run(project)
    assert cold.ret == 0
    cold.assert_outcomes(passed=4)
    cold.stdout.fnmatch_lines(["  cache .llmbench/cache (0 replies stored)"])
    cold.stdout.fnmatch_lines(["  judge calls 4 · cached 0 · retries 0 · tokens * in / 80 out"])
    assert len(server.requests) == 4
    assert (project.root / CACHE_DB).is_file()
    cold_record = record_of(project)

    server.requests.clear()
    warm = run(project)
    assert warm.ret == 0
    warm.assert_outcomes(passed=4)
    assert server.requests == []
    warm.stdout.fnmatch_lines(
        [
            "  cache .llmbench/cache (4 replies stored)",
            "*= llmbench =*",
            "digest: PASS  (4 samples: 4 scored, 0 unscored, 0 errors · judge live *",
            "  judge calls 0 · cached 4 · retries 0 · tokens 0 in / 0 out",
            "llmbench verdict: PASS",
        ]
    )
    warm_record = record_of(project)
    scenario = warm_record["scenarios"]["digest"]
    assert scenario["usage"]["cached"] == 4
    assert scenario["usage"]["judge_calls"] == 0
    assert scenario["usage"]["http_requests"] == 0
    assert [s["judge"]["cached"] for s in scenario["samples"]] == [True] * 4
    assert [s["judge"]["attempts"] for s in scenario["samples"]] == [0] * 4
    # The cached replies are the same scores: the warm run's verdict is the cold run's.
    assert [s["scores"] for s in scenario["samples"]] == [
        s["scores"] for s in cold_record["scenarios"]["digest"]["samples"]
    ]
    assert scenario["metrics"] == cold_record["scenarios"]["digest"]["metrics"]


def test_xdist_workers_share_one_cache(project: Project, server: JudgeServer) -> None:
    project.dataset(make_samples([(0.9, 0.9)] * 6))
    cold = run(project, "-n", "2")
    assert cold.ret == 0
    cold.assert_outcomes(passed=6)
    assert per_sample(server, 6) == [1] * 6
    assert len(list((project.root / ".llmbench").glob("cache/*.sqlite3"))) == 1

    server.requests.clear()
    warm = run(project, "-n", "2")
    assert warm.ret == 0
    warm.assert_outcomes(passed=6)
    assert server.requests == []
    warm.stdout.fnmatch_lines(["  judge calls 0 · cached 6 · retries 0 · tokens 0 in / 0 out"])
    assert record_of(project)["scenarios"]["digest"]["usage"]["cached"] == 6


def test_failures_and_unusable_replies_are_not_cached(
    project: Project, server: JudgeServer
) -> None:
    server.script_for(marker(1), [("status", 503), ("status", 503)])  # attempts: 2, both fail
    server.script_for(marker(2), [("garbage", "Looks fine."), ("garbage", "Still fine.")])
    first = run(project)
    assert first.ret == 1
    first.assert_outcomes(passed=2, failed=2)
    assert per_sample(server, 4) == [2, 2, 1, 1]
    samples = record_of(project)["scenarios"]["digest"]["samples"]
    assert [s["status"] for s in samples] == ["unscored", "unscored", "scored", "scored"]
    assert samples[0]["reason"].startswith("judge unavailable after 2 attempts: HTTP 503")
    assert samples[1]["reason"].startswith("unusable judge reply")

    second = run(project)  # the server answers well now
    assert second.ret == 0
    second.assert_outcomes(passed=4)
    second.stdout.fnmatch_lines(["  cache .llmbench/cache (2 replies stored)"])
    # Only the two samples without a usable reply are asked again, once each.
    assert per_sample(server, 4) == [3, 3, 1, 1]
    second_usage = record_of(project)["scenarios"]["digest"]["usage"]
    assert (second_usage["judge_calls"], second_usage["cached"]) == (2, 2)


def test_no_cache_option_always_asks_and_stores_nothing(
    project: Project, server: JudgeServer
) -> None:
    assert run(project).ret == 0  # a warm cache exists ...
    assert len(server.requests) == 4
    for _ in range(2):
        result = run(project, "--llmbench-no-cache")  # ... and is neither read nor written
        assert result.ret == 0
        result.stdout.fnmatch_lines(["  cache off"])
        result.stdout.fnmatch_lines(["  judge calls 4 · cached 0 · *"])
    assert per_sample(server, 4) == [3, 3, 3, 3]
    with sqlite3.connect(project.root / CACHE_DB) as db:
        assert db.execute("SELECT COUNT(*) FROM replies").fetchone() == (4,)


def test_no_cache_option_creates_no_cache_directory(project: Project, server: JudgeServer) -> None:
    assert run(project, "--llmbench-no-cache").ret == 0
    assert len(server.requests) == 4
    assert not (project.root / ".llmbench" / "cache").exists()


def test_cache_option_puts_the_database_in_the_given_directory(
    project: Project, server: JudgeServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    relative = run(project, "--llmbench-cache=build/judge-cache")
    assert relative.ret == 0
    relative.stdout.fnmatch_lines(["  cache build/judge-cache (0 replies stored)"])
    assert (project.root / "build" / "judge-cache" / FILENAME).is_file()
    assert not (project.root / CACHE_DB).exists()

    elsewhere = tmp_path_factory.mktemp("elsewhere") / "cache"
    outside = run(project, f"--llmbench-cache={elsewhere}")
    assert outside.ret == 0
    outside.stdout.fnmatch_lines([f"  cache {elsewhere} (0 replies stored)"])
    assert (elsewhere / FILENAME).is_file()
    assert len(server.requests) == 8  # two empty caches: every sample asked twice

    server.requests.clear()
    warm = run(project, "--llmbench-cache=build/judge-cache")
    warm.stdout.fnmatch_lines(["  cache build/judge-cache (4 replies stored)"])
    assert server.requests == []


def test_ini_llmbench_cache_dir_is_used_and_the_option_overrides_it(
    project: Project, server: JudgeServer
) -> None:
    project.write("pytest.ini", "[pytest]\nllmbench_cache_dir = ini-cache\n")
    result = run(project)
    result.stdout.fnmatch_lines(["  cache ini-cache (0 replies stored)"])
    assert (project.root / "ini-cache" / FILENAME).is_file()
    overridden = run(project, "--llmbench-cache=option-cache")
    overridden.stdout.fnmatch_lines(["  cache option-cache (0 replies stored)"])
    assert (project.root / "option-cache" / FILENAME).is_file()


def test_header_says_the_cache_is_unused_without_a_live_judge(project: Project) -> None:
    result = run(project)  # $TEST_LLM_URL unset: dry-run
    assert result.ret == 0
    result.stdout.fnmatch_lines(["  cache unused (no live judge)"])
    assert not (project.root / ".llmbench" / "cache").exists()


INTERRUPTED_AT_THIRD = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    if sample.id == "s-03":
        raise KeyboardInterrupt
    judge(sample.output)
"""


def test_rerun_after_an_interrupt_pays_only_for_what_was_not_judged(
    project: Project, server: JudgeServer
) -> None:
    project.dataset(make_samples([(0.9, 0.9)] * 6))
    project.write("benchmarks/test_digest.py", INTERRUPTED_AT_THIRD)
    interrupted = run(project, no_reraise_ctrlc=True)
    assert interrupted.ret == pytest.ExitCode.INTERRUPTED
    judged_before = [n for n, count in enumerate(per_sample(server, 6), 1) if count]
    assert judged_before == [1, 2]
    assert len(server.requests) == 2
    (partial,) = project.records()
    assert partial["partial"] is True

    server.requests.clear()
    project.write("benchmarks/test_digest.py", TEST_FILE_PLAIN)
    rerun = run(project)
    assert rerun.ret == 0
    rerun.assert_outcomes(passed=6)
    assert per_sample(server, 6) == [0, 0, 1, 1, 1, 1]
    assert len(server.requests) == 6 - len(judged_before)
    rerun_usage = record_of(project)["scenarios"]["digest"]["usage"]
    assert (rerun_usage["judge_calls"], rerun_usage["cached"]) == (4, 2)


TEST_FILE_PLAIN = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    judge(sample.output)
"""
