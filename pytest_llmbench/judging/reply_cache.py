"""Judge replies on disk, shared by every process of a run (xdist workers included) and by
runs that share a cache directory.

SQLite in WAL mode: readers never block the writer, and concurrent writers wait on a busy
timeout, then retry a statement that is still locked (a journal-mode change or a WAL
recovery returns "database is locked" without waiting). Only scored replies are stored, so
a failure or an unusable reply is asked again next time.

The cache never invents a score: every entry is checked on read as a live reply is (its
schema version and checksum, exactly the requested metrics, each a finite number in range
on the prompt's scale); one that fails is dropped and asked again. A file SQLite cannot
read is moved aside and a fresh cache started, with a note for the terminal.

A warm cache this process may not write (a read-only mount, another user's files) is
still read, each entry checked the same way, and nothing is stored or dropped in it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pytest_llmbench.benchmark.judge_config import JudgeConfig
from pytest_llmbench.errors import os_reason
from pytest_llmbench.judging.chat_completions import chat_completions_url
from pytest_llmbench.judging.reply_parsing import TEXT_LIMIT, Scale, UnusableReply, check_score

__all__ = [
    "ENTRY_VERSION",
    "FILENAME",
    "BadEntry",
    "CachedReply",
    "JudgeCache",
    "cache_key",
    "decode_entry",
    "dropped_note",
    "encode_entry",
]

KEY_VERSION = 1
ENTRY_VERSION = 2  # 1: {"scores": {...}} with no checksum, read as a bad entry
FILENAME = "judge-replies.sqlite3"

# A stored entry is scores plus two bounded texts; anything much larger is not one.
_MAX_ENTRY_CHARS = 16 * TEXT_LIMIT
_COLUMNS = ("key", "value", "created")
# SQLite result codes (the low byte of an extended code).
_BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
_UNREADABLE_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_BUSY_WORDS = ("database is locked", "database table is locked", "database is busy")
_UNREADABLE_WORDS = ("file is not a database", "database disk image is malformed")

T = TypeVar("T")


def cache_key(
    judge: JudgeConfig,
    messages: Sequence[Mapping[str, str]],
    metrics: Sequence[str],
    prompt_ref: str,
    prompt_sha256: str,
) -> str:
    # A prompt's own temperature and scale are covered by its sha256 (they live in the file).
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


# -- entries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedReply:
    """What a scored reply leaves for the next run: its scores and the judge's words."""

    scores: dict[str, float]  # normalised to 0..1
    raw_scores: dict[str, float] | None = None  # as written, with a declared scale
    reasoning: str = ""  # bounded, as the payload carries it
    raw_reply: str = ""


