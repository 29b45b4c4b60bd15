"""A key-value table in SQLite, shared by every process of a run (xdist workers included)
and by runs that share a cache directory: what the judge reply cache (reply_cache) and the
model output cache (output_cache) have in common.

WAL mode: readers never block the writer, and concurrent writers wait on a busy timeout,
then retry a statement that is still locked (a journal-mode change or a WAL recovery
returns "database is locked" without waiting).

An entry is text its store checks on read (`get`'s `decode`); one that fails (BadEntry) is
dropped and counted, and read as a miss. A file SQLite cannot read is moved aside and a
fresh store started, with a note for the terminal. A warm store this process may not write
(a read-only mount, another user's files) is still read, each entry checked the same way,
and nothing is stored or dropped in it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pytest_llmbench.benchmark.dataset import too_deep
from pytest_llmbench.benchmark.limits import NESTING_DEPTH
from pytest_llmbench.errors import os_reason

__all__ = ["BadEntry", "CacheStats", "SqliteStore", "stored_object"]

_COLUMNS = ("key", "value", "created")
# SQLite result codes (the low byte of an extended code).
_BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
_UNREADABLE_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_BUSY_WORDS = ("database is locked", "database table is locked", "database is busy")
_UNREADABLE_WORDS = ("file is not a database", "database disk image is malformed")
_FOREIGN = "file is not a database of "  # what _check says of another program's file

T = TypeVar("T")


class BadEntry(Exception):
    """A stored entry that cannot be trusted; `reason` says why (for tests and notes)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def stored_object(
    value: object, max_chars: int, version: int, unversioned: object = None
) -> dict[str, Any]:
    """The JSON object an entry stored as `value`, of entry version `version`; BadEntry
    when it is not text, is longer than `max_chars`, is not JSON or has another version
    (`unversioned` is what an entry without "v" is named as in the reason)."""
    if not isinstance(value, str):
        raise BadEntry(f"stored value is {type(value).__name__}, not text")
    if len(value) > max_chars:
        raise BadEntry(f"stored value is {len(value):,} characters")
    if too_deep(value) is not None:
        raise BadEntry(f"stored value is not JSON of at most {NESTING_DEPTH} levels")
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        raise BadEntry("stored value is not JSON") from None
    if not isinstance(data, dict) or data.get("v") != version:
        found = data.get("v", unversioned) if isinstance(data, dict) else None
        raise BadEntry(f"entry version {found!r}, expected {version}")
    return data


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


