"""Cheaper trials, measured: full-fidelity search against successive halving, zero-cost
pre-screening and both, on the embedded default (akd_mnist5k), by proxy epochs spent.

Every method searches with the default strategy (PPO) over 3 strategy seeds; the top student
of each search is then retrained by KD (final section, --final-epochs, one seed) and scored on
the held-out test split. Budgets (proxy epochs, each seed of a trial counted):

  full      : --trials archs x --epochs                      (the reference budget B)
  full/5    : the same at a fifth of the archs               (what B/5 buys without tricks)
  sh/5      : a successive-halving bracket [1, epochs], eta 3, sized to about B/5
  screen/5  : full/5's archs chosen from 4x as many by the DisWOT score
  both/5    : sh/5 over 4x over-sampled, DisWOT-screened batches

    python bench/fidelity.py                      # about 40 minutes on 2 cores
    python bench/fidelity.py --trials 12 --final-epochs 4 --seeds 0   # a quick look

Writes results/fidelity.json; the runs stay in results/fidelity_runs/ (resumable).
"""
from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

from distillnas.retrain import retrain_from_run
from distillnas.runconfig import load_search_config
from distillnas.search import run_search
from distillnas.store import TrialStore

from _common import RESULTS, report

SCREEN = ["--evaluator.proxy.screen.score=diswot", "--evaluator.proxy.screen.factor=4"]


def methods(trials: int, epochs: int) -> dict[str, list[str]]:
    small = max(1, round(trials / 5))
    per_arch = 1 + (epochs - 1) / 3  # an SH bracket: every arch 1 epoch, a third continue to `epochs`
    bracket = max(3, round(small * epochs / per_arch))
    # rung 1 scored as trained, as when the README's numbers were measured (before fidelity.recalibrate)
    sh = [f"--evaluator.proxy.fidelity.epochs=[1, {epochs}]", "--evaluator.proxy.fidelity.eta=3",
          "--evaluator.proxy.fidelity.recalibrate=0",
          f"--search.batch_size={bracket}", f"--search.trials={bracket + math.ceil(bracket / 3)}"]
    return {"full": [f"--search.trials={trials}"],
            "full/5": [f"--search.trials={small}"],
            "sh/5": sh,
            "screen/5": [f"--search.trials={small}", *SCREEN],
            "both/5": [*sh, *SCREEN]}


def epochs_spent(run: Path, epochs: int) -> float:
    """Proxy epochs trained by a run (multi-fidelity trials count what they trained)."""
    store = TrialStore(run / "trials.sqlite", readonly=True)
    try:
        return sum(t["extra"].get("epochs_trained", epochs) for t in store.trials()
                   if t["status"] != "screened" and "reused_from" not in t["extra"])
    finally:
        store.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=24, help="archs of the full-fidelity search")
    p.add_argument("--epochs", type=int, default=3, help="proxy epochs at full fidelity")
    p.add_argument("--final-epochs", type=float, default=8)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=RESULTS / "fidelity_runs")
    a = p.parse_args()
    common = [f"--evaluator.proxy.epochs={a.epochs}", "--search.report_every_s=0", "--final.seeds=[0]",
              "--evaluator.proxy.warmup_epochs=0.5"]
    teacher = a.out / "teacher_run"
    # one teacher ensemble for every search (trained by the first search, then given to the others)
    first = load_search_config("akd_mnist5k", [f"--run_dir={teacher}", "--search.trials=1", *common])
    run_search(first, progress=False)
    spec = [str(f) for f in sorted((teacher / "teacher").glob("*.pt"))]
    rows, per = [], {}
    for name, extra in methods(a.trials, a.epochs).items():
        for seed in a.seeds:
            run = a.out / f"{name.replace('/', '_')}-seed{seed}"
            cfg = load_search_config("akd_mnist5k", [f"--run_dir={run}", f"--strategy.seed={seed}",
                                                     f"--teacher.spec={','.join(spec)}", *common, *extra])
            start = time.perf_counter()
            out = run_search(cfg, progress=False)
            search_s = time.perf_counter() - start
            best = out.best[0] if out.best else None
            final = retrain_from_run(run, 1, epochs=a.final_epochs)[0] if best else None
            row = {"method": name, "seed": seed, "paid_trials": out.trials, "proxy_epochs": epochs_spent(run, a.epochs),
                   "search_s": search_s, "best_reward": best.get("reward", 0.0) if best else 0.0,
                   "best_arch": best["arch"] if best else "",
                   "final_test_acc": 100 * final.metrics.get("test", float("nan")) if final else float("nan")}
            rows.append(row)
            per.setdefault(name, []).append(row)
            print(row, flush=True)
    summary = []
    for name, rs in per.items():
        acc = [r["final_test_acc"] for r in rs]
        rew = [r["best_reward"] for r in rs]
        summary.append({"method": name, "seeds": len(rs),
                        "proxy_epochs": statistics.mean(r["proxy_epochs"] for r in rs),
                        "search_s": statistics.mean(r["search_s"] for r in rs),
                        "best_reward": statistics.mean(rew), "reward_std": statistics.stdev(rew) if len(rew) > 1 else 0.0,
                        "final_test_acc": statistics.mean(acc), "acc_std": statistics.stdev(acc) if len(acc) > 1 else 0.0})
    report("fidelity", summary, {"runs": rows, "args": {k: str(v) for k, v in vars(a).items()}})


if __name__ == "__main__":
    main()
