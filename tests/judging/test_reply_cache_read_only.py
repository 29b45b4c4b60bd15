"""A reply cache this process may not write is opened read-only: its replies are read and
nothing is stored. (The whole-run test, tests/runs/test_unwritable_disk.py, makes the place
read-only for real; here os.access says so, which is what JudgeCache asks.)"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from pytest_llmbench.judging.reply_cache import FILENAME, JudgeCache


def warm(directory: Path) -> Path:
    cache = JudgeCache(directory)
    cache.put("k1", {"scores": {"coverage": 0.9}})
    cache.close()
    return directory / FILENAME


@pytest.fixture
def no_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode & os.W_OK else real(p, mode))


@pytest.mark.usefixtures("no_writes")
def test_a_cache_that_may_not_be_written_is_read_and_stores_nothing(tmp_path: Path) -> None:
    stored = warm(tmp_path)
    before = hashlib.sha256(stored.read_bytes()).hexdigest()
    cache = JudgeCache(tmp_path)
    try:
        assert cache.read_only
        assert cache.get("k1") == {"scores": {"coverage": 0.9}}
        cache.put("k2", {"scores": {"coverage": 0.1}})
        assert cache.get("k2") is None
        assert len(cache) == 1
        assert (cache.stats.hits, cache.stats.misses, cache.stats.writes) == (1, 1, 0)
    finally:
        cache.close()
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == before


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