class BadEntry(Exception):
    """A stored entry that cannot be trusted; `reason` says why (for tests and notes)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode_entry(reply: CachedReply) -> str:
    """The stored text of an entry: the reply with its version and a checksum over it."""
    entry: dict[str, Any] = {"scores": reply.scores}
    if reply.raw_scores is not None:
        entry["raw_scores"] = reply.raw_scores
    if reply.reasoning:
        entry["reasoning"] = _unicode(reply.reasoning)
    if reply.raw_reply:
        entry["raw_reply"] = _unicode(reply.raw_reply)
    return json.dumps(
        {"v": ENTRY_VERSION, "sha256": _digest(entry), "entry": entry},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )


def decode_entry(value: object, metrics: Sequence[str], scale: Scale | None) -> CachedReply:
    """The reply stored as `value`, checked as a live reply would be; BadEntry otherwise."""
    if not isinstance(value, str):
        raise BadEntry(f"stored value is {type(value).__name__}, not text")
    if len(value) > _MAX_ENTRY_CHARS:
        raise BadEntry(f"stored value is {len(value):,} characters")
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        raise BadEntry("stored value is not JSON") from None
    if not isinstance(data, dict) or data.get("v") != ENTRY_VERSION:
        version = data.get("v", 1) if isinstance(data, dict) else None
        raise BadEntry(f"entry version {version!r}, expected {ENTRY_VERSION}")
    entry = data.get("entry")
    if set(data) != {"v", "sha256", "entry"} or not isinstance(entry, dict):
        raise BadEntry("entry has the wrong shape")
    if data["sha256"] != _digest(entry):
        raise BadEntry("checksum mismatch")
    unknown = set(entry) - {"scores", "raw_scores", "reasoning", "raw_reply"}
    if unknown:
        raise BadEntry(f"unknown fields {sorted(unknown)}")
    stored = _numbers(entry.get("scores"), metrics, "scores")
    raw_scores: dict[str, float] | None = None
    try:
        if scale is None:
            if entry.get("raw_scores") is not None:
                raise BadEntry("raw_scores without a declared scale")
            for metric in metrics:
                check_score(metric, stored[metric], None)
        else:
            raw = _numbers(entry.get("raw_scores"), metrics, "raw_scores")
            for metric in metrics:
                normalised, _ = check_score(metric, raw[metric], scale)
                if not math.isclose(normalised, stored[metric], rel_tol=0, abs_tol=1e-9):
                    raise BadEntry(f"{metric}: score and raw score disagree")
            raw_scores = {metric: float(raw[metric]) for metric in metrics}
    except UnusableReply as exc:
        raise BadEntry(exc.reason) from None
    scores = {metric: float(stored[metric]) for metric in metrics}
    texts: dict[str, str] = {}
    for name in ("reasoning", "raw_reply"):
        text = entry.get(name, "")
        if not isinstance(text, str) or len(text) > TEXT_LIMIT:
            raise BadEntry(f"{name} is not text of at most {TEXT_LIMIT} characters")
        if not _is_unicode(text):
            raise BadEntry(f"{name} holds a lone surrogate, not text")
        texts[name] = text
    return CachedReply(scores, raw_scores, texts["reasoning"], texts["raw_reply"])


def _digest(entry: Mapping[str, Any]) -> str:
    blob = json.dumps(entry, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    # "surrogatepass": a lone surrogate (a JSON "\\ud800" escape) must not raise here.
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def _unicode(text: str) -> str:
    """``text`` with any lone surrogate replaced: what SQLite and the record can hold."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _numbers(value: object, metrics: Sequence[str], name: str) -> dict[str, int | float]:
    """Exactly `metrics`, each a JSON number as stored (a live reply may quote numbers; an
    entry written by this module never does)."""
    if not isinstance(value, dict) or set(value) != set(metrics):
        raise BadEntry(f"{name} are not exactly the requested metrics")
    for metric in metrics:
        number = value[metric]
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise BadEntry(f"{name}.{metric} is not a number")
    return value


# -- the store ----------------------------------------------------------------------------


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0
    dropped: int = 0  # entries that failed their check on read (counted as misses too)


