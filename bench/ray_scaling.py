"""Parallel proxy trials: the default search's trials on 2 local Ray workers against 1.

The embedded default (`akd_mnist5k`: PPO, mnist5k, 2-epoch KD proxy trials) is run for
--trials trials in one batch, with the same teacher (trained once, in results/ray_scaling/)
and the same strategy seed, on a fresh local Ray instance of 1 and then of 2 CPUs, each trial
asking for 1 CPU and 1 torch thread. The ratio of the searches' wall times is the speed-up
(the goal: >= 1.8x on 2 cores). Latency is measured by the evaluator's cost model as in the
default, so both runs do the same work per trial. Writes results/ray_scaling.json.
"""
from __future__ import annotations

import argparse
import shutil

import ray

from distillnas.runconfig import load_search_config
from distillnas.search import run_search

from _common import RESULTS, report

OUT = RESULTS / "ray_scaling"


def search(run: str, cpus: int | None, trials: int, teacher: str | None) -> float:
    """Wall seconds of one search (setup excluded: the teacher is given, latency reference measured first)."""
    extra = [f"--teacher.spec=[{teacher}]"] if teacher else []
    executor = ["--execution.executor=ray", "--execution.threads=1"] if cpus else []
    cfg = load_search_config("akd_mnist5k", [f"--run_dir={OUT / run}", f"--search.trials={trials}",
                                             f"--search.batch_size={trials}", *executor, *extra])
    if cpus:
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        return run_search(cfg, progress=False).wall_s
    finally:
        if cpus:
            ray.shutdown()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=8)
    a = p.parse_args()
    teacher = OUT / "prepare" / "teacher"
    if not teacher.is_dir():  # trains the default ensemble once (and runs one trial)
        search("prepare", None, 1, None)
    rows = []
    for cpus in (1, 2):
        shutil.rmtree(OUT / f"cpus{cpus}", ignore_errors=True)
        wall = search(f"cpus{cpus}", cpus, a.trials, str(teacher))
        rows.append({"ray_cpus": cpus, "trials": a.trials, "wall_s": wall, "s_per_trial": wall / a.trials})
    for r in rows:
        r["speedup_vs_1"] = rows[0]["wall_s"] / r["wall_s"]
    report("ray_scaling", rows, {"args": vars(a)})


if __name__ == "__main__":
    main()
