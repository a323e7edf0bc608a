"""Constrained two-objective search with early stopping (issue 44 item 2), measured on a table.

nsga2 (accuracy up, cost down, the target a hard constraint) searches a tabular benchmark
twice per seed: at full fidelity (every arch looked up in the main table, costing its full
epochs) and under successive halving (`evaluator.fidelity`: every arch first looked up in a
lower-fidelity table of the same protocol stopped early, the best 1/eta - by accuracy within
cost strata, or by constrained Pareto rank (`--promote`) - promoted to the main table, paying
only the epochs beyond the rung they continue). Cost
is proxy epochs paid (free repeats excluded). After each batch the front found so far - archs
evaluated at the top fidelity, within the target - is scored by its hypervolume against the
true front of the whole table (accuracy x (target - cost), normalised by the true front's).

Reported per method (mean +- sd over seeds): the final hypervolume ratio and cost, and the
cost at which successive halving first reaches the full-fidelity search's final hypervolume
(its fraction of the full search's cost; mean, sd and median over the seeds that reach it, and
how many seeds reach it within 1/2 of the cost: the issue's goal).

    python bench/mo_fidelity.py --low bench/table_parts/mnist5k_mnasnet/kd_resnet8_e1.txt
    python bench/mo_fidelity.py --config akd_mnist5k216_table --low mnist5k216_kd9_e1_seed0,mnist5k216_kd9_e3_seed0 \
        --epochs 1,3,9 --trials 48 --sh-trials 288 --promote front
    python bench/mo_fidelity.py --config akd_fmnist_table --table fmnist_mnasnet_kd4 --low fmnist_mnasnet_kd4_e1 --epochs 1,4
    python bench/mo_fidelity.py --config akd_fmnist_table --table fmnist_mnasnet_kd9 \
        --low fmnist_mnasnet_kd9_e1,fmnist_mnasnet_kd9_e3 --epochs 1,3,9 --trials 48 --sh-trials 288
Writes results/NAME.json (default mo_fidelity).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from distillnas.benchmarks import read_benchmark
from distillnas.runconfig import load_search_config
from distillnas.search import run_search
from distillnas.store import TrialStore

from _common import report


def hypervolume(points: list[tuple[float, float]], target: float, floor: float) -> float:
    """Area dominated by (accuracy, cost) points within the target, above `floor` accuracy and
    below the target cost (a 2-D sweep)."""
    pts = sorted((c, a) for a, c in points if c <= target and a > floor)
    area, best = 0.0, floor
    for i, (c, a) in enumerate(pts):
        best = max(best, a)
        nxt = pts[i + 1][0] if i + 1 < len(pts) else target
        area += (best - floor) * (nxt - c)
    return area


def curve(run: Path, metric: str, target: float, floor: float, top: float | None, full: float,
          low_seeds: int = 1, low_charge: float = 0.0) -> list[tuple]:
    """(cumulative epochs paid, hypervolume of the top-fidelity front) after each batch; a rung
    below the top trained `low_seeds` times pays that many times its epochs, each plus
    `low_charge` epochs of scoring work (batch-norm recalibration's forward passes)."""
    rows = TrialStore(run / "trials.sqlite", readonly=True).trials()
    out, paid, seen = [], 0.0, []
    for b in sorted({r["batch"] for r in rows}):
        for r in (r for r in rows if r["batch"] == b):
            if r["extra"].get("reused_from") is None and r["status"] != "screened":
                low = top is not None and r["extra"].get("fidelity", top) < top
                epochs = r["extra"].get("epochs_trained", full)
                paid += (epochs + low_charge) * low_seeds if low else epochs
            if r["status"] == "ok" and (top is None or r["extra"].get("fidelity") == top):
                seen.append((100 * r["accuracy"], float(r[metric])))
        out.append((paid, hypervolume(seen, target, floor)))
    return out


def level_summary(rows: list[dict], level: float) -> dict:
    """How many seeds of each method reached `level` of the true hypervolume, the median epochs they
    paid to get there (a seed that never did counts as infinite), and the ratio of the medians."""
    out = {}
    for m in ("full", "sh"):
        costs = sorted(r[f"{m}_cost_to_{level:g}"] or float("inf") for r in rows)
        med = statistics.median(costs)
        out[m] = {"reached": f"{sum(c < float('inf') for c in costs)}/{len(costs)}",
                  "median_cost": med if med < float("inf") else None}
    a, b = out["sh"]["median_cost"], out["full"]["median_cost"]
    out["ratio_of_medians"] = a / b if a is not None and b is not None else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="akd_mnist5k_table")
    ap.add_argument("--table", default=None, help="the main (full-fidelity) table, by name or path (default: the config's)")
    ap.add_argument("--low", required=True, help="the lower-fidelity table(s), cheapest first, comma-separated "
                    "(same space and protocol, stopped early; the main table itself gives an oracle rung: "
                    "the best successive halving can do with a rung that ranks perfectly)")
    ap.add_argument("--epochs", default="1,3", help="each low table's fidelity, then the main table's")
    ap.add_argument("--trials", type=int, default=96, help="paid evaluations of the full-fidelity search")
    ap.add_argument("--sh-trials", type=int, default=None,
                    help="paid evaluations of successive halving (default 2 x --trials; a longer ladder pays "
                    "fewer epochs per evaluation, so give it more to spend about the full search's cost)")
    ap.add_argument("--sh-batch", type=int, default=16,
                    help="archs per halving bracket (the full search's batch is 16): promotion is decided "
                    "within a bracket, so an arch that loses its own is never promoted later")
    ap.add_argument("--mode", default="sh", choices=["sh", "hyperband"],
                    help="sh: every bracket starts at the cheapest rung; hyperband: brackets cycle through "
                    "the rungs they start at (evaluator.fidelity.mode)")
    ap.add_argument("--promote", default="strata", choices=["front", "strata"],
                    help="how a rung ranks its promotions (evaluator.fidelity.promote): strata (the default): by "
                    "accuracy within equal-count cost strata, one per promoted arch; front: constrained Pareto "
                    "fronts (every measurement before 2026-12-07b, when it was the only order)")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--eta", type=int, default=3)
    ap.add_argument("--low-seeds", type=int, default=1,
                    help="training seeds averaged in each --low table (e.g. tables joined by `table merge --seeds`): "
                    "an evaluation at a lower rung pays that many times its epochs; a promoted arch continues one")
    ap.add_argument("--low-charge", type=float, default=0.0,
                    help="epochs of extra work each lower-rung evaluation pays beside its training (e.g. "
                    "the forward passes of fidelity.recalibrate, measured by bench/recalibrate_rung.py)")
    ap.add_argument("--levels", default="",
                    help="also report, per method, the epochs paid until its front first reaches each of these "
                    "fractions of the true front's hypervolume (comma-separated, e.g. 0.9,0.95): a comparison "
                    "that does not hinge on where one seed of the full search happens to end")
    ap.add_argument("--name", default="mo_fidelity", help="the results file: results/NAME.json")
    args = ap.parse_args()
    lows = args.low.split(",")
    ladder = [float(e) for e in args.epochs.split(",")]
    hi, sh_trials = ladder[-1], args.sh_trials or 2 * args.trials
    if not 0 <= args.low_charge <= 10:
        raise SystemExit(f"--low-charge {args.low_charge}: give 0..10 epochs")
    if not 1 <= args.low_seeds <= 10:
        raise SystemExit(f"--low-seeds {args.low_seeds}: give 1..10")
    if not 2 <= args.sh_batch <= 1000:
        raise SystemExit(f"--sh-batch {args.sh_batch}: give 2..1000 archs per bracket")
    if len(ladder) != len(lows) + 1 or not all(a < b for a, b in zip(ladder, ladder[1:])):
        raise SystemExit(f"--epochs {args.epochs!r}: one increasing fidelity per --low table ({len(lows)}), then the main table's")
    seeds = [int(s) for s in args.seeds.split(",")]
    levels = [float(x) for x in args.levels.split(",") if x.strip()]
    if any(not 0 < x <= 1 for x in levels):
        raise SystemExit(f"--levels {args.levels!r}: give fractions in (0, 1]")
    pinned = [f"--evaluator.table={args.table}"] if args.table else []
    base = load_search_config(args.config, pinned)
    metric, target = base.reward.metric, base.reward.target
    main_table = read_benchmark(base.evaluator.table)
    cost_of = {k: float(dict(zip(main_table.columns, v))[metric]) for k, v in main_table.rows.items()}
    true = [(100 * a, cost_of[k]) for k, a in main_table.accuracy.items()]
    floor = min(a for a, c in true if c <= target)
    best_hv = hypervolume(true, target, floor)
    common = ["--strategy.name=nsga2", "--strategy.nsga2.population=16", "--search.batch_size=16",
              "--reward.mode=hard", "--search.patience=1000", *pinned]
    sh = [f"--evaluator.fidelity.tables=[{', '.join(lows)}]", f"--evaluator.fidelity.epochs={ladder}",
          f"--evaluator.fidelity.eta={args.eta}", f"--search.batch_size={args.sh_batch}",
          f"--evaluator.fidelity.mode={args.mode}", f"--evaluator.fidelity.promote={args.promote}"]
    work = Path(tempfile.mkdtemp(prefix="mo_fidelity_"))
    rows = []
    for seed in seeds:
        runs = {}
        # successive halving pays fewer epochs per trial: it gets more trials, and is
        # judged by the epochs it has paid when its front first matches the full search's
        for method, extra, trials in (("full", [], args.trials), ("sh", sh, sh_trials)):
            run = work / f"{method}-s{seed}"
            cfg = load_search_config(args.config, [f"--run_dir={run}", f"--strategy.seed={seed}",
                                                   f"--search.trials={trials}", *common, *extra])
            run_search(cfg, progress=False)
            runs[method] = curve(run, metric, target, floor, cfg.evaluator.top_fidelity(), hi, args.low_seeds,
                                 args.low_charge)
        full_cost, full_hv = runs["full"][-1]
        reach = next((c for c, hv in runs["sh"] if hv >= full_hv - 1e-9), None)
        rows.append({"seed": seed, "full_cost": full_cost, "full_hv": full_hv / best_hv,
                     "sh_cost": runs["sh"][-1][0], "sh_hv": runs["sh"][-1][1] / best_hv,
                     "sh_cost_to_full_hv": reach, "fraction": (reach / full_cost) if reach else None,
                     **{f"{m}_cost_to_{x:g}": next((c for c, hv in runs[m] if hv >= x * best_hv - 1e-9), None)
                        for x in levels for m in ("full", "sh")}})
        print(rows[-1], flush=True)
    fr = [r["fraction"] for r in rows if r["fraction"] is not None]
    summary = {"seeds": seeds, "reached": f"{len(fr)}/{len(rows)}",
               "fraction_mean": statistics.fmean(fr) if fr else None,
               "fraction_sd": statistics.stdev(fr) if len(fr) > 1 else None,
               "fraction_median": statistics.median(fr) if fr else None,
               "within_half": f"{sum(f <= 0.5 for f in fr)}/{len(rows)}",  # the goal: reached at <= 1/2 the cost
               "full_hv_mean": statistics.fmean(r["full_hv"] for r in rows),
               "sh_hv_mean": statistics.fmean(r["sh_hv"] for r in rows),
               "config": args.config, "table": args.table or base.evaluator.table, "low": lows, "epochs": ladder, "eta": args.eta, "trials": args.trials,
               "sh_trials": sh_trials, "sh_batch": args.sh_batch,
               "mode": args.mode, "promote": args.promote, "low_seeds": args.low_seeds, "low_charge": args.low_charge, "levels": {f"{x:g}": level_summary(rows, x) for x in levels}}
    print(summary)
    report(args.name, rows, summary)


if __name__ == "__main__":
    main()