@dataclass
class _Notes:
    """What the terminal should hear about, once each."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        if line not in self.lines:
            self.lines.append(line)


class JudgeCache:
    """The reply store of one process. No method raises for a locked or unreadable file:
    a read that cannot be done is a miss, a write that cannot be done is skipped. What the
    disk refuses otherwise (a full disk, a directory that cannot be made) is an OSError or
    sqlite3.Error for the caller, who decides how to go on (see JudgeService)."""

    def __init__(
        self,
        directory: Path,
        *,
        display: str | None = None,
        busy_timeout_s: float = 10.0,
        retry_for_s: float = 60.0,
    ) -> None:
        """`display`: the directory as messages show it; `busy_timeout_s`: SQLite's wait
        on a lock per statement; `retry_for_s`: how long a statement still locked after
        that is retried before the operation is given up."""
        self.path = directory / FILENAME
        self.display = f"{display}/{FILENAME}" if display else str(self.path)
        self.stats = CacheStats()
        self._notes = _Notes()
        self._busy_timeout_s = busy_timeout_s
        self._retry_for_s = retry_for_s
        self._lock = threading.Lock()
        # A warm cache this process may not write is still read; put() then stores
        # nothing (also once a full disk made the caller set it).
        self.read_only = self.path.is_file() and not (
            os.access(directory, os.W_OK) and os.access(self.path, os.W_OK)
        )
        if not self.read_only:
            directory.mkdir(parents=True, exist_ok=True)
        # One connection per process, used from the judge loop and the main thread.
        self._db: sqlite3.Connection | None = None
        with self._lock:
            self._db = self._open()

    @property
    def notes(self) -> list[str]:
        """One line each: a file moved aside, the cache given up on (entries dropped are
        counted in stats, and summed over processes for dropped_note)."""
        return list(self._notes.lines)

    def get(
        self, key: str, metrics: Sequence[str], scale: Scale | None = None
    ) -> CachedReply | None:
        """The stored reply for `key`, if it passes the checks a live reply must pass."""

        def read(db: sqlite3.Connection) -> object:
            row = db.execute("SELECT value FROM replies WHERE key = ?", (key,)).fetchone()
            return None if row is None else row[0]

        value = self._run(read, None)
        if value is None:
            self.stats.misses += 1
            return None
        try:
            reply = decode_entry(value, metrics, scale)
        except BadEntry:
            self.stats.dropped += 1
            self.stats.misses += 1

            def drop(db: sqlite3.Connection) -> None:
                # Only this very value: another process may have stored a good one since.
                db.execute("DELETE FROM replies WHERE key = ? AND value IS ?", (key, value))

            if not self.read_only:  # a read-only cache keeps it, and this process skips it
                self._run(drop, None)
            return None
        self.stats.hits += 1
        return reply

    def put(self, key: str, reply: CachedReply) -> None:
        if self.read_only:
            return
        blob = encode_entry(reply)

        def write(db: sqlite3.Connection) -> bool:
            db.execute(
                "INSERT OR REPLACE INTO replies (key, value, created) VALUES (?, ?, ?)",
                (key, blob, time.time()),
            )
            return True

        if self._run(write, False):
            self.stats.writes += 1

    def __len__(self) -> int:
        def count(db: sqlite3.Connection) -> int:
            (rows,) = db.execute("SELECT COUNT(*) FROM replies").fetchone()
            return int(rows)

        return self._run(count, 0)

    def close(self) -> None:
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()

    # -- connection, locks and recovery ---------------------------------------------------

    def _run(self, operation: Callable[[sqlite3.Connection], T], default: T) -> T:
        with self._lock:
            if self._db is None:
                return default
            db = self._db
            try:
                return self._retrying(lambda: operation(db))
            except sqlite3.DatabaseError as error:
                if _unreadable(error):
                    with contextlib.suppress(sqlite3.Error):
                        db.close()
                    self._db = self._open(first=error)
                elif _busy(error):
                    self._notes.add(
                        f"judge cache {self.display} stayed locked for "
                        f"{self._retry_for_s:g} s; some replies were not cached"
                    )
                else:
                    raise
                return default

    def _open(self, first: sqlite3.DatabaseError | None = None) -> sqlite3.Connection | None:
        """A connection, after moving an unreadable file aside; None (the cache off for
        this process) when the file stays locked, or is unreadable where it cannot be
        moved. `first`: the error that led here (another process may have replaced the
        file since: then it is simply opened)."""
        try:
            return self._connect()
        except sqlite3.DatabaseError as error:
            if _busy(error):
                self._notes.add(
                    f"judge cache {self.display} stayed locked for {self._retry_for_s:g} s; "
                    "this process runs without it"
                )
                return None
            if not _unreadable(error):
                raise
            if self.read_only:
                self._notes.add(
                    f"judge cache {self.display} is unreadable ({first or error}) and "
                    "read-only, so it stays; this process runs without it"
                )
                return None
            try:
                self._set_aside(first or error)
            except OSError as moving:
                self._notes.add(
                    f"judge cache {self.display} is unreadable ({first or error}) and could "
                    f"not be moved aside ({os_reason(moving, self.path)}); this process runs "
                    "without it"
                )
                return None
        return self._open_fresh()

    def _open_fresh(self) -> sqlite3.Connection | None:
        try:
            return self._connect()
        except sqlite3.DatabaseError as error:
            if not (_busy(error) or _unreadable(error)):
                raise
            self._notes.add(f"judge cache {self.display} could not be opened ({error}); off")
            return None

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            uri = self.path.absolute().as_uri()
            try:
                return self._checked(f"{uri}?mode=ro", _check)
            except sqlite3.OperationalError as error:
                if _busy(error):
                    raise
                # A WAL database opens read-only only beside its -shm file, which a
                # read-only directory cannot hold: immutable reads the file as it is,
                # without locks.
                return self._checked(f"{uri}?mode=ro&immutable=1", _check)
        return self._checked(self.path, _prepare)

    def _checked(
        self, target: str | Path, check: Callable[[sqlite3.Connection], None]
    ) -> sqlite3.Connection:
        db = sqlite3.connect(
            target,
            uri=isinstance(target, str),
            timeout=self._busy_timeout_s,
            check_same_thread=False,
            isolation_level=None,
        )
        try:
            self._retrying(lambda: check(db))
        except BaseException:
            db.close()
            raise
        return db

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """`attempt()`, again while SQLite says the file is locked, within retry_for_s."""
        deadline = time.monotonic() + self._retry_for_s
        delay = 0.01
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as error:
                if not _busy(error) or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay * random.uniform(0.5, 1.5))  # jitter: two writers do not align
            delay = min(delay * 2, 0.5)

    def _set_aside(self, error: sqlite3.DatabaseError) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        target = self.path.with_name(f"{FILENAME}.corrupt-{stamp}")
        number = 1
        while target.exists():
            number += 1
            target = self.path.with_name(f"{FILENAME}.corrupt-{stamp}-{number}")
        # The WAL and shared-memory files go too: left behind, SQLite would replay the old
        # WAL into the fresh file.
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{self.path}{suffix}", f"{target}{suffix}")
        self._notes.add(
            f"judge cache {self.display} was unreadable ({error}); moved it aside to "
            f"{target.name} and started a fresh cache"
        )


def dropped_note(count: int, display: str) -> str:
    """The terminal's line for `count` entries dropped (over every process of the run)."""
    entries = "entry that failed its check" if count == 1 else "entries that failed their checks"
    return f"dropped {count} judge cache {entries} in {display}; asked the judge again"


