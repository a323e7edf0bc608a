"""The Fashion-MNIST table's pilot (issue 42 items 1 and 4): on a spread of ~16 archs of the
table's space, how well do two training seeds agree, and how well does each epoch rank archs?

Each arch is trained under the table's protocol (`--config`, default table_resnet_fmnist) for
its `evaluator.proxy.epochs`, seeds 0 and 1, through the proxy evaluator itself, stopping at
every whole epoch as a multi-fidelity rung does (the lr schedule spans the whole run, so the
value at epoch e is exactly what a rung at e of that ladder reports) and scoring mini-val there.
Reported per rung: Kendall tau between the two seeds (the noise floor the table needs >= 0.8)
with a bootstrap interval over archs, and the tau of each seed's rung value with the other
seed's final value (how a cheap rung ranks, measured against independent noise).

    python bench/fmnist_pilot.py --loss ce              # ~1 single-core hour at 6 epochs
    python bench/fmnist_pilot.py --loss kd --teacher DIR

Resumable: every (arch, rung) is appended to results/fmnist_pilot_<loss>.jsonl as it finishes,
and a killed arch continues from its last rung's saved state. Writes results/fmnist_pilot_<loss>.json.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import shutil
import statistics
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from scipy.stats import kendalltau

from distillnas.benchmarks.format import BenchmarkTable, write_benchmark
from distillnas.evaluators.base import EvalContext
from distillnas.evaluators.proxy import ProxyEvaluator
from distillnas.runconfig import load_search_config
from distillnas.setup import check_setup
from distillnas.spaces import space_from_config

from _common import RESULTS, report


def spread(space, n: int, seed: int) -> list[tuple[int, ...]]:  # noqa: ANN001
    """n archs spread over the space's total depth: sorted by it, one drawn from each of n
    equal slices (seeded), so shallow, middle and deep students are all in the pilot."""
    every = itertools.product(*(range(n) for n in space.sizes))
    archs = sorted(every, key=lambda a: (sum(space.depths(a)), a))
    rng, k = random.Random(seed), len(archs)
    return [archs[rng.randrange(i * k // n, (i + 1) * k // n)] for i in range(n)]


def tau_of(x: list[float], y: list[float]) -> float | None:
    """Kendall tau (tau-b), None where one side is constant."""
    t = float(kendalltau(x, y).statistic)
    return None if t != t else round(t, 3)


def boot_tau(x: list[float], y: list[float], reps: int = 1000, seed: int = 0) -> tuple[float | None, ...]:
    """Kendall tau of x and y with a 95 % bootstrap interval over the pairs (None: undefined)."""
    tau = tau_of(x, y)
    rng, idx, vals = random.Random(seed), list(range(len(x))), []
    for _ in range(reps):
        s = [rng.choice(idx) for _ in idx]
        t = kendalltau([x[i] for i in s], [y[i] for i in s]).statistic
        if t == t:  # a resample with one distinct value has no tau
            vals.append(float(t))
    vals.sort()
    if tau is None or len(vals) < reps // 2:
        return tau, None, None
    return tau, round(vals[int(0.025 * len(vals))], 3), round(vals[int(0.975 * len(vals)) - 1], 3)


def seeds_needed(tau: float | None, target: float = 0.8) -> float | None:
    """Seeds to average per column so that two columns agree at Kendall `target`, from the
    seed-to-seed Kendall tau of one training (Spearman-Brown on the reliability). Kendall's tau
    maps to a correlation by r = sin(pi tau / 2) (Greiner's relation, exact for normal scores);
    two columns that each average k seeds correlate at r_k = k r / (1 + (k - 1) r), so
    k = r* (1 - r) / (r (1 - r*)) with r* = sin(pi target / 2). None where one seed ranks at
    or below chance (no number of seeds is known to suffice)."""
    if tau is None or tau <= 0:
        return None
    r, want = math.sin(math.pi * tau / 2), math.sin(math.pi * target / 2)
    return round(max(1.0, want * (1 - r) / (r * (1 - want))), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="table_resnet_fmnist")
    ap.add_argument("--loss", default="ce", help="the column's loss (ce, kd, od)")
    ap.add_argument("--teacher", default=None, help="teacher spec (directory, checkpoint or shipped name) for kd/od")
    ap.add_argument("--archs", type=int, default=16)
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None, help="override the config's proxy epochs")
    ap.add_argument("--rungs", default=None, help="the epochs at which to score, e.g. 1,2,3,6 (default: every whole "
                    "epoch); fewer rungs cost less where the mini-val is large")
    ap.add_argument("--tag", default=None, help="results/fmnist_pilot_<tag>.json (default: the loss, and the epochs if given)")
    ap.add_argument("--export-table", default=None, help="also write the last rung as a benchmark table (for "
                    "bench/zerocost_tables.py --fmnist): its seeds as columns, the protocol in its header")
    ap.add_argument("--set", action="append", default=[], help="more config overrides, e.g. --set=--data.train_subset=20000")
    args = ap.parse_args()
    over = [f"--evaluator.proxy.loss.name={args.loss}", *args.set]
    if args.teacher:
        over.append(f"--teacher.spec=[{args.teacher}]")
    if args.epochs:
        over.append(f"--evaluator.proxy.epochs={args.epochs}")
    cfg = load_search_config(args.config, over)
    p = cfg.evaluator.proxy
    epochs = int(p.epochs)
    rungs = sorted({int(r) for r in args.rungs.split(",")} | {epochs}) if args.rungs else list(range(1, epochs + 1))
    if rungs[0] < 1 or rungs[-1] > epochs:
        raise SystemExit(f"--rungs {args.rungs}: give whole epochs in 1..{epochs}")
    # the proxy evaluator treats a fidelity ladder as this run's schedule: its last rung is the horizon;
    # every rung scored as trained, as when the pilot was measured (before fidelity.recalibrate)
    cfg = cfg.model_copy(update={"evaluator": cfg.evaluator.model_copy(update={"proxy": p.model_copy(update={
        "fidelity": p.fidelity.model_copy(update={"epochs": rungs if len(rungs) > 1 else None,
                                                  "recalibrate": 0})})})})
    setup = check_setup(cfg)  # data and teacher checked before any training
    spec = setup.spec if args.teacher else None
    space = space_from_config(cfg.space)
    tag = f"fmnist_pilot_{args.tag}" if args.tag else f"fmnist_pilot_{args.loss}" + (f"_e{epochs}" if args.epochs else "")
    log, work = RESULTS / f"{tag}.jsonl", RESULTS / f"{tag}_states"
    done = {}
    if log.is_file():
        for line in log.read_text().splitlines():
            r = json.loads(line)
            done[(r["arch"], r["rung"])] = r
    ctx = EvalContext(space=cfg.space, data=cfg.data, evaluator=cfg.evaluator, cost=cfg.cost, teacher=spec,
                      threads=cfg.execution.threads, state_dir=str(work))
    archs = spread(space, args.archs, args.sample_seed)
    start = time.perf_counter()
    for i, tokens in enumerate(archs):
        arch = space.to_string(tokens)
        for r in rungs:
            if (arch, r) in done:
                continue
            prev = max((q for q in rungs if q < r and (arch, q) in done), default=0)
            res = ProxyEvaluator.run(replace(ctx, fidelity=float(r), resume_fidelity=float(prev)), tokens, 0)
            if res.status != "ok":
                raise SystemExit(f"{arch} rung {r}: {res.status} {res.error}")
            row = {"arch": arch, "rung": r, "params": res.params, "macs": res.macs,
                   "seeds": res.extra["seed_accuracies"], "continued": res.extra.get("continued")}
            done[(arch, r)] = row
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"[{i + 1}/{len(archs)}] {arch} epoch {r}: " +
                  " ".join(f"{100 * v:.2f}" for v in row["seeds"].values()) +
                  f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    names = [space.to_string(t) for t in archs]
    seeds = sorted(done[(names[0], rungs[-1])]["seeds"])
    final = {s: [done[(a, rungs[-1])]["seeds"][s] for a in names] for s in seeds}
    rows = []
    for r in rungs:
        at = {s: [done[(a, r)]["seeds"][s] for a in names] for s in seeds}
        tau, lo, hi = boot_tau(at[seeds[0]], at[seeds[1]])
        # a rung of one seed against the other seed's final value: the rung's ranking of what
        # the full proxy measures, with no shared noise
        pairs = [tau_of(at[a], final[b]) for a in seeds for b in seeds if a != b]
        cross = None if None in pairs else round(statistics.fmean(pairs), 3)
        mean = statistics.fmean(statistics.fmean(v) for v in at.values())
        rows.append({"epoch": r, "seed_tau": tau, "seed_tau_lo": lo, "seed_tau_hi": hi,
                     "rung_vs_final_tau": cross, "mean_acc": round(100 * mean, 2),
                     # seeds per column for tau 0.8 at this rung, from the tau and its interval's top
                     "seeds_for_0.8": seeds_needed(tau), "seeds_for_0.8_best_case": seeds_needed(hi)})
    summary = {"config": args.config, "loss": args.loss, "teacher": args.teacher, "archs": names,
               "epochs": epochs, "overrides": over,
               "verdict": next((f"seeds agree at tau >= 0.8 from epoch {r['epoch']}" for r in rows
                                if (r["seed_tau"] or 0) >= 0.8), "seeds never agree at tau >= 0.8 within this run")}
    print(summary["verdict"])
    report(tag, rows, summary)
    if args.export_table:
        export(args.export_table, cfg, setup.data[0], space, archs, {a: done[(a, rungs[-1])] for a in names}, args, over)


def export(path: str, cfg, ds, space, archs, last: dict, args, over: list[str]) -> None:  # noqa: ANN001
    """The pilot's last rung as a benchmark table: mean and per-seed top-1 per arch, keyed as
    the space keys its tables (DisWOT's codes for resnet_depth)."""
    seeds = sorted(next(iter(last.values()))["seeds"])
    rows = {}
    for tokens in archs:
        r = last[space.to_string(tokens)]
        acc = [100 * r["seeds"][s] for s in seeds]
        rows[space.table_key(tokens)] = [statistics.fmean(acc), *acc, r["params"], r["macs"], 0.0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip() or "unknown"
    meta = {"space": space.config(), "dataset": cfg.data.name, "input": f"{ds.in_channels}x{ds.input_size}x{ds.input_size}",
            "classes": ds.num_classes, "teacher": args.teacher or f"none ({args.loss})",
            "loss": cfg.evaluator.proxy.loss.model_dump(), "proxy": cfg.evaluator.proxy.model_dump(),
            "source": f"bench/fmnist_pilot.py {' '.join(over)}", "date": time.strftime("%Y-%m-%d"), "code": commit}
    write_benchmark(path, BenchmarkTable(meta, ["accuracy", *(f"acc_seed{s}" for s in seeds), "params", "macs",
                                                "latency_ms"], rows))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
