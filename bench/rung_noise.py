"""How noisy is each rung of a fidelity ladder, and what does a rung know of the top? (issue 44
goal, issue 42 item 4)

Reads rung tables that hold two or more training seeds per arch (`distillnas table merge --seeds`
of the rung's exports) and the ladder's top table (one seed, or several over a subset of the
archs), and reports over the archs they share, with 95 % bootstrap intervals over archs: each
table's seed-to-seed Kendall tau (its noise floor) and how many seeds would make two columns
agree at tau 0.8; each rung seed against the top's *matched* seed (the top continues that very
run) and its *unmatched* ones (another seed's run), and mean against mean. A rung that agrees
with its matched top but not with the unmatched one knows the run, not the arch. Then the true
front of the top table (accuracy up, the config's cost metric down, within its target) and where
each of its archs ranks at each rung, seed by seed and on the mean (ties to the better rank).

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
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    tables = {path: read_benchmark(path) for path in args.rungs.split(",")}
    for path, t in tables.items():
        if len(t.seed_columns) < 2:
            raise SystemExit(f"{path}: {len(t.seed_columns)} seed column(s); this needs two or more (table merge --seeds)")
    keys = sorted(set(top.rows).intersection(*(t.rows for t in tables.values())))
    if len(keys) < 10:
        raise SystemExit(f"the tables share {len(keys)} archs; this needs 10 or more")
    acc_top, cost = top.column("accuracy"), top.column(metric)
    true_front = front({k: acc_top[k] for k in keys}, cost, target)
    rows = [noise_row(f"top ({len(top.seed_columns)} seeds)", top, top, keys, args.resamples)] \
        if len(top.seed_columns) > 1 else []
    bloom = {k: {"arch": k, "top": round(acc_top[k], 2), metric: cost[k], "rank_top": ranks(acc_top, keys)[k]}
             for k in true_front}
    for path, t in tables.items():
        rung = str(t.meta.get("fidelity", path)).split(" ")[0]
        rows.append(noise_row(rung, t, top, keys, args.resamples))
        for c in [*t.seed_columns, "accuracy"]:
            r = ranks(t.column(c), keys)
            for k in true_front:
                bloom[k][f"rank_{rung}_{c}"] = r[k]
    print(f"{len(keys)} archs in every table; true front of {args.top} ({metric} <= {target:g}): {len(true_front)} archs")
    for b in bloom.values():
        print({k: v for k, v in b.items() if k != "arch"})
    report(args.name, rows, {"top": args.top, "rungs": list(tables), "metric": metric, "target": target,
                             "archs": len(keys), "front": list(bloom.values())})


def noise_row(label: str, t, top, keys: list[str], resamples: int) -> dict:
    """A table's seed-to-seed tau, and each of its seeds against the top's: matched (the same
    training seed, so the top continues that very run when the table is a rung of its ladder)
    and unmatched (another seed's run), then mean against mean."""
    seeds = t.seed_columns
    col = {c: [t.column(c)[k] for k in keys] for c in [*seeds, "accuracy"]}
    tcol = {c: [top.column(c)[k] for k in keys] for c in [*top.seed_columns, "accuracy"]}
    tau, lo, hi = boot_tau(col[seeds[0]], col[seeds[1]], resamples)
    row = {"rung": label, "archs": len(keys), "tau_seeds": tau, "tau_seeds_ci": [lo, hi],
           "seeds_for_0.8": seeds_needed(tau),
           "seed_sd": round(float(np.std([col[s] for s in seeds], axis=0, ddof=1).mean()), 3)}
    if t is top:
        return row
    pairs = {"matched": [(c, c) for c in seeds if c in tcol],
             "unmatched": [(c, d) for c in seeds for d in top.seed_columns if d != c], "mean": [("accuracy", "accuracy")]}
    for name, ps in pairs.items():
        if ps:
            taus = [boot_tau(col[a], tcol[b], resamples) for a, b in ps]
            row[f"tau_{name}_top"] = round(statistics.fmean(x[0] for x in taus), 3)
            row[f"tau_{name}_top_each"] = [x[0] for x in taus]
            row[f"tau_{name}_top_ci"] = [list(x[1:]) for x in taus]
    return row


if __name__ == "__main__":
    main()
