"""Do the strategies hold on a large space? (issue 42 item 5)

The controllers were tuned on tables of 64 and 1,296 archs. Here every strategy searches the
`akd_fmnist` space (MnasNet tiny, 42 decisions: ~10^17.6 archs) with the real Fashion-MNIST proxy
(KD from the teacher ensemble, `--epochs` epochs on the 10,000-image subset, one fidelity),
at the same paid budget (`--trials`, batches of 8), over several search seeds:

- the best proxy reward found after n paid trials (n = 8, 16, ... `--trials`), mean ± sd over
  the search seeds, and a one-sided Mann-Whitney U p-value against random search at the end;
- the controller's entropy per batch (ppo, reinforce), to see whether it stops exploring;
- each search's pick (its best reward) retrained once with KD (`--retrain-epochs` on mini-train,
  scored on mini-val; the test set decides nothing here), beside the proxy's noise floor: the
  sd of one arch's proxy reward over `--noise-seeds` training seeds. A gap between two
  strategies' retrained picks means something only where it exceeds that floor.

Every search is a `distillnas.search.run_search` call into OUT/<strategy>-s<seed>/, so a killed
study resumes where it stopped (finished searches and retrainings are read back).

    python bench/strategies_fmnist.py                     # 5 strategies x 3 seeds x 64 trials
    python bench/strategies_fmnist.py --quick             # the same path on synthetic data, minutes

Writes OUT/strategies_fmnist.json (default bench/results/strategies_fmnist/) and prints the tables.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from rich.console import Console
from scipy.stats import mannwhitneyu

from distillnas.data import prepare_data
from distillnas.io import atomic_write_text
from distillnas.reward import trial_reward
from distillnas.runconfig import load_search_config
from distillnas.rundir import RunDir
from distillnas.search import run_search
from distillnas.spaces import student_of
from distillnas.store import TrialStore
from distillnas.teachers import TeacherCache, load_teacher
from distillnas.training import train_student

from _common import RESULTS, share_teacher_cache

STRATEGIES = ["ppo", "reinforce", "tpe", "evolution", "random"]
QUICK = ["--data.name=synthetic", "--data.train_subset=null", "--space.blocks=2", "--evaluator.proxy.warmup_epochs=0.1",
         "--evaluator.proxy.teacher_views=2", "--reward.target=20000"]


def overrides(args: argparse.Namespace, strategy: str, seed: int) -> list[str]:
    """One search of the study: the config, this strategy and seed, one fidelity of --epochs."""
    return [f"--run_dir={args.out / f'{strategy}-s{seed}'}", f"--teacher.spec=[{args.teacher}]",
            f"--strategy.name={strategy}", f"--strategy.seed={seed}", f"--search.trials={args.trials}",
            "--search.batch_size=8", "--evaluator.proxy.fidelity.epochs=null", f"--evaluator.proxy.epochs={args.epochs}",
            "--cost.latency=none", *(QUICK if args.quick else [])]


def best_so_far(run_dir: Path, reward_cfg, trials: int) -> list[float]:  # noqa: ANN001
    """The best reward among the first n paid trials, for n = 1..trials (in the order stored)."""
    store = TrialStore(run_dir / "trials.sqlite", readonly=True)
    try:
        rows = [t for t in store.trials() if t.get("extra", {}).get("reused_from") is None and t["status"] != "screened"]
    finally:
        store.close()
    out, best = [], 0.0
    for t in rows[:trials]:
        best = max(best, trial_reward(t, reward_cfg))
        out.append(best)
    return out


def entropy_curve(run_dir: Path) -> list[float]:
    store = TrialStore(run_dir / "trials.sqlite", readonly=True)
    try:
        return [round(s["entropy"], 4) for _, s in sorted(store.batch_stats().items()) if "entropy" in s]
    finally:
        store.close()


def retrain(run_dir: Path, arch: str, args: argparse.Namespace, seed: int = 0) -> dict:
    """The pick retrained once with the run's final KD recipe for --retrain-epochs on mini-train."""
    mark = run_dir / f"retrained-e{args.retrain_epochs:g}-seed{seed}.json"
    if mark.is_file():
        return json.loads(mark.read_text())
    run = RunDir(run_dir)
    cfg, best = run.load()
    tcfg = cfg.final.train_config(args.retrain_epochs)
    ds, splits = prepare_data(cfg.data)
    teacher = load_teacher(run.teacher_members(cfg), ds)
    student = student_of(arch, best.get("space"), ds.num_classes, ds.in_channels, ds.input_size)
    r = train_student(student, tcfg, ds, splits, teacher=teacher, cache=TeacherCache(run.teacher_cache), seed=seed,
                      train_split="minitrain", eval_splits=("minival",))
    if r.status != "ok":
        raise SystemExit(f"retraining {arch}: {r.status} {r.error}")
    out = {"arch": arch, "minival": 100 * r.metrics["minival"], "wall_s": r.wall_s}
    atomic_write_text(mark, json.dumps(out))
    return out


