"""The run's spend on judge calls, shared by every process of the run.

A small SQLite ledger beside the run record: each process adds what its calls cost and
reads the total before starting a new call, so xdist workers stop together.
"""

from __future__ import annotations

import threading
from pathlib import Path


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
        self._db.execute("CREATE TABLE IF NOT EXISTS spend (cost REAL NOT NULL)")

    def spent(self) -> float:
        with self._lock:
            (total,) = self._db.execute("SELECT COALESCE(SUM(cost), 0) FROM spend").fetchone()
        return float(total)

    def exhausted(self) -> bool:
        return self.spent() >= self.limit_usd

    def add(self, cost: float) -> None:
        if cost <= 0:
            return
        with self._lock:
            self._db.execute("INSERT INTO spend (cost) VALUES (?)", (cost,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
