"""Throughput of the whole search loop (strategy, executor, store) with the table evaluator.

10,000 trials on the DisWOT s1 table; costs come from built models, so the first time an
arch is seen costs a model build and MAC count (64 archs), and later samples of the same
arch are reused from the store. The process's resident memory is sampled while each search
runs and reported at its start, middle and end (by trials stored): memory per trial should
stay flat. A search stops at its space's size in paid trials (64 here), so --wide also runs
10,000 paid trials over a restricted mnasnet space of 20,736 archs with a *generated* table
(seeded random accuracies and costs: a fixture that exercises the loop, not a result).
Writes results/search_overhead.json.
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

import itertools

import numpy as np
import yaml

from distillnas.benchmarks import BenchmarkTable, table_path, write_benchmark
from distillnas.spaces import build_space
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


WIDE = {"name": "mnasnet", "preset": "tiny", "blocks": 4, "restrict": {
    "b*.op": ["dconv", "mb3", "mb6"], "b*.kernel": [3, 5], "b*.se": [0.0], "b*.skip": ["id", "no"],
    "b*.width": [1.0], "b*.depth": [0]}}


def wide_table(path: Path) -> Path:
    """Every arch of the WIDE space with seeded accuracies, params, MACs and latency."""
    space = build_space(**WIDE)
    rng = np.random.default_rng(0)
    table = BenchmarkTable({"space": WIDE, "dataset": "mnist5k", "input": "1x28x28", "classes": 10,
                            "teacher": "none (generated values: a loop fixture)"},
                           ["accuracy", "params", "macs", "latency_ms"])
    for tokens in itertools.product(*[range(n) for n in space.sizes]):
        table.rows[space.table_key(list(tokens))] = [float(rng.uniform(80, 99)), float(rng.integers(1e4, 1e5)),
                                                     float(rng.integers(1e5, 1e7)), float(rng.uniform(0.2, 3))]
    return write_benchmark(path, table)


def run(name: str, tmp: Path, overrides: list[str], config: str = "akd_diswot") -> dict:
    """One search, its resident memory sampled by trials stored."""
    cfg = load_search_config(config, [f"--run_dir={tmp / 'run'}", f"--strategy.name={name}", *overrides])
    samples: list[tuple[int, float]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(tmp / "run" / "trials.sqlite", stop, samples))
    sampler.start()
    try:
        out = run_search(cfg, progress=False)
    finally:
        stop.set()
        sampler.join()
    return {"strategy": name, "trials": out.trials, "evaluated": out.evaluated, "wall_s": out.wall_s,
            "ms_per_trial": 1000 * out.wall_s / out.trials, "rss_start_mb": at(samples, 0.01, out.trials),
            "rss_mid_mb": at(samples, 0.5, out.trials), "rss_end_mb": at(samples, 1.0, out.trials)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--trials", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--strategies", default="random,evolution,ppo")
    p.add_argument("--wide", default="random,ppo", help="strategies to run on the generated 20,736-arch table")
    a = p.parse_args()
    rows = []
    for name in a.strategies.split(","):
        tmp = Path(tempfile.mkdtemp())
        rows.append({"table": "diswot_s1_kd", **run(name, tmp, [f"--evaluator.table={TABLE}", "--cost.latency=none",
                                                                f"--search.trials={a.trials}",
                                                                f"--search.batch_size={a.batch}"])})
        shutil.rmtree(tmp)
    for name in (a.wide.split(",") if a.wide else []):
        tmp = Path(tempfile.mkdtemp())
        config = tmp / "wide.yaml"
        config.write_text(yaml.safe_dump({
            "name": "wide", "data": {"name": "mnist5k"}, "space": WIDE, "strategy": {"name": name, "seed": 0},
            "evaluator": {"name": "table", "table": str(wide_table(tmp / "wide.txt"))},
            "reward": {"metric": "latency_ms", "target": 2.0, "mode": "soft"}, "cost": {"latency": "none"},
            "search": {"trials": a.trials, "batch_size": a.batch, "top_k": 5}}))
        rows.append({"table": "generated, 20,736 archs", **run(name, tmp, [], str(config))})
        shutil.rmtree(tmp)
    report("search_overhead", rows, {"args": vars(a)})


if __name__ == "__main__":
    main()
