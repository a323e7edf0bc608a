"""Accuracy is not the price of speed: final test top-1 under bf16 autocast against fp32.

For resnet8, resnet20 and two MnasNet students of the default space (the median and the
largest by MACs of 41 seeded samples), each trained from scratch with the default search's
final recipe (akd_mnist5k's final.optim: 15 epochs, SGD + Nesterov, cosine) by CE on the
whole training pool, seeds 0-2, under fp32 and under bf16 autocast (what `precision: auto`
picks on a CPU where bf16 trains faster; bf16 is asked for explicitly here, so the comparison
is made whatever this machine's auto is): mean +- sd over seeds, the difference bf16 - fp32,
and the seed sd beside it as the noise floor. Each (model, precision, seed) is appended to a JSONL file as it finishes, so a
killed run resumes where it stopped.

    nice python bench/precision_accuracy.py [--dataset mnist5k] [--epochs 15] [--seeds 0,1,2]

Prints a table and writes bench/results/precision_accuracy_<dataset>.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from _common import RESULTS, report
from distillnas.config import DataConfig, TrainConfig, validate
from distillnas.cost import count_macs
from distillnas.data import prepare_data
from distillnas.runconfig import load_search_config
from distillnas.spaces import space_from_config
from distillnas.training import train_student
from distillnas.spaces import student_of


def students() -> list[tuple[str, dict | None]]:
    """(arch, space config or None) of the four students."""
    space = space_from_config(load_search_config(None, []).space)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(41)]
    order = np.argsort([count_macs(space.build(a, 10, 1, 28), (1, 1, 28, 28)) for a in archs])
    picks = [archs[int(order[len(order) // 2])], archs[int(order[-1])]]
    return [("resnet8", None), ("resnet20", None)] + [(space.to_string(a), space.config()) for a in picks]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="mnist5k")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--epochs", type=float, default=None, help="default: the default search's final.optim.epochs")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--students", default="0,1,2,3", help="which of the four (0 resnet8, 1 resnet20, 2 the median "
                    "MnasNet student, 3 the largest), comma-separated")
    args = ap.parse_args()
    every = students()
    chosen = [every[int(i)] for i in args.students.split(",")]
    final = load_search_config(None, []).final
    optim = final.optim.model_dump() | ({"epochs": args.epochs} if args.epochs else {})
    ds, splits = prepare_data(validate(DataConfig, {"name": args.dataset, "root": args.data_root}))
    seeds = [int(s) for s in args.seeds.split(",")]
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / f"precision_accuracy_{args.dataset}.jsonl"
    done = {(r["arch"], r["precision"], r["seed"]): r for r in map(json.loads, log.read_text().splitlines())} \
        if log.is_file() else {}
    for arch, space in chosen:
        for seed in seeds:
            for precision in ("fp32", "bf16"):
                if (arch, precision, seed) in done:
                    continue
                cfg = validate(TrainConfig, {"optim": optim, "loss": {"name": "ce"}, "augment": "random",
                                             "precision": precision})
                start = time.perf_counter()
                run = train_student(student_of(arch, space, ds.num_classes, ds.in_channels, ds.input_size), cfg, ds,
                                    splits, seed=seed, train_split="train", eval_splits=("test",))
                row = {"arch": arch, "precision": precision, "seed": seed, "status": run.status,
                       "test": run.metrics.get("test"), "images_per_s": run.images_per_s,
                       "wall_s": time.perf_counter() - start, "params": run.params}
                done[(arch, precision, seed)] = row
                with log.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(f"{arch[:40]} {precision} seed {seed}: {100 * (row['test'] or 0):.2f}% "
                      f"({row['wall_s']:.0f} s)", flush=True)
    rows = []
    for arch, _ in chosen:
        acc = {p: [100 * done[(arch, p, s)]["test"] for s in seeds if done[(arch, p, s)]["test"] is not None]
               for p in ("fp32", "bf16")}
        speed = {p: statistics.mean(done[(arch, p, s)]["images_per_s"] for s in seeds) for p in ("fp32", "bf16")}
        sd = {p: statistics.stdev(v) if len(v) > 1 else 0.0 for p, v in acc.items()}
        diff = statistics.mean(acc["bf16"]) - statistics.mean(acc["fp32"])
        rows.append({"student": arch[:40], "params": done[(arch, "fp32", seeds[0])]["params"],
                     "fp32 %": statistics.mean(acc["fp32"]), "fp32 sd": sd["fp32"],
                     "bf16 %": statistics.mean(acc["bf16"]), "bf16 sd": sd["bf16"],
                     "bf16 - fp32": diff, "seed sd (pooled)": ((sd["fp32"] ** 2 + sd["bf16"] ** 2) / 2) ** 0.5,
                     "speed bf16/fp32": speed["bf16"] / speed["fp32"]})
    report(f"precision_accuracy_{args.dataset}", rows, {"seeds": seeds, "optim": optim})


if __name__ == "__main__":
    main()
