"""Strategies on real numbers: the DisWOT s1 table (64 CIFAR-100 ResNets, CE and KD accuracy).

For each strategy, column (KD-guided, CE-guided) and seed, a search runs with the search
loop's own rules: batches of 8, reward = the table's accuracy (no cost term: `--reward.alpha=0
--reward.beta=0`), a repeat of an evaluated arch is free (told again, not paid), and the
search ends when the budget of paid evaluations is spent or the policy has converged
(`patience` batches of repeats only, or `max_repeats` x budget repeats).

Reported per strategy and column:
- paid evaluations until the column's best student is first evaluated: median and IQR
  over seeds (a search that ends without it counts as budget + 1, i.e. censored);
- the share of seeds whose best after 48 paid evaluations is the column's best (what
  `best.yaml` would hold);
- a one-sided Mann-Whitney U p-value against random search (smaller = fewer evaluations),
  and for an ablation (VARIANTS) a two-sided one against the strategy's default settings,
  beside a two-sided Fisher exact p on the best-after-48 shares.

Writes results/strategies_diswot.json.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from scipy.stats import fisher_exact, mannwhitneyu

from distillnas.benchmarks import table_path
from distillnas.evaluators import read_table
from distillnas.spaces import build_space

from _common import VARIANTS, make_strategy, report

STRATEGIES = ("random", "evolution", "ppo", "reinforce", "tpe", "gp")


def search(strategy: str, seed: int, table: dict[str, float], budget: int, batch: int, patience: int,
           max_repeats: float) -> tuple[list[str], str]:
    """The paid evaluations, in order, and why the search ended ('budget' or 'converged')."""
    space = build_space("resnet_depth")
    s = make_strategy(strategy, seed, space)
    paid: list[str] = []
    seen: set[str] = set()
    stale = repeats = 0
    while len(paid) < budget:
        if stale >= patience or repeats >= max_repeats * budget:
            return paid, "converged"
        archs = s.ask(min(batch, budget - len(paid)))
        new = 0
        for a in archs:
            code = space.code(a)
            if code in seen:
                repeats += 1
            else:
                seen.add(code)
                paid.append(code)
                new += 1
        stale = 0 if new else stale + 1
        s.tell(archs, [table[space.code(a)] for a in archs])
    return paid, "budget"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--first-seed", type=int, default=100,
                   help="seeds first-seed .. first-seed+seeds-1 (settings were chosen on seeds 0-39)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--budget", type=int, default=64, help="paid evaluations (64 = the whole space)")
    p.add_argument("--settle", type=int, default=48, help="the best after this many paid evaluations")
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--max-repeats", type=float, default=4.0)
    scalar = [v for v, (base, _) in VARIANTS.items() if base != "nsga2"]  # nsga2 needs (accuracy, cost)
    p.add_argument("--strategies", default=",".join(STRATEGIES), help=f"also: {', '.join(scalar)}")
    a = p.parse_args()
    torch.set_num_threads(1)
    tables = {"kd": read_table(str(table_path("diswot_s1_kd"))), "ce": read_table(str(table_path("diswot_s1_ce")))}
    rows, hits_of, settled_of = [], {}, {}
    for name in a.strategies.split(","):
        for col, table in tables.items():
            best = max(table, key=table.get)
            start = time.perf_counter()
            hits, settled, converged = [], [], 0
            for seed in range(a.first_seed, a.first_seed + a.seeds):
                paid, why = search(name, seed, table, a.budget, a.batch, a.patience, a.max_repeats)
                hits.append(paid.index(best) + 1 if best in paid else a.budget + 1)
                first = paid[: a.settle]
                settled.append(max(first, key=table.get) == best)
                converged += why == "converged"
            hits_of[(name, col)], settled_of[(name, col)] = hits, settled
            q1, q3 = np.percentile(hits, [25, 75])
            pval = mannwhitneyu(hits, hits_of[("random", col)], alternative="less").pvalue \
                if name != "random" and ("random", col) in hits_of else float("nan")
            base = (VARIANTS[name][0], col) if name in VARIANTS else None  # the variant against its default
            pbase = mannwhitneyu(hits, hits_of[base]).pvalue if base in hits_of else float("nan")
            psettle = fisher_exact([[sum(settled), len(settled) - sum(settled)],
                                    [sum(settled_of[base]), len(settled_of[base]) - sum(settled_of[base])]]).pvalue \
                if base in settled_of else float("nan")
            rows.append({"strategy": name, "column": col, "best": best, "paid_to_best_median": statistics.median(hits),
                         "iqr": f"{q1:.0f}-{q3:.0f}", "never_found": sum(h > a.budget for h in hits),
                         f"best_after_{a.settle}_pct": 100 * float(np.mean(settled)),
                         "converged_early": converged, "p_vs_random": pval, "p_vs_default": pbase,
                         f"p_best_after_{a.settle}_vs_default": psettle,
                         "s_per_seed": (time.perf_counter() - start) / a.seeds})
            print(rows[-1], flush=True)
    report("strategies_diswot", rows, {"args": vars(a), "paid_to_best": {f"{s}/{c}": h for (s, c), h in hits_of.items()}})


if __name__ == "__main__":
    main()
