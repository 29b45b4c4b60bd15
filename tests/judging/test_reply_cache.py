"""The judge reply cache: what its key covers, the SQLite store shared by processes, and
whole runs against a live judge (the scripted JudgeServer) that must not pay twice."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# Imported once out here so that pytester's in-process runs do not re-import it each time
# (see test_live_judge.py).
import hypothesis.internal.observability  # noqa: F401
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.judge_server import JudgeServer
from support.judges import judge_config
from support.project import PROMPT, Project, config_yaml, live_judge_yaml, make_samples, marker

from pytest_llmbench.benchmark.judge_config import Price, RetryPolicy
from pytest_llmbench.judging.reply_cache import (
    ENTRY_VERSION,
    FILENAME,
    BadEntry,
    CachedReply,
    JudgeCache,
    cache_key,
    decode_entry,
    dropped_note,
    encode_entry,
)

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


def test_repeat_0_keeps_the_key_of_a_run_without_repeats_and_each_repeat_has_its_own() -> None:
    # The key main computed for this request before repeats existed: old caches stay warm.
    before = "65e2a3c103f4b7147fc86e3c3ab4979570c432085d8398fc9d804adfdceb69ad"
    assert key() == before
    assert cache_key(JUDGE, MESSAGES, METRICS, REF, SHA, 0) == before
    repeats = {cache_key(JUDGE, MESSAGES, METRICS, REF, SHA, k) for k in range(20)}
    assert len(repeats) == 20


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


REPLY = CachedReply(
    {"coverage": 0.9, "accuracy": 0.75}, reasoning="Сводка теряет дату.", raw_reply="{...}"
)


def test_judge_cache_round_trips_a_reply_and_counts_hits_misses_and_writes(
    tmp_path: Path,
) -> None:
    cache = JudgeCache(tmp_path / "cache")
    try:
        assert cache.path == tmp_path / "cache" / FILENAME
        assert len(cache) == 0
        assert cache.get(key(), METRICS) is None
        cache.put(key(), REPLY)
        assert cache.get(key(), METRICS) == REPLY
        assert cache.get(key(model="other"), METRICS) is None
        other = CachedReply({"coverage": 0.5, "accuracy": 0.5})
        cache.put(key(), other)  # replaced, not added
        assert cache.get(key(), METRICS) == other
        assert len(cache) == 1
        assert (cache.stats.hits, cache.stats.misses, cache.stats.writes) == (2, 2, 2)
        assert cache.notes == []
    finally:
        cache.close()


def test_judge_cache_persists_across_instances_in_wal_mode(tmp_path: Path) -> None:
    first = JudgeCache(tmp_path)
    first.put("k1", CachedReply({"coverage": 1.0}))
    first.close()
    second = JudgeCache(tmp_path)
    try:
        assert second.get("k1", ("coverage",)) == CachedReply({"coverage": 1.0})
        assert len(second) == 1
    finally:
        second.close()
    with contextlib.closing(sqlite3.connect(tmp_path / FILENAME)) as db, db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from pytest_llmbench.judging.reply_cache import CachedReply, JudgeCache

    directory, tag, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    sys.stdin.readline()  # start together
    cache = JudgeCache(directory)
    for i in range(count):
        cache.put(f"{tag}-{i}", CachedReply({"coverage": i / count}, reasoning=tag))
        cache.put("shared", CachedReply({"coverage": 0.5}, reasoning=tag))
        assert cache.get(f"{tag}-{i}", ["coverage"]).reasoning == tag
    assert cache.notes == [], cache.notes
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
                expected = CachedReply({"coverage": i / count}, reasoning=tag)
                assert cache.get(f"{tag}-{i}", ["coverage"]) == expected
        shared = cache.get("shared", ["coverage"])
        assert shared is not None and shared.reasoning in {"a", "b", "c"}
    finally:
        cache.close()


# -- entries are checked on read as live replies are --------------------------------------

SCALED = CachedReply(
    {"coverage": 0.75, "accuracy": 0.25}, {"coverage": 4.0, "accuracy": 2.0}, "why", "{...}"
)


def test_an_entry_round_trips_with_its_raw_scores_and_words() -> None:
    assert decode_entry(encode_entry(REPLY), METRICS, None) == REPLY
    assert decode_entry(encode_entry(SCALED), METRICS, (1.0, 5.0)) == SCALED
    assert decode_entry(encode_entry(REPLY), tuple(reversed(METRICS)), None) == REPLY


def resealed(entry: dict[str, Any]) -> str:
    """An entry with a valid checksum over whatever it holds (as a bug could have written)."""
    digest = hashlib.sha256(
        json.dumps(entry, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    return json.dumps({"v": ENTRY_VERSION, "sha256": digest, "entry": entry})


GOOD = encode_entry(REPLY)


@pytest.mark.parametrize(
    ("value", "scale", "reason"),
    [
        (GOOD.replace('"coverage":0.9', '"coverage":3.9'), None, "checksum mismatch"),
        (GOOD.replace('"coverage":0.9', '"coverage":0.1'), None, "checksum mismatch"),
        (resealed({"scores": {"coverage": 3.14, "accuracy": 0.75}}), None, "coverage=3.14 is outside 0..1"),
        (resealed({"scores": {"coverage": -0.5, "accuracy": 0.75}}), None, "coverage=-0.5 is outside 0..1"),
        (resealed({"scores": {"coverage": float("nan"), "accuracy": 0.7}}), None, "coverage=nan is not a finite number"),
        (GOOD[: len(GOOD) // 2], None, "stored value is not JSON"),
        ("", None, "stored value is not JSON"),
        (b"\x00\x01", None, "stored value is bytes, not text"),
        (42, None, "stored value is int, not text"),
        ('{"scores": {"coverage": 0.9, "accuracy": 0.75}}', None, "entry version 1, expected 2"),
        (GOOD.replace('"v":2', '"v":3'), None, "entry version 3, expected 2"),
        ("[1, 2]", None, "entry version None, expected 2"),
        (resealed({"scores": {"coverage": "0.9", "accuracy": 0.75}}), None, "scores.coverage is not a number"),
        (resealed({"scores": {"coverage": True, "accuracy": 0.75}}), None, "scores.coverage is not a number"),
        (resealed({"scores": [0.9, 0.75]}), None, "scores are not exactly the requested metrics"),
        (resealed({"scores": {"coverage": 0.9}}), None, "scores are not exactly the requested metrics"),
        (resealed({"scores": {"coverage": 0.9, "accuracy": 0.7, "x": 1}}), None, "scores are not exactly the requested metrics"),
        (resealed({"scores": {"coverage": 0.9, "accuracy": 0.7}, "more": 1}), None, "unknown fields ['more']"),
        (resealed({"scores": {"coverage": 0.9, "accuracy": 0.7}, "reasoning": 7}), None, "reasoning is not text of at most 2000 characters"),
        (resealed({"scores": {"coverage": 0.9, "accuracy": 0.7}, "raw_reply": "x" * 2001}), None, "raw_reply is not text of at most 2000 characters"),
        (resealed({"scores": {"coverage": 0.9, "accuracy": 0.7}, "raw_scores": {"coverage": 1, "accuracy": 1}}), None, "raw_scores without a declared scale"),
        (encode_entry(REPLY), (1.0, 5.0), "raw_scores are not exactly the requested metrics"),
        (resealed({"scores": {"coverage": 0.75, "accuracy": 0.25}, "raw_scores": {"coverage": 4, "accuracy": 9}}), (1.0, 5.0), "accuracy=9 is outside 1..5"),
        (resealed({"scores": {"coverage": 0.5, "accuracy": 0.25}, "raw_scores": {"coverage": 4, "accuracy": 2}}), (1.0, 5.0), "coverage: score and raw score disagree"),
        (json.dumps({"v": 2, "sha256": "0", "entry": {"scores": {}}, "x": 1}), None, "entry has the wrong shape"),
        ("x" * 40_000, None, "stored value is 40,000 characters"),
    ],
    ids=[
        "flipped-digit", "flipped-digit-in-range", "out-of-range-resealed", "negative", "nan",
        "cut", "empty", "bytes", "integer", "version-1", "version-3", "array", "quoted-number",
        "boolean", "scores-list", "metric-missing", "metric-extra", "unknown-field",
        "reasoning-not-text", "raw-reply-too-long", "raw-without-scale", "scale-without-raw",
        "raw-outside-scale", "raw-and-score-disagree", "extra-top-level-key", "huge",
    ],
)  # fmt: skip
def test_a_bad_entry_is_refused_with_the_reason(value: object, scale: Any, reason: str) -> None:
    with pytest.raises(BadEntry) as caught:
        decode_entry(value, METRICS, scale)
    assert caught.value.reason == reason


@given(st.one_of(st.text(), st.binary(), st.integers(), st.none()))
def test_decode_entry_gives_a_checked_reply_or_bad_entry_for_any_value(value: object) -> None:
    try:
        reply = decode_entry(value, METRICS, None)
    except BadEntry:
        return
    assert set(reply.scores) == set(METRICS)
    assert all(0.0 <= v <= 1.0 for v in reply.scores.values())


@given(st.integers(0, len(GOOD) - 1), st.characters(codec="utf-8"))
def test_no_single_character_changed_in_an_entry_yields_other_scores(
    position: int, char: str
) -> None:
    changed = GOOD[:position] + char + GOOD[position + 1 :]
    try:
        reply = decode_entry(changed, METRICS, None)
    except BadEntry:
        return
    assert reply == REPLY  # only a change JSON cannot see (whitespace, an escape) survives


def corrupt_value(db_path: Path, key_: str, change: Callable[[str], object]) -> None:
    with contextlib.closing(sqlite3.connect(db_path)) as db, db:
        (value,) = db.execute("SELECT value FROM replies WHERE key = ?", (key_,)).fetchone()
        db.execute("UPDATE replies SET value = ? WHERE key = ?", (change(value), key_))


@pytest.mark.parametrize(
    "change",
    [
        lambda v: v.replace('"coverage":0.9', '"coverage":3.14'),
        lambda v: v[:-7],
        lambda v: json.dumps({"scores": {"coverage": "high", "accuracy": None}}),
        lambda v: b"\xff\xfe",
        lambda v: 0.9,
    ],
    ids=["flipped-digit", "cut", "wrong-types", "blob", "number"],
)
def test_a_hand_corrupted_entry_is_dropped_counted_and_never_used(
    tmp_path: Path, change: Callable[[str], object]
) -> None:
    cache = JudgeCache(tmp_path, display="cache")
    try:
        cache.put("k", REPLY)
        cache.put("other", REPLY)
        corrupt_value(cache.path, "k", change)
        assert cache.get("k", METRICS) is None
        assert (cache.stats.hits, cache.stats.misses, cache.stats.dropped) == (0, 1, 1)
        assert len(cache) == 1  # the bad entry is gone, the good one kept
        assert cache.get("other", METRICS) == REPLY
        assert cache.notes == []  # counted, and worded once for the whole run:
        assert dropped_note(cache.stats.dropped, f"cache/{FILENAME}") == (
            f"dropped 1 judge cache entry that failed its check in cache/{FILENAME}; "
            "asked the judge again"
        )
        cache.put("k", REPLY)  # the live reply, stored again
        assert cache.get("k", METRICS) == REPLY
    finally:
        cache.close()


def test_a_bad_entry_read_by_two_processes_at_once_is_counted_dropped_once(
    tmp_path: Path,
) -> None:
    # Two caches on one file (a worker and the controller, say) both read the bad value
    # before either deletes it: the run dropped one entry, not two.
    from pytest_llmbench.judging.sqlite_store import BadEntry

    first, second = JudgeCache(tmp_path), JudgeCache(tmp_path)
    both_read = threading.Barrier(2)

    def refuse(value: object) -> object:
        both_read.wait(timeout=10)  # each has SELECTed the value; now both DELETE it
        raise BadEntry("corrupt")

    try:
        first.put("k", REPLY)
        threads = [threading.Thread(target=c._get, args=("k", refuse)) for c in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        assert first.stats.dropped + second.stats.dropped == 1
        assert first.stats.misses == second.stats.misses == 1
        assert len(first) == 0
    finally:
        first.close()
        second.close()


def test_an_entry_stored_for_other_metrics_or_scale_is_not_used(tmp_path: Path) -> None:
    cache = JudgeCache(tmp_path)
    try:
        cache.put("k", REPLY)
        assert cache.get("k", ("coverage",)) is None
        cache.put("k", REPLY)
        assert cache.get("k", METRICS, (1.0, 5.0)) is None
        assert cache.stats.dropped == 2
    finally:
        cache.close()


# -- an unreadable cache file is moved aside ----------------------------------------------


def random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(4096))


def truncated(path: Path) -> None:
    cache = JudgeCache(path.parent)
    for i in range(200):
        cache.put(f"k{i}", REPLY)
    cache.close()
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def text_file(path: Path) -> None:
    path.write_text("not a database at all\n", encoding="utf-8")


def foreign_database(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE replies (id INTEGER, body BLOB)")


def header_only(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + bytes(84))


UNREADABLE = {
    "random-bytes": (random_bytes, "file is not a database"),
    "truncated": (truncated, "database disk image is malformed"),
    "text": (text_file, "file is not a database"),
    "foreign-table": (foreign_database, "file is not a database of judge replies: ('id', 'body')"),
    "header-only": (header_only, "file is not a database"),
}


@pytest.mark.parametrize("kind", list(UNREADABLE))
def test_an_unreadable_cache_file_is_moved_aside_with_one_note_and_a_fresh_cache_used(
    tmp_path: Path, kind: str
) -> None:
    make, error = UNREADABLE[kind]
    path = tmp_path / FILENAME
    make(path)
    (tmp_path / f"{FILENAME}-wal").write_bytes(b"old wal")
    before = path.read_bytes()
    cache = JudgeCache(tmp_path, display=".llmbench/cache")
    try:
        assert len(cache) == 0
        cache.put("k", REPLY)
        assert cache.get("k", METRICS) == REPLY
        (aside,) = tmp_path.glob(f"{FILENAME}.corrupt-*[0-9]")
        assert aside.read_bytes() == before  # kept for a look, never deleted
        # The old WAL went with it (or SQLite dropped it): never replayed into the fresh file.
        wal = tmp_path / f"{FILENAME}-wal"
        assert not wal.exists() or b"old wal" not in wal.read_bytes()
        assert cache.notes == [
            f"judge cache .llmbench/cache/{FILENAME} was unreadable ({error}); moved it aside "
            f"to {aside.name} and started a fresh cache"
        ]
    finally:
        cache.close()
    again = JudgeCache(tmp_path)  # the fresh file is a good cache from now on
    try:
        assert again.get("k", METRICS) == REPLY
        assert again.notes == []
    finally:
        again.close()


def test_a_cache_file_that_turns_unreadable_while_open_is_moved_aside(tmp_path: Path) -> None:
    cache = JudgeCache(tmp_path)
    try:
        cache.put("k", REPLY)
        assert cache._db is not None
        cache._db.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{cache.path}{suffix}").unlink(missing_ok=True)
        random_bytes(cache.path)
        # A connection opened before the file went bad (SQLite reads it only when asked).
        cache._db = sqlite3.connect(cache.path, check_same_thread=False, isolation_level=None)
        assert cache.get("k", METRICS) is None  # a miss, not an exception
        assert len(list(tmp_path.glob(f"{FILENAME}.corrupt-*[0-9]"))) == 1
        cache.put("k", REPLY)
        assert cache.get("k", METRICS) == REPLY
    finally:
        cache.close()


# -- a locked file: wait and retry, never fail --------------------------------------------


def hold_lock(path: Path, seconds: float, ready: threading.Event) -> threading.Thread:
    def hold() -> None:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        ready.set()
        time.sleep(seconds)
        db.execute("COMMIT")
        db.close()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


def test_a_writer_waits_for_a_lock_and_retries_until_it_is_free(tmp_path: Path) -> None:
    JudgeCache(tmp_path).close()
    ready = threading.Event()
    holder = hold_lock(tmp_path / FILENAME, 0.5, ready)
    ready.wait(10)
    # A busy timeout far shorter than the lock: the retries carry the write through.
    cache = JudgeCache(tmp_path, busy_timeout_s=0.01, retry_for_s=30)
    try:
        cache.put("k", REPLY)
        holder.join()
        assert cache.get("k", METRICS) == REPLY
        assert cache.stats.writes == 1
        assert cache.notes == []
    finally:
        cache.close()


def test_a_lock_held_past_the_retry_budget_skips_the_write_with_a_note(tmp_path: Path) -> None:
    cache = JudgeCache(tmp_path, display="cache", busy_timeout_s=0.01, retry_for_s=0.2)
    ready = threading.Event()
    holder = hold_lock(tmp_path / FILENAME, 1.5, ready)
    try:
        ready.wait(10)
        cache.put("k", REPLY)  # no exception: the reply is simply not cached
        assert cache.stats.writes == 0
        holder.join()
        assert cache.get("k", METRICS) is None
        assert cache.notes == [
            f"judge cache cache/{FILENAME} stayed locked for 0.2 s; some replies were not cached"
        ]
    finally:
        holder.join()
        cache.close()


def test_a_cache_locked_at_open_past_the_retry_budget_is_off_for_the_process(
    tmp_path: Path,
) -> None:
    # journal_mode=WAL needs the lock and does not wait on the busy timeout: the
    # INTERNALERROR of two runs starting together.
    with contextlib.closing(sqlite3.connect(tmp_path / FILENAME)) as db, db:
        db.execute("PRAGMA journal_mode=DELETE")
    ready = threading.Event()
    holder = hold_lock(tmp_path / FILENAME, 1.5, ready)
    try:
        ready.wait(10)
        cache = JudgeCache(tmp_path, display="cache", busy_timeout_s=0.01, retry_for_s=0.2)
        cache.put("k", REPLY)
        assert cache.get("k", METRICS) is None
        assert len(cache) == 0
        assert cache.notes == [
            f"judge cache cache/{FILENAME} stayed locked for 0.2 s; this process runs without it"
        ]
        cache.close()
    finally:
        holder.join()


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
    with contextlib.closing(sqlite3.connect(project.root / CACHE_DB)) as db, db:
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


def test_rerun_after_an_interrupt_pays_for_nothing_already_judged(
    project: Project, server: JudgeServer
) -> None:
    # The plain body's stored outputs are judged ahead (all 6 fit the window); the 4 the
    # interrupted run never took are counted as unused and kept in the cache.
    project.dataset(make_samples([(0.9, 0.9)] * 6))
    project.write("benchmarks/test_digest.py", INTERRUPTED_AT_THIRD)
    interrupted = run(project, no_reraise_ctrlc=True)
    assert interrupted.ret == pytest.ExitCode.INTERRUPTED
    assert per_sample(server, 6) == [1] * 6
    (partial,) = project.records()
    assert partial["partial"] is True
    usage = partial["scenarios"]["digest"]["usage"]
    assert (usage["judge_calls"], usage["ahead_unused"]) == (2, 4)

    server.requests.clear()
    project.write("benchmarks/test_digest.py", TEST_FILE_PLAIN)
    rerun = run(project)
    assert rerun.ret == 0
    rerun.assert_outcomes(passed=6)
    assert server.requests == []
    rerun_usage = record_of(project)["scenarios"]["digest"]["usage"]
    assert (rerun_usage["judge_calls"], rerun_usage["cached"]) == (0, 6)


TEST_FILE_PLAIN = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    judge(sample.output)
"""


