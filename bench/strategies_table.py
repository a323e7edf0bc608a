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

With two seed columns, also *held-out seed*: a search guided by seed 0's accuracy alone, its
pick (the best by seed 0 after the largest N) scored by seed 1's - an independent training
run of the same arch. The regret above compares a search with the table's best, and both are
lifted by the luck of the seeds that made them look best (the winner's curse); the held-out
score is not, so a strategy that beats random search on it finds archs that really are
better, not ones that were lucky once. Reported as mean ± std with its p against random,
beside seed 1's mean over all archs (what a blind pick scores). The same protects AKD Table 5:
`kd_guided_best_kd` is the maximum of the very KD numbers the search was guided by, so it is
inflated where the CE-guided pick's KD score is not; `ce_guided_held_out` is the pick of a
search guided by the CE table's seed 0, scored by the KD table's seed 1, directly comparable
with `held_out_seed1` (two-sided Mann-Whitney p between them).

Every p-value here is over search seeds on one table: it says two strategies differ on these
numbers, not that they would on a fresh tabulation. Searches that converge on the same few
archs share those archs' seed-1 luck, so a held-out gap between two pick rules (KD- vs
CE-guided) can be one draw of the table's noise (on the full mnist5k KD-ResNet8 table the top
arch by KD seed 0 scores 96.92 by seed 1 and the top 5 average 96.45; by CE seed 0, 96.83 and
96.62): read such a gap beside the seed noise floor, not beside its p.

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


def held_out(guide_table, score_table, space, name: str, seed: int, budget: int) -> float:  # noqa: ANN001
    """The score table's seed-1 accuracy (%) of the best arch a search guided by the guide
    table's seed 0 pays for (module docstring)."""
    guide = {k: v / 100 for k, v in guide_table.column(guide_table.seed_columns[0]).items()}  # in [0, 1]
    paid = search(space, name, seed, guide, budget)
    return score_table.column(score_table.seed_columns[1])[max(paid, key=guide.get)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    ce_table = read_benchmark(a.ce) if a.ce else None
    ce = ce_table.accuracy if ce_table is not None else None
    at = [int(x) for x in a.at.split(",")]
    top = 100 * max(kd.values())
    floor = noise_floor(kd_table)
    near = None if floor is None else sum(100 * v >= top - floor for v in kd.values())
    print(f"{len(kd)} archs; best {top:.2f}%; seed noise floor (mean |seed0 - seed1|): "
          f"{'-' if floor is None else f'{floor:.2f} points, {near} archs within it of the best'}", flush=True)
    blind = None
    if floor is not None:
        seed1 = kd_table.column(kd_table.seed_columns[1])
        blind = statistics.mean(seed1.values())  # the table's columns are in percent
        print(f"held-out seed: seed 1's mean over all archs {blind:.2f}%, its best {max(seed1.values()):.2f}%",
              flush=True)
    rows, regrets_of, held_of = [], {}, {}
    for name in a.strategies.split(","):
        start = time.perf_counter()
        regrets = {n: [] for n in at}
        ce_picks, held, ce_held = [], [], []
        for seed in range(a.seeds):
            paid = search(space, name, seed, kd, max(at))
            for n in at:
                regrets[n].append(top - 100 * max(kd[k] for k in paid[:n]))
            if ce is not None:
                ce_paid = search(space, name, seed, ce, max(at))
                ce_picks.append(100 * kd[max(ce_paid, key=ce.get)])  # CE-guided best, scored under KD
            if floor is not None:
                held.append(held_out(kd_table, kd_table, space, name, seed, max(at)))
                if ce_table is not None and len(ce_table.seed_columns) >= 2:
                    ce_held.append(held_out(ce_table, kd_table, space, name, seed, max(at)))
        regrets_of[name] = regrets
        held_of[name] = held
        held_of[name + "/ce_guided"] = ce_held
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
        if held:
            row["held_out_seed1"] = f"{statistics.mean(held):.2f} ± {statistics.stdev(held):.2f}"
            if name != "random" and held_of.get("random"):
                row["p_held_out_vs_random"] = float(mannwhitneyu(held, held_of["random"],
                                                                 alternative="greater").pvalue)
        if ce_held:
            row["ce_guided_held_out"] = f"{statistics.mean(ce_held):.2f} ± {statistics.stdev(ce_held):.2f}"
            row["p_kd_vs_ce_guided_held_out"] = float(mannwhitneyu(held, ce_held).pvalue)
        row["s_per_seed"] = (time.perf_counter() - start) / a.seeds
        rows.append(row)
        print(row, flush=True)
    report("strategies_table" + (f"_{a.name}" if a.name else ""), rows,
           {"args": vars(a), "archs": len(kd), "best": top, "noise_floor_points": floor,
            "archs_within_floor_of_best": near, "held_out_blind_mean": blind,
            "held_out": held_of})


if __name__ == "__main__":
    main()
