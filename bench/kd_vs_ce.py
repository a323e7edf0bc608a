"""A KD-guided and a CE-guided AKD search on mnist5k (same seed, same budget), the top
students of each retrained with CE and with KD, and one report comparing the two.

Writes results/akd_kd/, results/akd_ce/ and results/kd_vs_ce_report/index.html.
"""
from __future__ import annotations

import argparse
import time

from distillnas.analysis import build_report
from distillnas.runconfig import load_search_config
from distillnas.retrain import retrain_from_run
from distillnas.search import run_search

from _common import RESULTS


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--top", type=int, default=2)
    p.add_argument("--epochs", type=float, default=5)
    p.add_argument("--trials", type=int, default=32)
    a = p.parse_args()
    runs = {}
    for guide in ("kd", "ce"):
        run_dir = RESULTS / f"akd_{guide}"
        overrides = [f"--run_dir={run_dir}", f"--evaluator.proxy.loss.name={guide}", f"--search.trials={a.trials}"]
        if guide == "ce":  # the KD-guided run's teacher, for the CE-guided run's KD retrainings
            overrides.append(f"--teacher.spec=[{RESULTS / 'akd_kd' / 'teacher'}]")
        cfg = load_search_config(None, overrides)
        t = time.perf_counter()
        out = run_search(cfg, progress=False)
        print(f"{guide}-guided search: {out.trials} trials in {time.perf_counter() - t:.0f} s", flush=True)
        for loss in ("ce", "kd"):
            for r in retrain_from_run(run_dir, top=a.top, epochs=a.epochs, seeds=[0], loss=loss):
                print(f"  {guide}-guided student, trained with {loss}: {100 * r.metrics.get('test', 0):.2f} "
                      f"({r.params:,} params) {r.arch}", flush=True)
        runs[guide] = run_dir
    print(build_report([runs["kd"], runs["ce"]], RESULTS / "kd_vs_ce_report"))


if __name__ == "__main__":
    main()
