"""Strategies on a large space at a small budget (issue 42 item 5), measured where it is cheap.

The `akd_fmnist` space has 42 decisions (~10^17.6 archs); a real proxy study there costs days of
CPU here. This bench asks the strategies the same question on a synthetic objective over that
space's exact decisions, so thousands of searches run in minutes:

    score(arch) = 0.85 + s * (sum_i w[i, a_i] + sum_i v[i, a_i, a_i+1])       (interactions: "pair")
    score(arch) = 0.85 + s * sum_i w[i, a_i]                                    (additive: "add")

with w, v ~ N(0, 1) drawn per seed and s set so that the archs' scores spread ~1.3 points (sd),
about the arch spread of the Fashion-MNIST proxy pilots, and every told reward carries 0.5
points of seed noise (bench/fmnist_pilot.py measured 0.3-0.7). Searches run in batches of 8,
as the search loop's; a strategy's result is the best *true* score among its paid archs after
N evaluations. Each seed draws one objective that every strategy searches, so strategies are
compared paired (Wilcoxon signed-rank against random search).

What it cannot say: how the real proxy's landscape looks. TPE models each decision on its own,
which the additive objective rewards; the "pair" objective adds as much variance again from
neighbouring decisions' interactions. Read it as "does this controller learn at all in 64
evaluations of a space this large", not as the proxy study.

    python bench/strategies_synthetic.py --objective pair --budget 64 --seeds 30

Writes results/strategies_synthetic_<objective>_<budget>.json.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from scipy.stats import wilcoxon

from distillnas.runconfig import load_search_config
from distillnas.setup import check_config

from _common import make_strategy, report

STRATEGIES = ("random", "ppo", "ppo_backtrack_kl0.2", "reinforce", "evolution", "tpe")
SPREAD, NOISE = 0.013, 0.005  # arch sd and seed noise of a told reward (fractions, not points)


def objective(sizes: list[int], kind: str, seed: int):  # noqa: ANN201
    """The seed's score function (true, noise-free) over token tuples."""
    rng = np.random.default_rng(10_000 + seed)
    d, k = len(sizes), max(sizes)
    w = rng.normal(size=(d, k))
    v = rng.normal(size=(d, k, k)) if kind == "pair" else None
    terms = d if v is None else 2 * d - 1
    scale = SPREAD / np.sqrt(terms)  # sd over uniformly random archs ~ SPREAD

    def score(a: tuple[int, ...]) -> float:
        s = sum(w[i, t] for i, t in enumerate(a))
        if v is not None:
            s += sum(v[i, a[i], a[i + 1]] for i in range(d - 1))
        return 0.85 + scale * s
    return score


def search(name: str, seed: int, space, kind: str, budget: int) -> tuple[float, float]:  # noqa: ANN001
    """Best true score among the paid archs after `budget` evaluations, and the final entropy."""
    strategy = make_strategy(name, seed, space)
    score = objective(space.sizes, kind, seed)
    noise = np.random.default_rng(20_000 + seed)
    best, paid, seen = -1.0, 0, set()
    while paid < budget:
        archs = strategy.ask(min(8, budget - paid))
        true = [score(tuple(a)) for a in archs]
        strategy.tell(archs, [t + NOISE * noise.normal() for t in true])
        for a, t in zip(archs, true):
            if tuple(a) not in seen:
                seen.add(tuple(a))
                paid += 1
                best = max(best, t)
    return 100 * best, strategy.stats().get("entropy", float("nan"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="akd_fmnist", help="the config whose space is searched")
    p.add_argument("--objective", choices=("add", "pair"), default="pair")
    p.add_argument("--budget", type=int, default=64, help="paid evaluations per search")
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--strategies", default=",".join(STRATEGIES), help="names or bench/_common.py VARIANTS")
    a = p.parse_args()
    torch.set_num_threads(1)
    space = check_config(load_search_config(a.config, []))
    print(f"{a.config}: {len(space.sizes)} decisions, 10^{sum(np.log10(space.sizes)):.1f} archs; objective "
          f"{a.objective}, {a.budget} paid evaluations, {a.seeds} seeds", flush=True)
    found: dict[str, list[float]] = {}
    rows = []
    for name in a.strategies.split(","):
        t = time.perf_counter()
        runs = [search(name, s, space, a.objective, a.budget) for s in range(a.seeds)]
        found[name] = [r[0] for r in runs]
        diff = np.array(found[name]) - np.array(found.get("random", found[name]))
        p_val = float(wilcoxon(diff).pvalue) if name != "random" and "random" in found and diff.any() else float("nan")
        rows.append({"strategy": name, "best_mean": round(statistics.fmean(found[name]), 2),
                     "best_sd": round(statistics.stdev(found[name]), 2),
                     "vs_random": round(float(diff.mean()), 2),
                     "vs_random_se": round(float(diff.std(ddof=1) / np.sqrt(len(diff))), 2),
                     "p_vs_random": p_val, "entropy_end": round(statistics.fmean(r[1] for r in runs), 3),
                     "s_per_search": round((time.perf_counter() - t) / a.seeds, 2)})
        print(rows[-1], flush=True)
    report(f"strategies_synthetic_{a.objective}_{a.budget}", rows,
           {"config": a.config, "objective": a.objective, "budget": a.budget, "seeds": a.seeds,
            "spread": SPREAD, "noise": NOISE, "found": found})


if __name__ == "__main__":
    main()
