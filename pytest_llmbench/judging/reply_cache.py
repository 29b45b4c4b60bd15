"""Judge replies on disk, shared by every process of a run (xdist workers included).

SQLite in WAL mode: readers never block the writer, and concurrent writers from several
workers wait on a busy timeout instead of failing. Only scored replies are stored, so a
failure or an unusable reply is asked again next time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmbench.benchmark.judge_config import JudgeConfig
from pytest_llmbench.judging.chat_completions import chat_completions_url

KEY_VERSION = 1
FILENAME = "judge-replies.sqlite3"


def cache_key(
    judge: JudgeConfig,
    messages: Sequence[Mapping[str, str]],
    metrics: Sequence[str],
    prompt_ref: str,
    prompt_sha256: str,
) -> str:
    # A prompt's own temperature is covered by its sha256 (it lives in the prompt file).
    """Everything that can change the reply, and nothing else (not the API key)."""
    parts = {
        "v": KEY_VERSION,
        "url": chat_completions_url(judge.base_url),
        "model": judge.model,
        "temperature": judge.temperature,
        "max_tokens": judge.max_tokens,
        "structured_output": judge.structured_output,
        "messages": list(messages),
        "metrics": sorted(metrics),
        "prompt": prompt_ref,
        "prompt_sha256": prompt_sha256,
    }
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0


class JudgeCache:
    def __init__(self, directory: Path) -> None:
        self.path = directory / FILENAME
        self.stats = CacheStats()
        self._lock = threading.Lock()
        # A warm cache this process may not write (a read-only mount, another user's
        # files) is still read; put() then stores nothing.
        self.read_only = self.path.is_file() and not (
            os.access(directory, os.W_OK) and os.access(self.path, os.W_OK)
        )
        if self.read_only:
            self._db = _open_read_only(self.path)
            return
        directory.mkdir(parents=True, exist_ok=True)
        # One connection per process, used from the judge loop and the main thread.
        self._db = sqlite3.connect(
            self.path, timeout=30.0, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS replies ("
            " key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
        )

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM replies WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        value: dict[str, Any] = json.loads(row[0])
        return value

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        if self.read_only:
            return
        blob = json.dumps(value, ensure_ascii=False, sort_keys=True)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO replies (key, value, created) VALUES (?, ?, ?)",
                (key, blob, time.time()),
            )
        self.stats.writes += 1

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM replies").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _open_read_only(path: Path) -> sqlite3.Connection:
    uri = path.absolute().as_uri()
    try:
        return _connect_and_check(f"{uri}?mode=ro")
    except sqlite3.OperationalError:
        # A WAL database opens read-only only beside its -shm file, which a read-only
        # directory cannot hold: immutable reads the file as it is, without locks.
        return _connect_and_check(f"{uri}?mode=ro&immutable=1")


def _connect_and_check(uri: str) -> sqlite3.Connection:
    db = sqlite3.connect(uri, uri=True, timeout=30.0, check_same_thread=False, isolation_level=None)
    try:
        db.execute("SELECT COUNT(*) FROM replies").fetchone()
    except sqlite3.Error:
        db.close()
        raise
    return db
