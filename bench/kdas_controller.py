"""Does the KDAS controller learn within the embedded budget? Controller settings compared.

For each variant (overrides of `kdas_mnist5k`) and search seed, a fresh supernet search runs
with one fixed, already trained teacher ensemble (`--teacher` files: the same five ResNet-8s
for every run, so only the search differs). After the search, with its final shared weights:
- policy lift: mean full-mini-val accuracy of `--samples` archs drawn from the final policy
  minus that of as many uniform random archs (both with the same shared weights; > 0 means
  the controller prefers archs the supernet scores higher);
- the controller's entropy (per decision, nats) at the first and last batch;
- the selected student's full-mini-val accuracy and params, and the search's wall time.
Reported as mean +- std over seeds, with the seed-to-seed std of the lift as its noise floor.
Writes results/kdas_controller.json (run directories under results/kdas_controller/).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from distillnas.arch import sample_arch
from distillnas.runconfig import load_search_config
from distillnas.rundir import RunDir
from distillnas.teachers import TeacherSpec
from distillnas.search import make_evaluator, run_search
from distillnas.setup import check_config
from distillnas.store import TrialStore
from distillnas.strategies import build_strategy

from _common import RESULTS, report

VARIANTS = {  # controller steps per shared-weight phase x mini-val examples per sampled arch
    "steps4-w200": ["--evaluator.supernet.controller_steps=4", "--evaluator.supernet.reward_batch=200"],
    "steps20-w50": ["--evaluator.supernet.controller_steps=20", "--evaluator.supernet.reward_batch=50"],
    "steps4-w200-lr1e-2": ["--evaluator.supernet.controller_steps=4", "--evaluator.supernet.reward_batch=200",
                           "--strategy.reinforce.lr=0.01"],
}


def policy_lift(cfg, samples: int, seed: int) -> tuple[float, float]:  # noqa: ANN001
    """(mean full-mini-val accuracy of final-policy samples, of uniform samples), shared weights."""
    space = check_config(cfg)
    run = RunDir.of(cfg)
    store = TrialStore(run.store_path)
    ev = make_evaluator(cfg, space, run, TeacherSpec.of(cfg.teacher.spec))
    ev.prepare(None, None)
    strategy = build_strategy(cfg.strategy, space.sizes, space.kinds, cfg.reward.limit, space.sources, space.ordered)
    if not ev.reuse_repeats:  # as the search loop does: the policy as it is, told archs included
        strategy.rescore_repeats()
    run.load_strategy(strategy, store)
    rng = np.random.default_rng(10_000 + seed)
    policy = [ev.accuracy(tuple(a), full=True) for a in strategy.ask(samples)]
    uniform = [ev.accuracy(tuple(sample_arch(space.sizes, rng)), full=True) for _ in range(samples)]
    store.close()
    return 100 * statistics.mean(policy), 100 * statistics.mean(uniform)


def one(variant: str, seed: int, teacher: list[str], samples: int, extra: list[str]) -> dict:
    run_dir = RESULTS / "kdas_controller" / f"{variant}-s{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    cfg = load_search_config("kdas_mnist5k", [f"--run_dir={run_dir}", f"--teacher.spec={','.join(teacher)}",
                                              f"--strategy.seed={seed}", *VARIANTS[variant], *extra])
    t = time.perf_counter()
    run_search(cfg, progress=False)
    wall = time.perf_counter() - t
    best = yaml.safe_load((run_dir / "best.yaml").read_text())["archs"][0]
    store = TrialStore(run_dir / "trials.sqlite")
    entropy = [s["entropy"] for _, s in sorted(store.batch_stats().items()) if "entropy" in s]
    store.close()
    pol, uni = policy_lift(cfg, samples, seed)
    return {"variant": variant, "seed": seed, "lift": pol - uni, "policy_acc": pol, "uniform_acc": uni,
            "entropy_first": entropy[0], "entropy_last": entropy[-1], "selected_acc": 100 * best["accuracy"],
            "selected_params": best["params"], "search_s": wall}


def summary(rows: list[dict], variant: str) -> dict:
    mine = [r for r in rows if r["variant"] == variant]
    out: dict = {"variant": variant, "seeds": len(mine)}
    for k in ("lift", "entropy_last", "selected_acc", "search_s"):
        v = [r[k] for r in mine]
        out[k] = f"{statistics.mean(v):.3f} +- {statistics.stdev(v) if len(v) > 1 else 0.0:.3f}"
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", required=True, help="comma-separated teacher checkpoints (the ensemble)")
    p.add_argument("--variants", default="steps4-w200,steps20-w50", help=f"any of {', '.join(VARIANTS)}")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--name", default="kdas_controller", help="results/NAME.json")
    p.add_argument("--extra", default="", help="overrides for every run, space-separated (e.g. a smaller budget)")
    a = p.parse_args()
    torch.set_num_threads(1)
    teacher = [str(Path(t).resolve()) for t in a.teacher.split(",")]
    rows = []
    for variant in a.variants.split(","):
        for seed in (int(s) for s in a.seeds.split(",")):
            rows.append(one(variant, seed, teacher, a.samples, a.extra.split()))
            print(rows[-1], flush=True)
    table = [summary(rows, v) for v in a.variants.split(",")]
    report(a.name, table, {"runs": rows, "args": vars(a)})


if __name__ == "__main__":
    main()
