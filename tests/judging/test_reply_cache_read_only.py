"""A reply cache this process may not write is opened read-only: its replies are read, each
checked as a live reply is, and nothing is stored, dropped or moved. (The whole-run test,
tests/runs/test_unwritable_disk.py, makes the place read-only for real; here os.access says
so, which is what JudgeCache asks.)"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from pytest_llmbench.judging.reply_cache import FILENAME, CachedReply, JudgeCache

METRICS = ("coverage",)
GOOD = CachedReply({"coverage": 0.9})


def warm(directory: Path) -> Path:
    cache = JudgeCache(directory)
    cache.put("k1", GOOD)
    cache.close()
    return directory / FILENAME


@pytest.fixture
def no_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode & os.W_OK else real(p, mode))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.usefixtures("no_writes")
def test_a_cache_that_may_not_be_written_is_read_and_stores_nothing(tmp_path: Path) -> None:
    stored = warm(tmp_path)
    before = sha256(stored)
    cache = JudgeCache(tmp_path)
    try:
        assert cache.read_only
        assert cache.get("k1", METRICS) == GOOD
        cache.put("k2", CachedReply({"coverage": 0.1}))
        assert cache.get("k2", METRICS) is None
        assert len(cache) == 1
        assert (cache.stats.hits, cache.stats.misses, cache.stats.writes) == (1, 1, 0)
        assert cache.notes == []
    finally:
        cache.close()
    assert sha256(stored) == before


@pytest.mark.usefixtures("no_writes")
def test_a_bad_entry_in_a_read_only_cache_is_skipped_not_deleted(tmp_path: Path) -> None:
    # Checked on read like any entry: never a score, and the file is left as it is.
    stored = warm(tmp_path)
    with contextlib.closing(sqlite3.connect(stored)) as db, db:
        (value,) = db.execute("SELECT value FROM replies WHERE key = 'k1'").fetchone()
        db.execute("UPDATE replies SET value = ? WHERE key = 'k1'", (value.replace("0.9", "3.14"),))
    before = sha256(stored)
    cache = JudgeCache(tmp_path)
    try:
        assert cache.get("k1", METRICS) is None
        assert (cache.stats.hits, cache.stats.misses, cache.stats.dropped) == (0, 1, 1)
        assert len(cache) == 1
    finally:
        cache.close()
    assert sha256(stored) == before


@pytest.mark.usefixtures("no_writes")
def test_an_unreadable_read_only_cache_stays_where_it_is_with_a_note(tmp_path: Path) -> None:
    stored = tmp_path / FILENAME
    stored.write_bytes(os.urandom(4096))
    before = sha256(stored)
    cache = JudgeCache(tmp_path, display="cache")
    try:
        assert cache.read_only
        assert cache.get("k1", METRICS) is None
        assert len(cache) == 0
        (note,) = cache.notes
        assert note.startswith(f"judge cache cache/{FILENAME} is unreadable (")
        assert note.endswith(") and read-only, so it stays; this process runs without it")
    finally:
        cache.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILENAME]  # nothing moved aside
    assert sha256(stored) == before


@pytest.mark.usefixtures("no_writes")
def test_no_cache_file_in_a_place_that_may_not_be_written_is_an_os_error(
    tmp_path: Path,
) -> None:
    # Nothing to read: the caller (the judge service) notes it and runs without a cache.
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(NotADirectoryError):
        JudgeCache(blocker / "cache")


def test_a_writable_cache_is_not_read_only(tmp_path: Path) -> None:
    warm(tmp_path)
    cache = JudgeCache(tmp_path)
    try:
        assert not cache.read_only
    finally:
        cache.close()
