"""Which multi-fidelity schedule lets a low rung rank? (issue 42 item 4, issue 44 item 2)

Under `fidelity.schedule=horizon` (one cosine over the last rung) a rung is scored mid-schedule,
at a high lr: on the Fashion-MNIST table its 1-epoch rung ranked the 243 archs like the 2-epoch
rung at Kendall tau 0.13. `fidelity.schedule=rung` restarts the cosine at every rung, so rung 1
is an annealed 1-epoch run. This reads four grid runs of `table_mnasnet_fmnist` over the same
archs (the grid's seeded order; 1 and 2 epochs each):

- HORIZON_S0: the table's own run (schedule horizon, training seed 0),
- HORIZON_S1: the same with training seed 1 (the seed noise floor of each rung),
- RUNG_S0, RUNG_S1: schedule rung, training seeds 0 and 1 (RUNG_S1 optional: without it the
  rung schedule's own seed floor is not reported),

and reports, with bootstrap 95 % intervals over archs: how each schedule's rung 1 ranks like
the 2-epoch proxy *of another training seed* (so a shared seed's luck cannot inflate it) beside
the floor - how two seeds of the 2-epoch proxy agree with each other.

    for arm in rung:0 horizon:1 rung:1; do                # 48 archs x 2 rungs each, ~25 min of one core
      distillnas search --config table_mnasnet_fmnist --run-dir bench/results/pilot_schedule_fmnist/${arm%:*}_s${arm#*:} \
        --evaluator.proxy.fidelity.schedule=${arm%:*} --evaluator.proxy.fidelity.recalibrate=0 "--evaluator.proxy.seeds=[${arm#*:}]" --search.trials=96 --search.batch_size=24
    done
    python bench/schedule_pilot.py
Writes results/schedule_pilot_fmnist.json.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from distillnas.calibrate import _kendall, _with_interval
from distillnas.store import TrialStore

from _common import RESULTS, report


def rungs(run: Path) -> dict[str, dict[float, float]]:
    """{arch: {fidelity: mini-val accuracy}} of a grid run's finished trials."""
    out: dict[str, dict[float, float]] = {}
    for t in TrialStore(run / "trials.sqlite", readonly=True).trials():
        if t["status"] == "ok":
            out.setdefault(t["arch"], {})[float(t["extra"]["fidelity"])] = 100 * t["accuracy"]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--horizon-s0", type=Path, default=RESULTS / "table_mnasnet_fmnist_s0")
    p.add_argument("--horizon-s1", type=Path, default=RESULTS / "pilot_schedule_fmnist" / "horizon_s1")
    p.add_argument("--rung-s0", type=Path, default=RESULTS / "pilot_schedule_fmnist" / "rung_s0")
    p.add_argument("--rung-s1", type=Path, default=RESULTS / "pilot_schedule_fmnist" / "rung_s1")
    a = p.parse_args()
    paths = {"h0": a.horizon_s0, "h1": a.horizon_s1, "r0": a.rung_s0, "r1": a.rung_s1}
    missing = [str(v) for k, v in paths.items() if not (v / "trials.sqlite").is_file()]
    if any(k != "r1" and not (v / "trials.sqlite").is_file() for k, v in paths.items()):
        raise SystemExit(f"no trials.sqlite in {', '.join(missing)}: run the arms first (see --help)")
    runs = {k: rungs(v) for k, v in paths.items() if (v / "trials.sqlite").is_file()}  # rung_s1 is optional
    archs = sorted(set.intersection(*({k for k, v in r.items() if {1.0, 2.0} <= set(v)} for r in runs.values())))
    if len(archs) < 8:
        raise SystemExit(f"only {len(archs)} archs have both rungs in all {len(runs)} runs; let the runs finish")
    col = {f"{k}e{int(f)}": np.array([runs[k][x][f] for x in archs]) for k in runs for f in (1.0, 2.0)}
    pairs = [  # (what it measures, x, y)
        ("floor: 2-epoch proxy, seed 0 vs seed 1", "h0e2", "h1e2"),
        ("floor: horizon rung 1, seed 0 vs seed 1", "h0e1", "h1e1"),
        ("floor: rung rung 1, seed 0 vs seed 1", "r0e1", "r1e1"),
        ("floor: rung rung 2, seed 0 vs seed 1", "r0e2", "r1e2"),
        ("horizon rung 1 (seed 0) vs 2-epoch proxy (seed 1)", "h0e1", "h1e2"),
        ("rung rung 1 (seed 0) vs 2-epoch proxy (seed 1)", "r0e1", "h1e2"),
        ("rung rung 2 (seed 0) vs 2-epoch proxy (seed 1)", "r0e2", "h1e2"),
        ("rung rung 1 (seed 1) vs 2-epoch proxy (seed 0)", "r1e1", "h0e2"),
        ("horizon rung 1 (seed 1) vs 2-epoch proxy (seed 0)", "h1e1", "h0e2"),
        ("horizon: rung 1 vs rung 2, same run (seed 0)", "h0e1", "h0e2"),
        ("rung: rung 1 vs rung 2, same run (seed 0)", "r0e1", "r0e2"),
    ]
    rows = []
    for what, x, y in (q for q in pairs if q[1] in col and q[2] in col):  # the pairs of the arms that ran
        tau, (lo, hi) = _with_interval(lambda j, x=col[x], y=col[y]: _kendall(x[j], y[j]), len(archs))
        rows.append({"comparison": what, "tau": round(tau, 3), "interval": f"[{lo:+.2f}, {hi:+.2f}]"})
    means = {k: f"{v.mean():.1f} ± {v.std(ddof=1):.1f} ({v.min():.1f}-{v.max():.1f})" for k, v in col.items()}
    print(f"{len(archs)} archs; mini-val top-1 per run and rung (mean ± sd, range): {means}")
    report("schedule_pilot_fmnist", rows, {"archs": len(archs), "columns": means, "missing": missing,
                                           "runs": {k: str(v) for k, v in vars(a).items()}})


if __name__ == "__main__":
    main()
