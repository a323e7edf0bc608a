"""Parallel proxy trials: the default search's trials on 2 local Ray workers against 1.

The embedded default (`akd_mnist5k`: PPO, mnist5k, 2-epoch KD proxy trials) is run for
--trials trials in one batch, with the same teacher (trained once, in results/ray_scaling/)
and the same strategy seed, on a fresh local Ray instance of 1 and then of 2 CPUs, each trial
asking for 1 CPU and 1 torch thread. The ratio of the searches' wall times is the speed-up
(the goal: >= 1.8x on 2 cores). Latency is measured by the evaluator's cost model as in the
default, so both runs do the same work per trial.

The 2-CPU search runs twice: trials dispatched in the strategy's order (`fifo`), and longest
(most MACs) first, as the search does (`lpt`). Each row also gives the mean wall time of one
trial: its ratio to the 1-CPU run's is the slowdown of two trials sharing the machine, and
2 / that slowdown bounds the speed-up any dispatch order can reach. Writes
results/ray_scaling.json.
"""
from __future__ import annotations

import argparse
import shutil
import statistics

import ray

from distillnas.evaluators.proxy import ProxyEvaluator
from distillnas.runconfig import load_search_config
from distillnas.search import run_search
from distillnas.store import TrialStore

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
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3, help="times the three searches run, interleaved")
    a = p.parse_args()
    teacher = OUT / "prepare" / "teacher"
    if not teacher.is_dir():  # trains the default ensemble once (and runs one trial)
        search("prepare", None, 1, None)
    rows = [row for rep in range(a.repeats) for row in repeat(rep, a.trials, str(teacher))]
    summary = []
    for order in ("fifo", "lpt"):
        ups = [r["speedup_vs_1"] for r in rows if r["order"] == order]
        bounds = [r["bound"] for r in rows if r["order"] == order]
        summary.append({"order": order, "speedup_mean": statistics.mean(ups), "speedup_std": statistics.pstdev(ups),
                        "bound_mean": statistics.mean(bounds), "bound_std": statistics.pstdev(bounds)})
    report("ray_scaling", rows, {"args": vars(a), "summary": summary})
    for s in summary:
        print(f"{s['order']}: speed-up {s['speedup_mean']:.2f} +- {s['speedup_std']:.2f} (co-run bound "
              f"{s['bound_mean']:.2f} +- {s['bound_std']:.2f}) over {a.repeats} repeats")


def repeat(rep: int, trials: int, teacher: str) -> list[dict]:
    """One run of the three searches; ratios are taken within the run (the machine drifts)."""
    rows = []
    lpt = ProxyEvaluator.work
    for cpus, order in ((1, "-"), (2, "fifo"), (2, "lpt")):
        name = f"cpus{cpus}-{order}"
        shutil.rmtree(OUT / name, ignore_errors=True)
        ProxyEvaluator.work = lpt if order == "lpt" else (lambda self, tokens: 0.0)  # type: ignore[method-assign]
        wall = search(name, cpus, trials, teacher)
        trial_s = [t["wall_s"] for t in TrialStore(OUT / name / "trials.sqlite").trials()]
        rows.append({"repeat": rep, "ray_cpus": cpus, "order": order, "trials": trials, "wall_s": wall,
                     "mean_trial_s": sum(trial_s) / len(trial_s), "max_trial_s": max(trial_s)})
    ProxyEvaluator.work = lpt  # type: ignore[method-assign]
    for r in rows:
        r["speedup_vs_1"] = rows[0]["wall_s"] / r["wall_s"]
        r["corun_slowdown"] = r["mean_trial_s"] / rows[0]["mean_trial_s"]
        r["bound"] = r["ray_cpus"] / r["corun_slowdown"]
    return rows


if __name__ == "__main__":
    main()