# -- whole runs: a cache that cannot be trusted is never believed ---------------------------

TWO_MODES = {"no-xdist": ["-p", "no:xdist"], "n2": ["-n", "2"]}


@pytest.mark.parametrize("mode", list(TWO_MODES))
def test_corrupted_cache_entries_are_asked_again_live_and_never_score(
    project: Project, server: JudgeServer, mode: str
) -> None:
    assert run(project, *TWO_MODES[mode]).ret == 0
    with contextlib.closing(sqlite3.connect(project.root / CACHE_DB)) as db, db:
        keys = [k for (k,) in db.execute("SELECT key FROM replies ORDER BY key LIMIT 3")]
    for key_ in keys:
        corrupt_value(project.root / CACHE_DB, key_, lambda v: v.replace("0.9", "3.14", 1))
    server.requests.clear()

    warm = run(project, *TWO_MODES[mode])
    assert warm.ret == 0
    warm.assert_outcomes(passed=4)
    assert len(server.requests) == 3  # only the bad entries' samples, asked live
    warm.stdout.fnmatch_lines(
        [
            "*= llmbench =*",
            "digest: PASS *",
            "  judge calls 3 · cached 1 · *",
            "llmbench verdict: PASS",
            # After the verdict, one line for the run, however many workers dropped entries.
            "llmbench: dropped 3 judge cache entries that failed their checks in "
            f".llmbench/cache/{FILENAME}; asked the judge again",
        ]
    )
    assert warm.stdout.str().count("llmbench: dropped") == 1
    samples = record_of(project)["scenarios"]["digest"]["samples"]
    assert [s["scores"]["coverage"] for s in samples] == [0.9] * 4
    assert "3.14" not in warm.stdout.str()


