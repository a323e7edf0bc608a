"""Strategies on a KD benchmark table: regret after N paid evaluations, and KD- vs CE-guided.

For each strategy and seed, a search runs under the search loop's rules (batches of 8,
reward = the table's accuracy, a repeat of an evaluated arch is free, the search ends when
the budget is spent or the policy converged). Reported per strategy, over seeds:
- regret after N paid evaluations (N in --at): the table's best accuracy minus the best found,
  mean ± std, and a one-sided Mann-Whitney U p-value against random search;
- AKD Table 5 in miniature (with --ce, a CE table over the same archs): the best student a
  CE-guided search finds (by the CE column), scored in the KD column, beside the best a
  KD-guided search finds; the gap is what searching under the teacher buys.

The noise floor of a table with two seed columns is printed beside: the mean |seed0 - seed1|
of an arch, i.e. how much of a regret is measurement noise, and how many archs lie within it
of the best (on half the mnist5k MnasNet KD-ResNet8 table: 51 of 648 within 0.66 points).

    python bench/strategies_table.py --kd diswot_s1_kd --ce diswot_s1_ce --at 16,32,48
    python bench/strategies_table.py --kd kd_resnet8.txt --ce ce.txt --at 50,100,200

Writes results/strategies_table[_NAME].json.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from scipy.stats import mannwhitneyu

from distillnas.benchmarks import read_benchmark
from distillnas.spaces import build_space

from _common import make_strategy, report

STRATEGIES = ("random", "evolution", "ppo", "reinforce", "tpe")


def search(space, strategy: str, seed: int, table: dict[str, float], budget: int, batch: int = 8,  # noqa: ANN001
           patience: int = 5, max_repeats: float = 4.0) -> list[str]:
    """The table keys of the paid evaluations, in order."""
    s = make_strategy(strategy, seed, space)
    paid: list[str] = []
    seen: set[str] = set()
    stale = repeats = 0
    while len(paid) < budget and stale < patience and repeats < max_repeats * budget:
        archs = s.ask(min(batch, budget - len(paid)))
        keys = [space.table_key(a) for a in archs]
        new = [k for k in dict.fromkeys(keys) if k not in seen]
        repeats += len(keys) - len(new)
        seen.update(new)
        paid += new
        stale = 0 if new else stale + 1
        s.tell(archs, [table[k] for k in keys])
    return paid


def space_of(table) -> object:  # noqa: ANN001
    """The table's space from its header (DisWOT's files have none: resnet_depth)."""
    cfg = table.meta.get("space") or {"name": "resnet_depth"}
    return build_space(**cfg)


def noise_floor(table) -> float | None:  # noqa: ANN001
    cols = table.seed_columns
    if len(cols) < 2:
        return None
    i, j = table.columns.index(cols[0]), table.columns.index(cols[1])
    return float(np.mean([abs(v[i] - v[j]) for v in table.rows.values()]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kd", default="diswot_s1_kd", help="the KD table (file or packaged name)")
    p.add_argument("--ce", default=None, help="a CE table over the same archs (AKD Table 5 in miniature)")
    p.add_argument("--at", default="50,100,200", help="regret after this many paid evaluations")
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--name", default="")
    a = p.parse_args()
    torch.set_num_threads(1)
    kd_table = read_benchmark(a.kd)
    space, kd = space_of(kd_table), kd_table.accuracy
    ce = read_benchmark(a.ce).accuracy if a.ce else None
    at = [int(x) for x in a.at.split(",")]
    top = 100 * max(kd.values())
    floor = noise_floor(kd_table)
    near = None if floor is None else sum(100 * v >= top - floor for v in kd.values())
    print(f"{len(kd)} archs; best {top:.2f}%; seed noise floor (mean |seed0 - seed1|): "
          f"{'-' if floor is None else f'{floor:.2f} points, {near} archs within it of the best'}", flush=True)
    rows, regrets_of = [], {}
    for name in a.strategies.split(","):
        start = time.perf_counter()
        regrets = {n: [] for n in at}
        ce_picks = []
        for seed in range(a.seeds):
            paid = search(space, name, seed, kd, max(at))
            for n in at:
                regrets[n].append(top - 100 * max(kd[k] for k in paid[:n]))
            if ce is not None:
                ce_paid = search(space, name, seed, ce, max(at))
                ce_picks.append(100 * kd[max(ce_paid, key=ce.get)])  # CE-guided best, scored under KD
        regrets_of[name] = regrets
        row: dict = {"strategy": name}
        for n in at:
            row[f"regret@{n}"] = f"{statistics.mean(regrets[n]):.3f} ± {statistics.stdev(regrets[n]):.3f}"
            if name != "random" and "random" in regrets_of:
                row[f"p@{n}_vs_random"] = float(mannwhitneyu(regrets[n], regrets_of["random"][n],
                                                             alternative="less").pvalue)
        if ce is not None:
            kd_best = [top - r for r in regrets[max(at)]]
            row["kd_guided_best_kd"] = f"{statistics.mean(kd_best):.2f} ± {statistics.stdev(kd_best):.2f}"
            row["ce_guided_best_kd"] = f"{statistics.mean(ce_picks):.2f} ± {statistics.stdev(ce_picks):.2f}"
        row["s_per_seed"] = (time.perf_counter() - start) / a.seeds
        rows.append(row)
        print(row, flush=True)
    report("strategies_table" + (f"_{a.name}" if a.name else ""), rows,
           {"args": vars(a), "archs": len(kd), "best": top, "noise_floor_points": floor,
            "archs_within_floor_of_best": near})


if __name__ == "__main__":
    main()
