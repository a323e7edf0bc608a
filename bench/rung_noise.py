"""How noisy is each rung of a fidelity ladder, and do two seeds rank like the top? (issue 44 goal,
issue 42 item 4)

Reads rung tables that hold two or more training seeds per arch (`distillnas table merge --seeds`
of the rung's exports) and the ladder's top table, and reports per rung, with 95 % bootstrap
intervals over archs: the seed-to-seed Kendall tau (the rung's noise floor), each seed's tau
against the top, the seeds' mean against the top, and how many seeds would make two columns agree
at tau 0.8. Then the true front of the top table (accuracy up, the config's cost metric down,
within its target) and where each of its archs ranks at each rung, seed by seed and on the mean:
an arch of the front that ranks low in every seed is a late bloomer no rung can promote; one
that ranks low in one seed only was unlucky.

    python bench/rung_noise.py --top fmnist_mnasnet_kd9 --rungs E1S2.txt,E3S2.txt --config akd_fmnist_table
Writes results/NAME.json (default rung_noise).
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np
from scipy.stats import rankdata

from distillnas.benchmarks import read_benchmark
from distillnas.runconfig import load_search_config

from _common import report
from fmnist_pilot import boot_tau, seeds_needed


def front(acc: dict[str, float], cost: dict[str, float], target: float) -> list[str]:
    """The archs no other arch within the target beats on accuracy at no more cost, cheapest first."""
    out, best = [], -1.0
    for k in sorted((k for k in acc if cost[k] <= target), key=lambda k: (cost[k], -acc[k])):
        if acc[k] > best:
            out.append(k)
            best = acc[k]
    return out


def ranks(values: dict[str, float], keys: list[str]) -> dict[str, int]:
    """1 = the most accurate (ties share the better rank)."""
    r = rankdata([-values[k] for k in keys], method="min")
    return {k: int(x) for k, x in zip(keys, r)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", required=True, help="the ladder's top table (by name or path)")
    ap.add_argument("--rungs", required=True, help="rung tables with two or more seed columns, comma-separated")
    ap.add_argument("--config", default="akd_fmnist_table", help="the search config whose reward metric and "
                    "target define the front")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--name", default="rung_noise", help="the results file: results/NAME.json")
    args = ap.parse_args()
    if not 0 <= args.resamples <= 100_000:
        raise SystemExit(f"--resamples {args.resamples}: give 0..100000")
    top = read_benchmark(args.top)
    base = load_search_config(args.config, [f"--evaluator.table={args.top}"])
    metric, target = base.reward.metric, base.reward.target
    acc_top = top.column("accuracy")
    cost = top.column(metric)
    keys = sorted(acc_top)
    true_front = front(acc_top, cost, target)
    rows, bloom = [], {k: {"arch": k, "top": round(acc_top[k], 2), metric: cost[k],
                           "rank_top": ranks(acc_top, keys)[k]} for k in true_front}
    for path in args.rungs.split(","):
        t = read_benchmark(path)
        seeds = t.seed_columns
        if len(seeds) < 2:
            raise SystemExit(f"{path}: {len(seeds)} seed column(s); this needs two or more (table merge --seeds)")
        if set(t.rows) != set(keys):
            raise SystemExit(f"{path} and {args.top} hold other archs")
        rung = str(t.meta.get("fidelity", path)).split(" ")[0]
        cols = {s: t.column(s) for s in seeds} | {"mean": t.column("accuracy")}
        top_v = [acc_top[k] for k in keys]
        row = {"rung": rung, "seeds": len(seeds)}
        tau, lo, hi = boot_tau([cols[seeds[0]][k] for k in keys], [cols[seeds[1]][k] for k in keys], args.resamples)
        row |= {"tau_seeds": tau, "tau_seeds_ci": [lo, hi], "seeds_for_0.8": seeds_needed(tau)}
        for c in [*seeds, "mean"]:
            tau, lo, hi = boot_tau([cols[c][k] for k in keys], top_v, args.resamples)
            row |= {f"tau_{c}_top": tau, f"tau_{c}_top_ci": [lo, hi]}
        row["seed_sd"] = round(statistics.fmean(float(np.std([cols[s][k] for s in seeds], ddof=1)) for k in keys), 3)
        rows.append(row)
        for c in [*seeds, "mean"]:
            r = ranks(cols[c], keys)
            for k in true_front:
                bloom[k][f"rank_{rung}_{c}"] = r[k]
    print(f"true front of {args.top} ({metric} <= {target:g}): {len(true_front)} of {len(keys)} archs")
    summary = {"top": args.top, "rungs": args.rungs.split(","), "metric": metric, "target": target,
               "archs": len(keys), "front": list(bloom.values())}
    for b in bloom.values():
        print({k: v for k, v in b.items() if k != "arch"})
    report(args.name, rows, summary)


if __name__ == "__main__":
    main()