NOTING_CONFTEST = """\
import pytest


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    run = session.config.pluginmanager.get_plugin("llmbench-run")
    worker = getattr(session.config, "workerinput", {}).get("workerid", "main")
    run.service.note("a note every process makes")
    run.service.note(f"a note of {worker} alone")
"""


@pytest.mark.parametrize("mode", list(TWO_MODES))
def test_every_process_notes_reach_the_terminal_once_each_after_the_verdict(
    project: Project, server: JudgeServer, mode: str
) -> None:
    # One notes mechanism: what a worker noted (a cache or disk it lived with) travels to
    # the controller, and a line several processes noted is printed once.
    project.write("conftest.py", NOTING_CONFTEST)
    result = run(project, *TWO_MODES[mode])
    assert result.ret == 0
    lines = result.stdout.lines
    notes = lines[lines.index("llmbench verdict: PASS") + 1 :]
    notes = [line for line in notes if line.startswith("llmbench: ")]
    processes = {"no-xdist": ["main"], "n2": ["main", "gw0", "gw1"]}[mode]
    expected = ["a note every process makes", *(f"a note of {p} alone" for p in processes)]
    assert sorted(notes) == sorted(f"llmbench: {note}" for note in expected)


@pytest.mark.parametrize("mode", list(TWO_MODES))
@pytest.mark.parametrize("kind", ["random-bytes", "truncated"])
def test_an_unreadable_cache_file_is_moved_aside_and_the_run_goes_on(
    project: Project, server: JudgeServer, mode: str, kind: str
) -> None:
    path = project.root / CACHE_DB
    path.parent.mkdir(parents=True)
    UNREADABLE[kind][0](path)
    result = run(project, *TWO_MODES[mode])
    assert result.ret == 0
    result.assert_outcomes(passed=4)
    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out and "Traceback" not in out
    notes = [line for line in result.stdout.lines if "was unreadable" in line]
    (aside,) = path.parent.glob(f"{FILENAME}.corrupt-*[0-9]")
    assert notes == [
        f"llmbench: judge cache .llmbench/cache/{FILENAME} was unreadable "
        f"({UNREADABLE[kind][1]}); moved it aside to {aside.name} and started a fresh cache"
    ]
    assert len(server.requests) == 4
    server.requests.clear()
    warm = run(project, *TWO_MODES[mode])  # the fresh cache serves the next run
    assert warm.ret == 0
    assert server.requests == []
    assert "was unreadable" not in warm.stdout.str()


