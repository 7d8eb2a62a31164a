"""Blob receipts: which (function, blob, etag) have been processed, kept in sqlite under --data-dir."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class ReceiptStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS receipts (function TEXT NOT NULL, blob TEXT NOT NULL, "
            "etag TEXT NOT NULL, outcome TEXT NOT NULL, at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, "
            "PRIMARY KEY (function, blob, etag))"
        )
        self._db.commit()

    def has(self, function: str, blob: str, etag: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM receipts WHERE function = ? AND blob = ? AND etag = ?", (function, blob, etag)
            ).fetchone()
        return row is not None

    def add(self, function: str, blob: str, etag: str, outcome: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO receipts (function, blob, etag, outcome) VALUES (?, ?, ?, ?)",
                (function, blob, etag, outcome),
            )
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()
