"""Throughput of the whole search loop (strategy, executor, store) with the table evaluator.

10,000 trials on the DisWOT s1 table; costs come from built models, so the first time an
arch is seen costs a model build and MAC count (64 archs), and later samples of the same
arch are reused from the store. The process's resident memory is sampled while each search
runs and reported at its start, middle and end (by trials stored): memory per trial should
stay flat. Writes results/search_overhead.json.
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

from distillnas.benchmarks import table_path
from distillnas.runconfig import load_search_config
from distillnas.search import run_search

from _common import report

TABLE = table_path("diswot_s1_kd")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sample(db: Path, stop: threading.Event, out: list[tuple[int, float]]) -> None:
    """(trials stored, RSS MB) twice a second while the search runs."""
    while not stop.wait(0.5):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
                n = con.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        except sqlite3.Error:
            n = 0
        out.append((n, rss_mb()))


def at(samples: list[tuple[int, float]], share: float, total: int) -> float:
    """RSS of the first sample with at least share*total trials stored."""
    return next((r for n, r in samples if n >= share * total), samples[-1][1] if samples else float("nan"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--trials", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--strategies", default="random,evolution,ppo")
    a = p.parse_args()
    rows = []
    for name in a.strategies.split(","):
        tmp = Path(tempfile.mkdtemp())
        cfg = load_search_config("akd_diswot", [f"--run_dir={tmp / 'run'}", f"--strategy.name={name}",
                                                f"--evaluator.table={TABLE}", "--cost.latency=none",
                                                f"--search.trials={a.trials}", f"--search.batch_size={a.batch}"])
        samples: list[tuple[int, float]] = []
        stop = threading.Event()
        sampler = threading.Thread(target=sample, args=(tmp / "run" / "trials.sqlite", stop, samples))
        sampler.start()
        try:
            out = run_search(cfg, progress=False)
        finally:
            stop.set()
            sampler.join()
        rows.append({"strategy": name, "trials": out.trials, "evaluated": out.evaluated, "wall_s": out.wall_s,
                     "ms_per_trial": 1000 * out.wall_s / out.trials,
                     "rss_start_mb": at(samples, 0.01, out.trials), "rss_mid_mb": at(samples, 0.5, out.trials),
                     "rss_end_mb": at(samples, 1.0, out.trials)})
        shutil.rmtree(tmp)
    report("search_overhead", rows, {"args": vars(a)})


if __name__ == "__main__":
    main()