def proxy_noise(args: argparse.Namespace, arch_runs: list[tuple[str, Path]]) -> dict:
    """The proxy's noise floor: a few picks' proxy rewards again under other training seeds."""
    from dataclasses import replace

    from distillnas.evaluators.base import EvalContext
    from distillnas.evaluators.proxy import ProxyEvaluator
    from distillnas.setup import check_setup
    from distillnas.spaces import space_from_config

    mark = args.out / "proxy_noise.json"
    if mark.is_file():
        return json.loads(mark.read_text())
    sds, rows = [], []
    for arch, run_dir in arch_runs:
        cfg, _ = RunDir(run_dir).load()
        cfg = cfg.model_copy(update={"evaluator": cfg.evaluator.model_copy(update={"proxy": cfg.evaluator.proxy.model_copy(
            update={"seeds": list(range(args.noise_seeds))})})})
        space = space_from_config(cfg.space)
        ctx = EvalContext(space=cfg.space, data=cfg.data, evaluator=cfg.evaluator, cost=cfg.cost,
                          teacher=check_setup(cfg).spec, threads=cfg.execution.threads)
        res = ProxyEvaluator.run(replace(ctx), space.from_string(arch), 0)
        if res.status != "ok":
            raise SystemExit(f"noise run of {arch}: {res.status} {res.error}")
        accs = [100 * v for v in res.extra["seed_accuracies"].values()]
        sds.append(statistics.stdev(accs))
        rows.append({"arch": arch, "seed_accuracies": accs})
    out = {"archs": rows, "seed_sd_points": statistics.fmean(sds)}
    atomic_write_text(mark, json.dumps(out, indent=1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="akd_fmnist")
    ap.add_argument("--teacher", default="fmnist-resnet20x3", help="teacher spec (shipped name, folder or checkpoints)")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--seeds", default="0,1,2", help="search seeds")
    ap.add_argument("--trials", type=int, default=64, help="paid trials per search (batches of 8)")
    ap.add_argument("--epochs", type=float, default=2, help="proxy epochs (one fidelity)")
    ap.add_argument("--retrain-epochs", type=float, default=10, help="KD retraining of each pick on mini-train")
    ap.add_argument("--noise-seeds", type=int, default=3, help="training seeds for the proxy's noise floor")
    ap.add_argument("--out", type=Path, default=RESULTS / "strategies_fmnist")
    ap.add_argument("--quick", action="store_true", help="toy sizes on synthetic data (checks the path)")
    args = ap.parse_args()
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.quick and args.teacher == "fmnist-resnet20x3":
        from distillnas.config import DataConfig, TrainConfig, validate
        from distillnas.training import train_teachers

        args.teacher = str(args.out / "teacher")
        train_teachers("resnet8-w0.25", [0], DataConfig(name="synthetic"),
                       validate(TrainConfig, {"optim": {"epochs": 1, "batch_size": 32}, "loss": {"name": "ce"}}),
                       args.teacher)
    # every search's config is built (and so checked) before any of them runs
    cfgs = {(s, k): load_search_config(args.config, overrides(args, s, k)) for s in strategies for k in seeds}
    runs, console = {}, Console()
    for (s, k), cfg in cfgs.items():
        share_teacher_cache(args.out / f"{s}-s{k}", args.out / "teacher_cache")
        print(f"{s} seed {k}: searching into {args.out / f'{s}-s{k}'}", flush=True)
        outcome = run_search(cfg, console)  # progress a log file can follow: a plain line every 30 s
        curve = best_so_far(outcome.run_dir, cfg.reward, args.trials)
        pick = max((t for t in outcome.best), key=lambda t: t["reward"])["arch"] if outcome.best else None
        runs[(s, k)] = {"strategy": s, "seed": k, "curve": curve, "entropy": entropy_curve(outcome.run_dir),
                        "pick": pick, "wall_s": outcome.wall_s, "run_dir": str(outcome.run_dir)}
        print(f"{s:<10} seed {k}: best reward {curve[-1]:.4f} after {len(curve)} trials", flush=True)
    for r in runs.values():
        r["retrained"] = retrain(Path(r["run_dir"]), r["pick"], args) if r["pick"] else None
    noise = proxy_noise(args, [(runs[(strategies[0], k)]["pick"], Path(runs[(strategies[0], k)]["run_dir"]))
                               for k in seeds[:2] if runs[(strategies[0], k)]["pick"]])
    at = sorted({n for n in range(8, args.trials + 1, 8)} | {args.trials})
    table = []
    for s in strategies:
        rows = [runs[(s, k)] for k in seeds]
        finals = [r["curve"][-1] for r in rows]
        line = {"strategy": s}
        for n in at:
            vals = [r["curve"][min(n, len(r["curve"])) - 1] for r in rows]
            line[f"best@{n}"] = f"{statistics.fmean(vals):.4f} ± {statistics.stdev(vals) if len(vals) > 1 else 0:.4f}"
        if s != "random" and "random" in strategies and len(seeds) > 1:
            line["p_vs_random"] = round(float(mannwhitneyu(finals, [runs[("random", k)]["curve"][-1] for k in seeds],
                                                           alternative="greater").pvalue), 4)
        retr = [r["retrained"]["minival"] for r in rows if r["retrained"]]
        line["retrained_pick_minival"] = f"{statistics.fmean(retr):.2f} ± {statistics.stdev(retr) if len(retr) > 1 else 0:.2f}"
        ent = [r["entropy"] for r in rows if r["entropy"]]
        if ent:
            line["entropy_first_last"] = f"{statistics.fmean(e[0] for e in ent):.3f} -> {statistics.fmean(e[-1] for e in ent):.3f}"
        table.append(line)
    result = {"config": args.config, "teacher": args.teacher, "trials": args.trials, "proxy_epochs": args.epochs,
              "retrain_epochs": args.retrain_epochs, "table": table, "proxy_noise": noise,
              "runs": [{**r, "curve": [round(v, 5) for v in r["curve"]]} for r in runs.values()], "quick": args.quick}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "strategies_fmnist.json", json.dumps(result, indent=1))
    cols = list(dict.fromkeys(c for line in table for c in line))
    print("  ".join(cols))
    for line in table:
        print("  ".join(str(line.get(c, "-")) for c in cols))
    print(f"proxy noise floor: a pick's proxy accuracy varies by {noise['seed_sd_points']:.2f} points (sd over "
          f"{args.noise_seeds} training seeds)")
    print(f"-> {args.out / 'strategies_fmnist.json'}")


if __name__ == "__main__":
    main()