TWO_RUNS_TEST = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    judge(sample.output)
"""


def test_two_runs_sharing_one_cache_under_load_both_end_with_their_verdict(
    tmp_path: Path,
) -> None:
    """Two real pytest processes (two xdist workers each: six processes open the file at
    start) on one cache directory against one judge, started together, a few times over: each exits with its verdict's
    code and prints no error line (once in five, journal_mode=WAL's lock was an
    INTERNALERROR)."""
    roots = [tmp_path / name for name in ("one", "two")]
    with JudgeServer(latency_s=0.001) as srv:
        for root in roots:
            write_project(root, make_samples([(0.9, 0.9)] * 24), srv.url)
        for attempt in range(3):
            cache = tmp_path / f"shared-cache-{attempt}"
            runs = [
                subprocess.Popen(
                    [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2",
                     f"--llmbench-cache={cache}", "-q"],
                    cwd=root,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env={**os.environ, "TEST_LLM_URL": srv.url, "PYTHONPATH": ""},
                )
                for root in roots
            ]  # fmt: skip
            outputs = [process.communicate(timeout=300)[0] for process in runs]
            for process, out in zip(runs, outputs, strict=True):
                assert process.returncode == 0, out
                assert "llmbench verdict: PASS" in out
                bad = [
                    line
                    for line in out.splitlines()
                    if re.search(r"INTERNALERROR|Traceback|locked|[Ee]rror\b|^E ", line)
                    and "0 errors" not in line
                ]
                assert bad == [], out
            stored = JudgeCache(cache)
            try:
                assert len(stored) == 24
            finally:
                stored.close()


def write_project(root: Path, samples: list[dict[str, Any]], url: str) -> None:
    files = {
        "prompts/digest_judge/v1.yaml": PROMPT,
        "benchmarks/test_digest.py": TWO_RUNS_TEST,
        "benchmarks/llmbench.yaml": config_yaml(
            judge_block=live_judge_yaml(timeout_s=10).replace("concurrency: 3", "concurrency: 16")
        ),
        "data/digest.jsonl": "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples),
        "pytest.ini": "[pytest]\n",
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


# -- the fuzz corpus of stored values ------------------------------------------------------

CACHE_CORPUS = Path(__file__).parents[1] / "fuzz" / "cache"
# file name -> "ok" (a reply for METRICS without a scale) or the BadEntry reason
CACHE_EXPECTED: dict[str, str] = json.loads(
    (CACHE_CORPUS / "expected.json").read_text(encoding="utf-8")
)


def test_every_cache_corpus_file_has_an_expectation() -> None:
    files = sorted(p.name for p in CACHE_CORPUS.iterdir() if p.name != "expected.json")
    assert files == sorted(CACHE_EXPECTED)


@pytest.mark.parametrize("name", sorted(CACHE_EXPECTED))
def test_a_stored_value_from_the_corpus_is_a_checked_reply_or_dropped(
    tmp_path: Path, name: str
) -> None:
    value = (CACHE_CORPUS / name).read_text(encoding="utf-8")
    expected = CACHE_EXPECTED[name]
    if expected == "ok":
        reply = decode_entry(value, METRICS, None)
        assert all(0.0 <= v <= 1.0 for v in reply.scores.values())
    else:
        with pytest.raises(BadEntry) as caught:
            decode_entry(value, METRICS, None)
        assert caught.value.reason == expected
    # The same value planted in a real cache file: used only if it passed, else dropped.
    cache = JudgeCache(tmp_path)
    try:
        cache.put("k", REPLY)
        corrupt_value(cache.path, "k", lambda _: value)
        got = cache.get("k", METRICS)
        assert (got is not None) == (expected == "ok")
        assert cache.stats.dropped == (0 if expected == "ok" else 1)
    finally:
        cache.close()


def test_a_reply_with_a_lone_surrogate_is_stored_with_it_replaced(tmp_path: Path) -> None:
    cache = JudgeCache(tmp_path)
    try:
        cache.put("k", dataclasses.replace(REPLY, reasoning="why \ud800 not", raw_reply="\udfff"))
        got = cache.get("k", METRICS)
        assert got is not None and (got.reasoning, got.raw_reply) == ("why ? not", "?")
    finally:
        cache.close()
