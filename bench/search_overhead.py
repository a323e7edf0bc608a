"""Throughput of the whole search loop (strategy, executor, store) with the table evaluator.

10,000 trials on the DisWOT s1 table; costs come from built models, so the first time an
arch is seen costs a model build and MAC count (64 archs), and later samples of the same
arch are reused from the store. Writes results/search_overhead.json.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from distillnas.runconfig import load_search_config
from distillnas.search import run_search

from _common import report

TABLE = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "diswot_s1" / "kd_accuracy.txt"


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
        out = run_search(cfg, progress=False)
        rows.append({"strategy": name, "trials": out.trials, "evaluated": out.evaluated, "wall_s": out.wall_s,
                     "trials_per_s": out.trials / out.wall_s})
        shutil.rmtree(tmp)
    report("search_overhead", rows, {"args": vars(a)})


if __name__ == "__main__":
    main()
