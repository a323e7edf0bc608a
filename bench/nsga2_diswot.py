"""nsga2 on the DisWOT s1 table with a params target: the front it finds vs the true front.

Objectives: KD accuracy (table) up, params (the built CIFAR-100 model) down, params <= target
as a hard constraint. The true front is computed from all 64 students; a search gets
`budget` paid evaluations (repeats free, the loop's stop rules) and its front is the
non-dominated set of what it evaluated within the target. Random search's front at the same
budget is the baseline. Writes results/nsga2_diswot.json.
"""
from __future__ import annotations

import argparse
import statistics

import torch

from distillnas.evaluators import read_table
from distillnas.cost import count_params
from distillnas.spaces import build_space

from _common import make_strategy, report


def front(points: dict[str, tuple[float, int]]) -> set[str]:
    return {a for a, (acc, p) in points.items()
            if not any(o[0] >= acc and o[1] <= p and o != (acc, p) for o in points.values())}


def search(strategy: str, seed: int, points: dict, target: float, budget: int, batch: int = 8) -> dict:
    space = build_space("resnet_depth")
    s = make_strategy(strategy, seed, space, target)
    seen: dict[str, tuple[float, int]] = {}
    stale = 0
    while len(seen) < budget and stale < 5:
        archs = s.ask(min(batch, budget - len(seen)))
        new = 0
        for a in archs:
            code = space.code(a)
            new += code not in seen
            seen[code] = points[code]
        stale = 0 if new else stale + 1
        s.tell(archs, [points[space.code(a)] if getattr(s, "objectives", 1) == 2 else points[space.code(a)][0] for a in archs])
    return seen


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--target", type=float, default=5e5)
    p.add_argument("--budgets", default="24,32,48")
    a = p.parse_args()
    torch.set_num_threads(1)
    space, table = build_space("resnet_depth"), read_table("diswot_s1_kd")
    points = {c: (acc, count_params(space.build(space.from_string("resnet-" + "-".join(c)), 100, 3, 32)))
              for c, acc in table.items()}
    feasible = {c: v for c, v in points.items() if v[1] <= a.target}
    true = front(feasible)
    rows = []
    for budget in map(int, a.budgets.split(",")):
        for name in ("nsga2", "nsga2_categorical", "random"):
            found = []
            for seed in range(a.seeds):
                seen = search(name, seed, points, a.target, budget)
                got = front({c: v for c, v in seen.items() if v[1] <= a.target})
                found.append(len(got & true))
            rows.append({"strategy": name, "budget": budget, "true_front": len(true),
                         "found_mean": statistics.mean(found), "found_std": statistics.stdev(found),
                         "found_min": min(found), "feasible_archs": len(feasible)})
    report("nsga2_diswot", rows, {"args": vars(a), "true_front": sorted(true)})


if __name__ == "__main__":
    main()
