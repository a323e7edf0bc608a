"""Strategies on real numbers: the DisWOT s1 table (64 CIFAR-100 ResNets, CE and KD accuracy).

Part 1 - for each strategy and 20 seeds, the number of trials until the KD-best student
(557) is first sampled, with the table's KD accuracy as reward (median, IQR; capped).
Part 2 - CE-guided vs KD-guided: after a fixed budget, which student each search holds as
best, and what that student scores when distilled (KD accuracy).
Writes results/strategies_diswot.json.
"""
from __future__ import annotations

import argparse
import collections
import statistics
from pathlib import Path

import numpy as np

from distillnas.config import StrategyConfig
from distillnas.evaluators import read_table
from distillnas.spaces import build_space
from distillnas.strategies import STRATEGIES, build_strategy

from _common import report

TABLE = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "diswot_s1"


def trials_to_hit(strategy: str, seed: int, table: dict[str, float], target: str, batch: int, cap: int) -> int:
    space = build_space("resnet_depth")
    s = build_strategy(StrategyConfig(name=strategy, seed=seed), space.sizes, space.kinds)
    n = 0
    while n < cap:
        archs = s.ask(batch)
        for a in archs:
            n += 1
            if space.code(a) == target:
                return n
        s.tell(archs, [table[space.code(a)] for a in archs])
    return cap


def settled_on(strategy: str, seed: int, table: dict[str, float], batch: int, budget: int) -> str:
    """The best student (by the guiding table) after `budget` trials."""
    space = build_space("resnet_depth")
    s = build_strategy(StrategyConfig(name=strategy, seed=seed), space.sizes, space.kinds)
    seen: dict[str, float] = {}
    for _ in range(budget // batch):
        archs = s.ask(batch)
        for a in archs:
            seen[space.code(a)] = table[space.code(a)]
        s.tell(archs, [table[space.code(a)] for a in archs])
    return max(seen, key=seen.get)


def iqr(values: list[int]) -> tuple[float, float]:
    q1, q3 = np.percentile(values, [25, 75])
    return float(q1), float(q3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--table-dir", default=str(TABLE))
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--cap", type=int, default=640)
    p.add_argument("--budget", type=int, default=48)
    p.add_argument("--strategies", default=",".join(STRATEGIES.names()))
    a = p.parse_args()
    kd = read_table(str(Path(a.table_dir) / "kd_accuracy.txt"))
    ce = read_table(str(Path(a.table_dir) / "ce_accuracy.txt"))
    kd_best, ce_best = max(kd, key=kd.get), max(ce, key=ce.get)
    rows = []
    for name in a.strategies.split(","):
        hits = [trials_to_hit(name, s, kd, kd_best, a.batch, a.cap) for s in range(a.seeds)]
        hits_ce = [trials_to_hit(name, s, ce, ce_best, a.batch, a.cap) for s in range(a.seeds)]
        by_kd = collections.Counter(settled_on(name, s, kd, a.batch, a.budget) for s in range(a.seeds))
        by_ce = collections.Counter(settled_on(name, s, ce, a.batch, a.budget) for s in range(a.seeds))
        kd_of = lambda c: statistics.mean(kd[k] for k in c.elements())  # noqa: E731
        q1, q3 = iqr(hits)
        rows.append({
            "strategy": name, f"trials_to_{kd_best}_kd_median": statistics.median(hits), "kd_iqr": f"{q1:.0f}-{q3:.0f}",
            f"trials_to_{ce_best}_ce_median": statistics.median(hits_ce),
            "kd_guided_pick": by_kd.most_common(1)[0][0], "ce_guided_pick": by_ce.most_common(1)[0][0],
            "kd_acc_of_kd_pick": 100 * kd_of(by_kd), "kd_acc_of_ce_pick": 100 * kd_of(by_ce),
        })
    report("strategies_diswot", rows, {"args": vars(a), "kd_best": kd_best, "ce_best": ce_best,
                                       "note": "kd_acc_of_*: mean KD accuracy (%) over seeds of the student each "
                                               f"search holds as best after {a.budget} trials"})


if __name__ == "__main__":
    main()
