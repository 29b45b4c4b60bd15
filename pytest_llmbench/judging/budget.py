"""The run's spend on judge calls, shared by every process of the run.

A small SQLite ledger beside the run record. Before a call is sent its worst-case cost is
reserved (`worst_case_cost`), and it is sent only if what is spent plus what is reserved,
itself included, stays within the limit; when it returns, its reservation is settled to
what it really cost. Spend therefore never passes the limit while calls cost no more than
their worst case, with any number of calls in flight and xdist workers sharing the ledger.

A call that does not fit while others hold reservations waits for them to settle rather
than give up (they may cost far less than reserved); it gives up only once nothing that
could still settle would make room. Reservations of a process that died, or held longer
than their call could take, can no longer settle: they stay counted, but are not waited for.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_llmbench.results.schema import RunBudget

if TYPE_CHECKING:
    from pytest_llmbench.benchmark.judge_config import JudgeConfig

__all__ = [
    "Budget",
    "Refusal",
    "Reservation",
    "prompt_token_bound",
    "worst_case_cost",
]

# A call may pay for two replies: an unusable one is asked again once.
REPLIES_PER_CALL = 2
# The completion tokens assumed for a reply when the judge sets no max_tokens (a judge's
# JSON of scores takes tens; set max_tokens to make the bound the server's own).
COMPLETION_TOKENS_UNSET = 1024
# The response_format's JSON schema, per metric it names (about 60 bytes, with room).
SCHEMA_BYTES_PER_METRIC = 96


def prompt_token_bound(messages: Sequence[Mapping[str, str]], metrics: Sequence[str]) -> int:
    """An upper bound on a request's prompt tokens: one per UTF-8 byte of its messages as
    JSON, plus the schema. Byte-level BPE tokenizers (GPT, Llama 3, Qwen, Mistral's) never
    take more than a token per byte, nor do SentencePiece ones with byte fallback; the
    JSON's quotes and keys leave room for the chat template's tokens around each message."""
    text = json.dumps(list(messages), ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "replace")) + SCHEMA_BYTES_PER_METRIC * len(metrics)


def worst_case_cost(
    judge: JudgeConfig, messages: Sequence[Mapping[str, str]], metrics: Sequence[str]
) -> float | None:
    """What one call of `judge` with these messages can cost at most, in USD; None without
    a price (nothing to count)."""
    if judge.price is None:
        return None
    completion = judge.max_tokens if judge.max_tokens is not None else COMPLETION_TOKENS_UNSET
    per_reply = judge.price.cost(prompt_token_bound(messages, metrics), completion)
    return REPLIES_PER_CALL * per_reply


@dataclass(frozen=True)
class Reservation:
    """Room held in the ledger for one call in flight, until `Budget.settle`."""

    id: int
    amount: float


@dataclass(frozen=True)
class Refusal:
    """A call the budget cannot make room for, however the calls in flight settle."""

    amount: float  # the call's worst case
    spent: float
    stranded: float  # held by calls that can no longer settle (their process died)


class Budget:
    def __init__(self, limit_usd: float, ledger: Path) -> None:
        self.limit_usd = limit_usd
        ledger.parent.mkdir(parents=True, exist_ok=True)
        self.path = ledger
        self._lock = threading.Lock()
        import sqlite3  # only for a run with a budget

        self._db = sqlite3.connect(
            ledger, timeout=30.0, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        # Two commits a call: no fsync each. The ledger lives for one run; a power cut
        # ends the run anyway.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS spend (cost REAL NOT NULL)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS held (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "amount REAL NOT NULL, pid INTEGER NOT NULL, until REAL NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS refused (amount REAL NOT NULL)")

    def spent(self) -> float:
        with self._lock:
            return self._spent()

    def reserve(
        self, amount: float, hold_s: float, *, count_refusal: bool = True
    ) -> Reservation | Refusal | None:
        """Hold `amount` for a call about to be sent, for at most `hold_s` (the longest the
        call can take). A Refusal when it cannot fit whatever settles (counted among the
        refused calls unless `count_refusal` is false: a call judged ahead, which its item
        then asks for itself); None when it does not fit now but may once calls in flight
        settle (ask again then)."""
        now = time.time()
        with self._lock:
            # IMMEDIATE: the check and the hold are one step for every process of the run.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                spent = self._spent()
                rows = self._db.execute("SELECT amount, pid, until FROM held").fetchall()
                held = math.fsum(row[0] for row in rows)
                if math.fsum([spent, held, amount]) <= self.limit_usd:
                    cursor = self._db.execute(
                        "INSERT INTO held (amount, pid, until) VALUES (?, ?, ?)",
                        (amount, os.getpid(), now + hold_s),
                    )
                    assert cursor.lastrowid is not None
                    return Reservation(cursor.lastrowid, amount)
                stranded = math.fsum(a for a, pid, until in rows if until < now or _gone(pid))
                if math.fsum([spent, stranded, amount]) > self.limit_usd:
                    if count_refusal:
                        self._db.execute("INSERT INTO refused (amount) VALUES (?)", (amount,))
                    return Refusal(amount, spent, stranded)
                return None
            finally:
                self._db.execute("COMMIT")

    def settle(self, reservation: Reservation, cost: float) -> None:
        """The call is done and cost `cost`: what it held becomes what it spent."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM held WHERE id = ?", (reservation.id,))
                if cost > 0:
                    self._db.execute("INSERT INTO spend (cost) VALUES (?)", (cost,))
            finally:
                self._db.execute("COMMIT")

    def add(self, cost: float) -> None:
        """Spend `cost` with no reservation (for a judge whose worst case is unknown)."""
        if cost <= 0:
            return
        with self._lock:
            self._db.execute("INSERT INTO spend (cost) VALUES (?)", (cost,))

    def summary(self) -> RunBudget:
        """The run's budget for the record: limit, spent, still held (calls that never
        returned), and the calls it refused."""
        with self._lock:
            spent = self._spent()
            (held,) = self._db.execute("SELECT COALESCE(SUM(amount), 0) FROM held").fetchone()
            (refused,) = self._db.execute("SELECT COUNT(*) FROM refused").fetchone()
        return {
            "limit_usd": self.limit_usd,
            "spent_usd": spent,
            "held_usd": float(held),
            "refused_calls": int(refused),
        }

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _spent(self) -> float:
        (total,) = self._db.execute("SELECT COALESCE(SUM(cost), 0) FROM spend").fetchone()
        return float(total)


def _gone(pid: int) -> bool:
    """Whether process `pid` (a worker of this run, on this machine) has ended."""
    if pid == os.getpid() or sys.platform == "win32":  # there, os.kill(pid, 0) would kill it
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, as someone else's
        return False
    return False