def _prepare(db: sqlite3.Connection) -> None:
    """WAL mode and the table; raises sqlite3.DatabaseError for a file that is not a cache
    SQLite can read (the first read of the file finds a bad header or a cut file)."""
    (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    if str(mode).lower() != "wal":
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS replies ("
        " key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
    )
    _check(db)


def _check(db: sqlite3.Connection) -> None:
    """Raises sqlite3.DatabaseError unless `db` holds the table of judge replies (all a
    read-only cache is checked for: it is neither set up nor changed)."""
    columns = tuple(row[1] for row in db.execute("PRAGMA table_info(replies)"))
    if columns != _COLUMNS:
        raise sqlite3.DatabaseError(f"file is not a database of judge replies: {columns}")
    db.execute("SELECT key FROM replies LIMIT 1").fetchall()


def _code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+
    return code & 0xFF if isinstance(code, int) else None


def _busy(error: sqlite3.Error) -> bool:
    code = _code(error)
    if code is not None:
        return code in _BUSY_CODES
    return any(words in str(error).lower() for words in _BUSY_WORDS)


def _unreadable(error: sqlite3.Error) -> bool:
    text = str(error).lower()
    if "not a database of judge replies" in text:
        return True
    code = _code(error)
    if code is not None:
        return code in _UNREADABLE_CODES
    return any(words in text for words in _UNREADABLE_WORDS)
