"""What synchronous=FULL costs the trial store, against NORMAL (both WAL).

FULL makes every committed trial survive a power loss or VM crash (NORMAL survives a killed
process only). A trial takes seconds; this measures what the extra fsync adds per insert.
Writes results/store_durability.json.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from distillnas.store import TrialStore

from _common import report

TRIAL = {"arch": "mb6_k3_se0_id_w1.0_d+0|" * 7, "tokens": list(range(42)), "status": "ok", "accuracy": 0.9,
         "params": 12345, "macs": 678910, "latency_ms": 1.23, "wall_s": 4.5, "error": "", "extra": {"a": 1}}


def time_inserts(sync: str, n: int) -> list[float]:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as d:  # on the disk runs live on, not tmpfs
        store = TrialStore(Path(d) / "trials.sqlite")
        store.db.execute(f"PRAGMA synchronous={sync}")
        times = []
        for i in range(n):
            t = time.perf_counter()
            store.add_trial(i // 8, i % 8, TRIAL)
            times.append(time.perf_counter() - t)
        store.close()
    return times


def main(n: int = 500) -> None:
    rows = []
    for sync in ("NORMAL", "FULL", "NORMAL", "FULL"):  # interleaved: the disk's noise hits both
        t = time_inserts(sync, n)
        rows.append({"synchronous": sync, "inserts": n, "median_ms": 1e3 * statistics.median(t),
                     "p95_ms": 1e3 * sorted(t)[int(0.95 * n)], "total_s": sum(t)})
    report("store_durability", rows)


if __name__ == "__main__":
    main()
