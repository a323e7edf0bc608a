"""The run's trial store: SQLite in WAL mode, append-only, one transaction per trial.

Tables: `meta` (key/value), `batches` (the archs a strategy asked for, per batch, and
whether it has been told the rewards), `trials` (one row per (batch, slot), unique, so a
resumed run can neither lose nor repeat a finished trial).
"""
from __future__ import annotations

import json
import math
import os
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


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def to_json(obj: Any) -> str:
    """JSON that SQLite's json functions can read: NaN and inf (which Python's json writes as
    bare words, and SQLite rejects as malformed) become null."""
    return json.dumps(_finite(obj), allow_nan=False)


def is_disk_full(e: BaseException) -> bool:
    """SQLite's SQLITE_FULL: the disk (or its quota) has no room for the next page."""
    return getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(e)


def no_space(path: Path | None = None) -> str:
    """The full-disk message: naming the store where it is known (opening it), else its directory."""
    where = f"the run store {str(path)!r}" if path is not None else "the run directory"
    return (f"no space left on the device holding {where}; the run store is unharmed: free space there and run "
            "the same command to resume (no finished trial is lost)")


class TrialStore:
    """Durability: WAL with synchronous=FULL, so a trial whose insert returned survives a
    killed process *and* a power loss or VM crash (NORMAL can lose the last commits on power
    loss). bench/store_durability.py measures the cost: milliseconds against seconds a trial.

    A file that is not a healthy SQLite database is refused with a one-line error and never
    written to (no schema is created, nothing is rolled back or vacuumed)."""

    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.is_file():
            raise DistillnasError(f"{str(self.path.parent)!r} is not a run directory (no {self.path.name})")
        if self.path.is_dir():
            raise DistillnasError(f"run store {str(self.path)!r} is a directory, not a SQLite file")
        if (not readonly and self.path.is_file() and self.path.stat().st_size == 0
                and not Path(f"{self.path}-wal").exists()):  # a store once written, emptied since
            raise DistillnasError(f"run store {str(self.path)!r} is empty (0 bytes): its trials are gone. Restore "
                                  "it from a backup, or delete it (with strategy.pt) to start the search afresh")
        try:
            if readonly:  # in a read-only directory, immutable: SQLite then needs no -wal/-shm files
                mode = "mode=ro" if os.access(self.path.parent, os.W_OK) else "immutable=1"
                self.db = sqlite3.connect(f"file:{self.path}?{mode}", uri=True, isolation_level=None)
            else:
                self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._check_health()
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
                self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            if is_disk_full(e):
                raise DistillnasError(no_space(self.path)) from None
            raise DistillnasError(self._corrupt(str(e))) from None

    def _check_health(self) -> None:
        """quick_check reads every page (a store holds thousands of rows: milliseconds)."""
        if self.path.is_file() and self.path.stat().st_size > 0:
            result = self.db.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise sqlite3.DatabaseError(result)

    def _corrupt(self, detail: str) -> str:
        return (f"run store {str(self.path)!r} is corrupt or not a SQLite database ({detail}); it was left "
                "untouched. Restore it from a backup, or move it away (with strategy.pt) to start the search afresh")

    def close(self) -> None:
        """Close the connection (a read-only store never wrote)."""
        self.db.close()

    # --- per-batch statistics of the strategy (meta table, key 'batch/<b>') -------------
    def add_batch_stats(self, batch: int, stats: dict[str, float]) -> None:
        """Keep a strategy's statistics for batch `batch` (entropy, KL, ...), for the report."""
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"batch/{batch}", to_json(stats)))

    def screen_kept(self) -> dict[int, dict[int, float]]:
        """batch -> {slot: screen score} of the archs a zero-cost screen let through."""
        rows = self.db.execute("SELECT key, value FROM meta WHERE key LIKE 'screen/%'").fetchall()
        return dict(sorted((int(k.split("/")[1]), {int(s): v for s, v in json.loads(v).items()}) for k, v in rows))

    def batch_stats(self) -> dict[int, dict[str, float]]:
        """{batch: statistics} of every batch that recorded some."""
        rows = self.db.execute("SELECT key, value FROM meta WHERE key LIKE 'batch/%'").fetchall()
        return dict(sorted((int(k.split("/")[1]), json.loads(v)) for k, v in rows))

    # --- batches ------------------------------------------------------------------------
    def add_batch(self, batch: int, archs: Iterable[Iterable[int]]) -> None:
        """Record the archs batch `batch` asked for, before any is evaluated (a resume re-asks nothing)."""
        self.db.execute("INSERT INTO batches (batch, archs, created) VALUES (?, ?, ?)",
                        (batch, json.dumps([list(a) for a in archs]), time.time()))

    def batch_archs(self, batch: int) -> list[tuple[int, ...]] | None:
        """The archs batch `batch` asked for, in slot order (None when it was never asked)."""
        row = self.db.execute("SELECT archs FROM batches WHERE batch = ?", (batch,)).fetchone()
        return [tuple(a) for a in json.loads(row[0])] if row else None

    def mark_told(self, batch: int) -> None:
        """Record that the strategy was told batch `batch`'s results."""
        self.db.execute("UPDATE batches SET told = 1 WHERE batch = ?", (batch,))

    def last_batch(self) -> int:
        """The highest batch stored, -1 for none."""
        row = self.db.execute("SELECT MAX(batch) FROM batches").fetchone()
        return -1 if row[0] is None else int(row[0])

    def is_told(self, batch: int) -> bool:
        """Whether batch `batch`'s results were told to the strategy."""
        row = self.db.execute("SELECT told FROM batches WHERE batch = ?", (batch,)).fetchone()
        return bool(row and row[0])

    def next_batch(self) -> int:
        """The first batch not yet told to the strategy (asked-but-unfinished batches included)."""
        row = self.db.execute("SELECT MIN(batch) FROM batches WHERE told = 0").fetchone()
        if row[0] is not None:
            return int(row[0])
        row = self.db.execute("SELECT MAX(batch) FROM batches").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    # --- trials -------------------------------------------------------------------------
    def add_trial(self, batch: int, slot: int, r: dict[str, Any]) -> None:
        """Store one trial's result in its (batch, slot); the table holds one result per slot."""
        self.db.execute(
            "INSERT INTO trials (batch, slot, arch, tokens, status, accuracy, params, macs, latency_ms, wall_s, "
            "error, extra, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (batch, slot, r["arch"], json.dumps(list(r["tokens"])), r["status"], r.get("accuracy"), r.get("params"),
             r.get("macs"), r.get("latency_ms"), r.get("wall_s"), r.get("error", ""),
             to_json(r.get("extra") or {}), time.time()))

    def _rows(self, where: str = "", args: tuple = (), limit: int = -1) -> list[dict[str, Any]]:
        cur = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM trials {where} ORDER BY id LIMIT {int(limit)}", args)
        out = []
        for row in cur.fetchall():
            d = dict(zip(COLUMNS, row))
            d["tokens"], d["extra"] = json.loads(d["tokens"]), json.loads(d["extra"] or "{}")
            out.append(d)
        return out

    def batch_results(self, batch: int) -> dict[int, dict[str, Any]]:
        """{slot: result} of batch `batch`, promotions (slots past the batch size) included."""
        return {r["slot"]: r for r in self._rows("WHERE batch = ?", (batch,))}

    def trials(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every stored trial (of `status`, when given), in insertion order."""
        return self._rows("WHERE status = ?", (status,)) if status else self._rows()

    def trials_after(self, last_id: int) -> list[dict[str, Any]]:
        """The trials stored after id `last_id`, in order (the store is append-only, so a reader
        can follow a running search this way)."""
        return self._rows("WHERE id > ?", (int(last_id),))

    def find(self, arch: str, fidelity: float | None = None) -> dict[str, Any] | None:
        """The first finished, successful trial of this arch (to reuse instead of retraining), at
        `fidelity` (extra.fidelity: proxy epochs of a multi-fidelity run; None: a run without)."""
        if fidelity is None:
            rows = self._rows("WHERE arch = ? AND status = 'ok' AND json_extract(extra, '$.fidelity') IS NULL",
                              (arch,), limit=1)
        else:
            rows = self._rows("WHERE arch = ? AND status = 'ok' AND json_extract(extra, '$.fidelity') = ?",
                              (arch, float(fidelity)), limit=1)
        return rows[0] if rows else None

    # --- final trainings (train --from-run) ---------------------------------------------
    def add_final(self, arch: str, loss: str, seed: int, status: str, accuracy: float | None, params: int,
                  epochs: float, checkpoint: str | None) -> None:
        """Record one retraining of a search's student (train --from-run)."""
        self.db.execute("INSERT INTO finals (arch, loss, seed, status, accuracy, params, epochs, checkpoint, created) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (arch, loss, seed, status, accuracy, params, epochs, checkpoint, time.time()))

    def finals(self) -> list[dict[str, Any]]:
        """Every recorded retraining, in order."""
        cols = ("arch", "loss", "seed", "status", "accuracy", "params", "epochs", "checkpoint")
        try:
            rows = self.db.execute(f"SELECT {', '.join(cols)} FROM finals ORDER BY id").fetchall()
        except sqlite3.OperationalError:  # a store written before finals existed
            return []
        return [dict(zip(cols, r)) for r in rows]

    def add_trials(self, batch: int, results: dict[int, dict[str, Any]], kept: dict[int, float] | None = None) -> None:
        """Several trials of one batch in one transaction: all stored or none (a screening pass);
        `kept`: the screen's scores of the slots it let through (meta 'screen/<batch>')."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for slot, r in results.items():
                self.add_trial(batch, slot, r)
            if kept is not None:
                self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"screen/{batch}", to_json(kept)))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def count_paid(self) -> int:
        """Trials actually evaluated: repeats of a stored arch (extra.reused_from) are free, and
        so are candidates a zero-cost screen turned away (status 'screened')."""
        return int(self.db.execute(
            "SELECT COUNT(*) FROM trials WHERE json_extract(extra, '$.reused_from') IS NULL "
            "AND status != 'screened'").fetchone()[0])

    def count_reused(self) -> int:
        """Repeats of a stored arch: told to the strategy, not paid for."""
        return int(self.db.execute(
            "SELECT COUNT(*) FROM trials WHERE json_extract(extra, '$.reused_from') IS NOT NULL").fetchone()[0])

    def stale_batches(self) -> int:
        """How many of the last told batches, in a row, evaluated nothing new (only repeats)."""
        rows = self.db.execute(
            "SELECT b.batch, SUM(json_extract(t.extra, '$.reused_from') IS NULL AND t.status != 'screened') "
            "FROM batches b "
            "JOIN trials t ON t.batch = b.batch WHERE b.told = 1 GROUP BY b.batch ORDER BY b.batch DESC").fetchall()
        n = 0
        for _, paid in rows:
            if paid:
                break
            n += 1
        return n

    def count(self, status: str | None = None) -> int:
        """How many trials are stored (of `status`, when given)."""
        if status is None:
            return int(self.db.execute("SELECT COUNT(*) FROM trials").fetchone()[0])
        return int(self.db.execute("SELECT COUNT(*) FROM trials WHERE status = ?", (status,)).fetchone()[0])
