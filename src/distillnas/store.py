"""The run's trial store: SQLite in WAL mode, append-only, one transaction per trial.

Tables: `meta` (key/value), `batches` (the archs a strategy asked for, per batch, and
whether it has been told the rewards), `trials` (one row per (batch, slot), unique, so a
resumed run can neither lose nor repeat a finished trial).
"""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from .errors import DistillnasError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    batch INTEGER PRIMARY KEY, archs TEXT NOT NULL, told INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY AUTOINCREMENT, batch INTEGER NOT NULL, slot INTEGER NOT NULL,
    arch TEXT NOT NULL, tokens TEXT NOT NULL, status TEXT NOT NULL, accuracy REAL, params INTEGER,
    macs INTEGER, latency_ms REAL, wall_s REAL, error TEXT, extra TEXT, created REAL NOT NULL,
    UNIQUE (batch, slot));
CREATE INDEX IF NOT EXISTS trials_arch ON trials (arch);
CREATE TABLE IF NOT EXISTS finals (
    id INTEGER PRIMARY KEY AUTOINCREMENT, arch TEXT NOT NULL, loss TEXT NOT NULL, seed INTEGER NOT NULL,
    status TEXT NOT NULL, accuracy REAL, params INTEGER, epochs REAL, checkpoint TEXT, created REAL NOT NULL);
"""
COLUMNS = ("id", "batch", "slot", "arch", "tokens", "status", "accuracy", "params", "macs", "latency_ms",
           "wall_s", "error", "extra", "created")


class TrialStore:
    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.is_file():
            raise DistillnasError(f"{str(self.path.parent)!r} is not a run directory (no {self.path.name})")
        self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        if not readonly:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- meta ---------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    # --- batches ------------------------------------------------------------------------
    def add_batch(self, batch: int, archs: Iterable[Iterable[int]]) -> None:
        self.db.execute("INSERT INTO batches (batch, archs, created) VALUES (?, ?, ?)",
                        (batch, json.dumps([list(a) for a in archs]), time.time()))

    def batch_archs(self, batch: int) -> list[tuple[int, ...]] | None:
        row = self.db.execute("SELECT archs FROM batches WHERE batch = ?", (batch,)).fetchone()
        return [tuple(a) for a in json.loads(row[0])] if row else None

    def mark_told(self, batch: int) -> None:
        self.db.execute("UPDATE batches SET told = 1 WHERE batch = ?", (batch,))

    def next_batch(self) -> int:
        """The first batch not yet told to the strategy (asked-but-unfinished batches included)."""
        row = self.db.execute("SELECT MIN(batch) FROM batches WHERE told = 0").fetchone()
        if row[0] is not None:
            return int(row[0])
        row = self.db.execute("SELECT MAX(batch) FROM batches").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    # --- trials -------------------------------------------------------------------------
    def add_trial(self, batch: int, slot: int, r: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO trials (batch, slot, arch, tokens, status, accuracy, params, macs, latency_ms, wall_s, "
            "error, extra, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (batch, slot, r["arch"], json.dumps(list(r["tokens"])), r["status"], r.get("accuracy"), r.get("params"),
             r.get("macs"), r.get("latency_ms"), r.get("wall_s"), r.get("error", ""),
             json.dumps(r.get("extra") or {}), time.time()))

    def _rows(self, where: str = "", args: tuple = (), limit: int = -1) -> list[dict[str, Any]]:
        cur = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM trials {where} ORDER BY id LIMIT {int(limit)}", args)
        out = []
        for row in cur.fetchall():
            d = dict(zip(COLUMNS, row))
            d["tokens"], d["extra"] = json.loads(d["tokens"]), json.loads(d["extra"] or "{}")
            out.append(d)
        return out

    def batch_results(self, batch: int) -> dict[int, dict[str, Any]]:
        return {r["slot"]: r for r in self._rows("WHERE batch = ?", (batch,))}

    def trials(self, status: str | None = None) -> list[dict[str, Any]]:
        return self._rows("WHERE status = ?", (status,)) if status else self._rows()

    def find(self, arch: str) -> dict[str, Any] | None:
        """The first finished, successful trial of this arch (to reuse instead of retraining)."""
        rows = self._rows("WHERE arch = ? AND status = 'ok'", (arch,), limit=1)
        return rows[0] if rows else None

    # --- final trainings (train --from-run) ---------------------------------------------
    def add_final(self, arch: str, loss: str, seed: int, status: str, accuracy: float | None, params: int,
                  epochs: float, checkpoint: str | None) -> None:
        self.db.execute("INSERT INTO finals (arch, loss, seed, status, accuracy, params, epochs, checkpoint, created) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (arch, loss, seed, status, accuracy, params, epochs, checkpoint, time.time()))

    def finals(self) -> list[dict[str, Any]]:
        cols = ("arch", "loss", "seed", "status", "accuracy", "params", "epochs", "checkpoint")
        try:
            rows = self.db.execute(f"SELECT {', '.join(cols)} FROM finals ORDER BY id").fetchall()
        except sqlite3.OperationalError:  # a store written before finals existed
            return []
        return [dict(zip(cols, r)) for r in rows]

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM trials").fetchone()[0])
