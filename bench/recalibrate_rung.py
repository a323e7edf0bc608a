"""Does a lower rung rank better when its batch-norm statistics are re-estimated? (issue 44)

Re-trains the lower-rung evaluations of a finished table run (`fidelity.eta=1`: every arch at
every rung) - the same config, teacher and seeds, through the proxy evaluator's own path, a
rung above the first continuing the rungs below as the run did - and
scores each student twice from one training: as the table did (running statistics) and after
`training.loop.recalibrated` over K training batches, for each K given. The plain score must
equal the table's (the run is reproduced, checked for every arch); the recalibrated ones are
written as new lower-rung tables beside it, for `bench/mo_fidelity.py --low`.

Also reported, measured in this run: each K's cost in epochs of the rung's training (forward
passes over K batches against the rung's training loop), for `mo_fidelity.py --low-charge`, and
Kendall tau of every column against the given top tables. With `--check`, the first arch is
also run through `evaluator.proxy.fidelity.recalibrate` itself, which must give the same score.

    python bench/recalibrate_rung.py --run bench/results/table_m5k216_r139_seed0_shard0 \\
        --table mnist5k216_kd9_e1_seed0 --top mnist5k216_kd9_seed0,mnist5k216_kd9_seed1 --batches 5,20 \\
        --out bench/table_parts/mnist5k216/kd9_e1r{k}_seed0.txt
Writes results/NAME.json (default recalibrate_rung) and resumes from results/NAME.jsonl.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from scipy.stats import kendalltau

import distillnas.training.student as student_module
from distillnas.benchmarks import read_benchmark
from distillnas.benchmarks.format import BenchmarkTable, write_benchmark
from distillnas.evaluators.proxy import ProxyEvaluator
from distillnas.rundir import RunDir
from distillnas.search import make_evaluator
from distillnas.setup import check_config, check_setup, prepare_teacher
from distillnas.training.loop import evaluate, recalibrated

from _common import RESULTS, report

_scores: dict[str, float] = {}
_times: dict[str, float] = {}


def _fit_scoring_both(batches: list[int]):  # noqa: ANN202
    """`fit` that also scores the trained student recalibrated over each K, timing each K."""
    real = student_module.fit

    def fit(model, loss_fn, loader, cfg, **kw):  # noqa: ANN001, ANN202
        res = real(model, loss_fn, loader, cfg, **kw)
        _times["train_s"] = res.wall_s
        if res.status == "ok" and kw.get("evals"):
            device, cl, precision = kw["device"], kw["channels_last"], kw["precision"]
            split, ev = next(iter(kw["evals"].items()))
            for k in batches:
                start = time.perf_counter()
                scored = recalibrated(model, loader, k, device, cl, precision)
                _times[f"recal{k}_s"] = time.perf_counter() - start
                _scores[f"recal{k}"] = 100 * evaluate(scored, ev, device, cl, precision)
        return res
    return fit


def _context(run_dir: Path, work: Path, fidelity: float):  # noqa: ANN202
    """The run's evaluator context at `fidelity`, over a copy of what the run needs (its
    config, teacher, teacher cache, latencies), so the run itself is never written."""
    for name in ("config.yaml", "latency.json", "teacher", "teacher_cache"):
        src, dst = run_dir / name, work / name
        if src.exists() and not dst.exists():
            (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    run = RunDir(work)
    cfg = run.load_config()
    space = check_config(cfg)
    setup = check_setup(cfg)
    ev = make_evaluator(cfg, space, run, prepare_teacher(cfg, run, None, setup.spec))
    ev.prepare(setup.data, setup.teacher)
    return space, cfg, replace(ev.ctx, fidelity=fidelity, resume_fidelity=0.0, state_dir=str(work / "fidelity"))


def _train_to(ctx, tokens: tuple[int, ...], seed: int, rungs: list[float]):  # noqa: ANN001, ANN202
    """Train an arch up the run's ladder to its last rung as the run did (each rung continuing
    the one below from its saved state), so only the last rung's training is scored and timed."""
    below = 0.0
    for r in rungs:
        _scores.clear()
        _times.clear()
        res = ProxyEvaluator.run(replace(ctx, fidelity=r, resume_fidelity=below), tokens, seed)
        below = r
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="the finished table run whose lower rung is re-trained")
    ap.add_argument("--table", required=True, help="that run's lower-rung table (by name or path)")
    ap.add_argument("--top", default="", help="top-rung tables to rank against (comma-separated)")
    ap.add_argument("--batches", default="5,20", help="K: training batches to recalibrate over (comma-separated)")
    ap.add_argument("--archs", type=int, default=0, help="a seeded random sample of this many archs (0: all)")
    ap.add_argument("--sample-seed", type=int, default=1000)
    ap.add_argument("--out", default="", help="write each K's table here ({k} is replaced by K)")
    ap.add_argument("--check", action="store_true",
                    help="also score the first arch through evaluator.proxy.fidelity.recalibrate itself")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--name", default="recalibrate_rung")
    args = ap.parse_args()
    batches = [int(k) for k in args.batches.split(",") if k.strip()]
    if not batches or any(not 1 <= k <= 1000 for k in batches):
        raise SystemExit(f"--batches {args.batches!r}: give whole numbers in 1..1000")
    if args.out and "{k}" not in args.out and len(batches) > 1:
        raise SystemExit("--out: put {k} in the path when giving more than one K")
    torch.set_num_threads(args.threads)
    table = read_benchmark(args.table)
    fidelity = float(str(table.meta.get("fidelity", "")).split(" of ")[0])
    keys = sorted(table.rows)
    random.Random(args.sample_seed).shuffle(keys)
    keys = keys[:args.archs] if args.archs else keys
    work = Path(tempfile.mkdtemp(prefix="recal_"))
    space, cfg, ctx = _context(Path(args.run), work, fidelity)
    rungs = [float(e) for e in cfg.evaluator.proxy.fidelity.epochs or [] if float(e) < fidelity] + [fidelity]
    seed = cfg.evaluator.proxy.seeds[0] if cfg.evaluator.proxy.seeds else 0
    log = RESULTS / f"{args.name}.jsonl"
    rows = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    done = {r["arch"] for r in rows}
    real_fit, student_module.fit = student_module.fit, _fit_scoring_both(batches)
    for i, key in enumerate(keys):
        if key in done:
            continue
        _scores.clear()
        _times.clear()
        res = _train_to(ctx, space.from_string(key), seed, rungs)
        plain = table.column(table.columns[0])[key]
        if res.accuracy is None or abs(100 * res.accuracy - plain) > 1e-3:
            raise SystemExit(f"{key}: re-trained to {res.accuracy}, the table says {plain}: not the table's run")
        row = {"arch": key, "plain": plain, **_scores, **_times}
        rows.append(row)
        with log.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{i + 1}/{len(keys)} {key[:60]} plain {plain:.2f} "
              + " ".join(f"K{k} {_scores.get(f'recal{k}', float('nan')):.2f}" for k in batches), flush=True)
    student_module.fit = real_fit
    checked = None
    if args.check and rows:
        k = batches[0]
        fid = cfg.evaluator.proxy.fidelity.model_copy(update={"recalibrate": k})
        proxy = cfg.evaluator.proxy.model_copy(update={"fidelity": fid})
        c = replace(ctx, evaluator=cfg.evaluator.model_copy(update={"proxy": proxy}))
        res = _train_to(c, space.from_string(rows[0]["arch"]), seed, rungs)
        checked = {"arch": rows[0]["arch"], "k": k, "feature": 100 * res.accuracy, "bench": rows[0][f"recal{k}"]}
        if abs(checked["feature"] - checked["bench"]) > 1e-6:
            raise SystemExit(f"fidelity.recalibrate={k} scored {checked['feature']}, this script {checked['bench']}")
    trained = fidelity - (rungs[-2] if len(rungs) > 1 else 0.0)
    summary = _summary(rows, batches, [t for t in args.top.split(",") if t.strip()], trained)
    summary.update(run=args.run, table=args.table, fidelity=fidelity, seed=seed, checked=checked)
    if args.out and len(rows) == len(keys) == len(table.rows):
        for k in batches:
            proxy = dict(table.meta.get("proxy") or {})
            proxy["fidelity"] = {**(proxy.get("fidelity") or {}), "recalibrate": k}
            meta = {**table.meta, "proxy": proxy,
                    "fidelity": f"{table.meta.get('fidelity')}; scored after re-estimating batch-norm "
                    f"statistics on {k} training batches (fidelity.recalibrate={k})",
                    "source": f"{table.meta.get('source')}; re-scored by bench/recalibrate_rung.py"}
            by = {r["arch"]: r[f"recal{k}"] for r in rows}
            out = BenchmarkTable(meta, table.columns, {
                key: [by[key] if c == table.columns[0] or c.startswith("acc_seed") else v
                      for c, v in zip(table.columns, vals)] for key, vals in table.rows.items()})
            print("wrote", write_benchmark(args.out.replace("{k}", str(k)), out))
    print(json.dumps(summary, indent=1))
    report(args.name, rows, summary)


def _summary(rows: list[dict], batches: list[int], tops: list[str], trained: float) -> dict:
    """Per column (plain, each K): Kendall tau against each top table; each K's cost in epochs
    (its time over the rung's training time, times the epochs that training covers)."""
    out: dict = {"archs": len(rows), "taus": {}}
    keys = [r["arch"] for r in rows]
    for top in tops:
        t = read_benchmark(top)
        y = [t.column(t.columns[0])[k] for k in keys]
        out["taus"][top] = {c: kendalltau([r[c] for r in rows], y)[0] for c in ["plain"] + [f"recal{k}" for k in batches]}
    train = sum(r.get("train_s", 0.0) for r in rows)
    out["cost_in_epochs"] = {k: trained * sum(r.get(f"recal{k}_s", 0.0) for r in rows) / train if train else None
                                  for k in batches}
    return out


if __name__ == "__main__":
    main()