class SqliteStore:
    """The store of one process. No method raises for a locked or unreadable file: a read
    that cannot be done is a miss, a write that cannot be done is skipped. What the disk
    refuses otherwise (a full disk, a directory that cannot be made) is an OSError or
    sqlite3.Error for the caller, who decides how to go on (see JudgeService).

    A subclass names its file, its table and the words its notes use."""

    FILENAME: ClassVar[str]
    TABLE: ClassVar[str]
    LABEL: ClassVar[str]  # how notes name the store: "judge cache"
    HOLDS: ClassVar[str]  # what its table holds: "judge replies"
    ENTRIES: ClassVar[str]  # what one note calls its entries: "replies"

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
        self.path = directory / self.FILENAME
        self.display = f"{display}/{self.FILENAME}" if display else str(self.path)
        self.stats = CacheStats()
        self._notes = _Notes()
        self._busy_timeout_s = busy_timeout_s
        self._retry_for_s = retry_for_s
        self._lock = threading.Lock()
        # A warm store this process may not write is still read; put() then stores
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
        """One line each: a file moved aside, the store given up on (entries dropped are
        counted in stats, and summed over processes for the caller's note)."""
        return list(self._notes.lines)

    def _get(self, key: str, decode: Callable[[object], T]) -> T | None:
        """`decode` of the value stored for `key`; None for a miss, or for an entry that
        fails `decode` (BadEntry), which is dropped."""
        table = self.TABLE

        def read(db: sqlite3.Connection) -> object:
            row = db.execute(f"SELECT value FROM {table} WHERE key = ?", (key,)).fetchone()
            return None if row is None else row[0]

        value = self._run(read, None)
        if value is None:
            self.stats.misses += 1
            return None
        try:
            decoded = decode(value)
        except BadEntry:
            self.stats.misses += 1

            def drop(db: sqlite3.Connection) -> int:
                # Only this very value: another process may have stored a good one since.
                cursor = db.execute(
                    f"DELETE FROM {table} WHERE key = ? AND value IS ?", (key, value)
                )
                return cursor.rowcount

            # Counted by the one process (or thread) whose DELETE removed it: two that read
            # the same bad entry at once are one entry dropped. A read-only store keeps it,
            # and this process skips it.
            if self.read_only or self._run(drop, 0) > 0:
                self.stats.dropped += 1
            return None
        self.stats.hits += 1
        return decoded

    def _put(self, key: str, blob: str) -> None:
        if self.read_only:
            return
        table = self.TABLE

        def write(db: sqlite3.Connection) -> bool:
            db.execute(
                f"INSERT OR REPLACE INTO {table} (key, value, created) VALUES (?, ?, ?)",
                (key, blob, time.time()),
            )
            return True

        if self._run(write, False):
            self.stats.writes += 1

    def __len__(self) -> int:
        table = self.TABLE

        def count(db: sqlite3.Connection) -> int:
            (rows,) = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
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
                        f"{self.LABEL} {self.display} stayed locked for "
                        f"{self._retry_for_s:g} s; some {self.ENTRIES} were not cached"
                    )
                else:
                    raise
                return default

    def _open(self, first: sqlite3.DatabaseError | None = None) -> sqlite3.Connection | None:
        """A connection, after moving an unreadable file aside; None (the store off for
        this process) when the file stays locked, or is unreadable where it cannot be
        moved. `first`: the error that led here (another process may have replaced the
        file since: then it is simply opened)."""
        try:
            return self._connect()
        except sqlite3.DatabaseError as error:
            if _busy(error):
                self._notes.add(
                    f"{self.LABEL} {self.display} stayed locked for {self._retry_for_s:g} s; "
                    "this process runs without it"
                )
                return None
            if not _unreadable(error):
                raise
            if self.read_only:
                self._notes.add(
                    f"{self.LABEL} {self.display} is unreadable ({first or error}) and "
                    "read-only, so it stays; this process runs without it"
                )
                return None
            try:
                self._set_aside(first or error)
            except OSError as moving:
                self._notes.add(
                    f"{self.LABEL} {self.display} is unreadable ({first or error}) and could "
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
            self._notes.add(f"{self.LABEL} {self.display} could not be opened ({error}); off")
            return None

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            uri = self.path.absolute().as_uri()
            try:
                return self._checked(f"{uri}?mode=ro", self._check)
            except sqlite3.OperationalError as error:
                if _busy(error):
                    raise
                # A WAL database opens read-only only beside its -shm file, which a
                # read-only directory cannot hold: immutable reads the file as it is,
                # without locks.
                return self._checked(f"{uri}?mode=ro&immutable=1", self._check)
        return self._checked(self.path, self._prepare)

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
        name = self.FILENAME
        target = self.path.with_name(f"{name}.corrupt-{stamp}")
        number = 1
        while target.exists():
            number += 1
            target = self.path.with_name(f"{name}.corrupt-{stamp}-{number}")
        # The WAL and shared-memory files go too: left behind, SQLite would replay the old
        # WAL into the fresh file.
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{self.path}{suffix}", f"{target}{suffix}")
        self._notes.add(
            f"{self.LABEL} {self.display} was unreadable ({error}); moved it aside to "
            f"{target.name} and started a fresh cache"
        )

    def _prepare(self, db: sqlite3.Connection) -> None:
        """WAL mode and the table; raises sqlite3.DatabaseError for a file that is not a
        store SQLite can read (the first read of the file finds a bad header or a cut
        file)."""
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {self.TABLE} ("
            " key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
        )
        self._check(db)

    def _check(self, db: sqlite3.Connection) -> None:
        """Raises sqlite3.DatabaseError unless `db` holds this store's table (all a
        read-only store is checked for: it is neither set up nor changed)."""
        columns = tuple(row[1] for row in db.execute(f"PRAGMA table_info({self.TABLE})"))
        if columns != _COLUMNS:
            raise sqlite3.DatabaseError(f"{_FOREIGN}{self.HOLDS}: {columns}")
        db.execute(f"SELECT key FROM {self.TABLE} LIMIT 1").fetchall()


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
    if _FOREIGN in text:
        return True
    code = _code(error)
    if code is not None:
        return code in _UNREADABLE_CODES
    return any(words in text for words in _UNREADABLE_WORDS)
