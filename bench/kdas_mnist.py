"""KDAS on mnist5k (or Fashion-MNIST: --config kdas_fmnist), shaped like the paper's Table 2.

1. `distillnas search --config kdas_mnist5k` (teacher ensemble, supernet search, selection),
   timed;
2. the backbone student (ResNet-20), a man-made net of another family of at most the KDAS
   student's params (the widest MobileNetV2 under it; a ResNet of its size is the backbone
   itself), and the KDAS student, each retrained with ce, kd and od over 3 seeds;
3. beside them the teacher's average and oracle accuracy;
4. the search's dynamics: the controller's entropy and the mean shared-weight reward of its
   proposals per batch (first and last quarter in the JSON; the figure in the run's report).
5. whether the controller learnt: its entropy per batch (the curve, against uniform's), and
   the ops its final policy picks against uniform sampling (a chi-square test per decision
   over `--policy-samples` draws; a policy that learnt differs beyond noise).
Writes results/<name>.json (default kdas_mnist; run directory results/<name>_run, report in it).
With --resume the study goes on where a killed one stopped: the search resumes from its store and
finished retrainings are read back from results/kdas_run/retrain.jsonl (the search's wall time is
then that of this sitting only; the supernet's training time is counted across sittings).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time

import numpy as np
import torch
import yaml
from rich.console import Console

from distillnas.analysis import build_report
from distillnas.config import TrainConfig, validate
from distillnas.cost import count_params
from distillnas.models import build_model
from distillnas.runconfig import load_search_config
from distillnas.rundir import RunDir
from distillnas.search import run_search
from distillnas.setup import prepare_teacher
from distillnas.store import TrialStore
from distillnas.teachers import TeacherCache, evaluate_teacher, load_teacher
from distillnas.data import prepare_data
from distillnas.io import atomic_write_text
from distillnas.training import train_student
from distillnas.spaces import student_of

from _common import RESULTS, report
from kdas_controller import policy_lift


def matched_manmade(params: int, num_classes: int, in_channels: int) -> str:
    """The widest MobileNetV2 (width in steps of 0.05) of at most `params` parameters: a
    man-made student of the KDAS student's size from another family (the ResNet of closest
    size, resnet-3-3-3, is the backbone itself, so it would add no row)."""
    best = None
    for step in range(1, 41):
        arch = f"mobilenetv2-w{step * 0.05:.2f}".rstrip("0").rstrip(".")
        if count_params(build_model(arch, num_classes, in_channels)) > params:
            break
        best = arch
    if best is None:
        raise SystemExit(f"no MobileNetV2 of at most {params:,} params to compare with")
    return best


def search_dynamics(run_dir) -> dict:  # noqa: ANN001
    """Controller entropy and mean shared-weight reward of the proposals, over the first and the
    last quarter of the batches (mean +- std across those batches)."""
    store = TrialStore(run_dir / "trials.sqlite")
    entropy = {b: s["entropy"] for b, s in store.batch_stats().items() if "entropy" in s}
    reward: dict[int, list[float]] = {}
    for t in store.trials():
        if t["status"] == "ok":
            reward.setdefault(t["batch"], []).append(100 * t["accuracy"])
    batches = sorted(reward)
    q = max(1, len(batches) // 4)
    out = {}
    for name, part in (("first_quarter", batches[:q]), ("last_quarter", batches[-q:])):
        r = [statistics.mean(reward[b]) for b in part]
        e = [entropy[b] for b in part if b in entropy]
        out[name] = {"batches": [part[0], part[-1]], "reward_mean": statistics.mean(r),
                     "reward_std": statistics.pstdev(r), "entropy_mean": statistics.mean(e) if e else None,
                     "entropy_std": statistics.pstdev(e) if e else None}
    return out


def policy_test(cfg, run_dir, samples: int) -> dict:  # noqa: ANN001
    """Did the controller learn? Its entropy curve (per batch, nats per decision) against
    uniform's, and per decision a chi-square test of `samples` draws of its final policy
    against as many of its initial policy (the same seed, untrained: its init is not exactly
    uniform, so a test against uniform alone would credit the init) and against uniform."""
    from scipy.stats import chi2_contingency, chisquare

    from distillnas.spaces import space_from_config
    from distillnas.strategies import build_strategy

    store = TrialStore(run_dir / "trials.sqlite")
    curve = [round(s["entropy"], 4) for _, s in sorted(store.batch_stats().items()) if "entropy" in s]
    space = space_from_config(cfg.space)
    draws = {}
    for when in ("initial", "final"):
        strategy = build_strategy(cfg.strategy, space.sizes, space.kinds, cfg.reward.limit, space.sources, space.ordered)
        strategy.rescore_repeats()  # the policy as it is (told archs included), as the supernet search samples it
        if when == "final":
            RunDir(run_dir).load_strategy(strategy, store)
        draws[when] = np.array(strategy.ask(samples))
    store.close()
    moved, off_uniform = [], []
    for j, n in enumerate(space.sizes):
        if n < 2:
            continue
        counts = {w: np.bincount(d[:, j], minlength=n) for w, d in draws.items()}
        seen = (counts["initial"] + counts["final"]) > 0
        table = np.stack([counts["initial"][seen], counts["final"][seen]])
        moved.append(float(chi2_contingency(table).pvalue) if seen.sum() > 1 else 1.0)
        off_uniform.append(float(chisquare(counts["final"]).pvalue))
    uniform = float(np.mean([np.log(n) for n in space.sizes if n > 1]))
    return {"entropy_curve": curve, "entropy_first": curve[0], "entropy_last": curve[-1], "entropy_uniform": uniform,
            "decisions": len(moved), "decisions_moved": sum(p < 0.01 for p in moved),
            "decisions_off_uniform": sum(p < 0.01 for p in off_uniform), "p_moved": moved,
            "p_off_uniform": off_uniform, "samples": samples}


def retrain(a: argparse.Namespace, cfg, run_dir, best: dict) -> tuple[list[dict], object]:  # noqa: ANN001
    """The backbone, the man-made MobileNetV2 of at most its params and the KDAS student, each under CE,
    KD and OD over the seeds; finished rows are read back from RUN/retrain.jsonl (re-read before
    each, so processes given different --models share it). Returns the rows and the teacher's
    test report."""
    if a.threads:
        torch.set_num_threads(a.threads)
    ds, splits = prepare_data(cfg.data)
    teacher = load_teacher(str(run_dir / "teacher"), ds)
    rep = evaluate_teacher(teacher, ds, "test", splits.test)
    kdas = best["archs"][0]
    manmade = matched_manmade(kdas["params"], ds.num_classes, ds.in_channels)
    students = [("backbone", cfg.space.backbone, None), ("man-made", manmade, None), ("KDAS", kdas["arch"], best["space"])]
    cache = TeacherCache(run_dir / "teacher_cache")
    done_file = run_dir / "retrain.jsonl"
    rows = []
    for label, arch, space in students:
        if label not in a.models.split(","):
            continue
        for loss in ("ce", "kd", "od"):
            done = {(r["model"], r["loss"]): r for r in map(json.loads, done_file.read_text().splitlines())} \
                if done_file.exists() else {}
            prior = done.get((label, loss), {})
            if prior.get("seeds") == a.seeds and prior.get("epochs") == a.epochs:
                rows.append(prior)
                continue
            tcfg = validate(TrainConfig, {"optim": {**cfg.final.optim.model_dump(), "epochs": a.epochs},
                                          "loss": {"name": loss, "temperature": 3.0, "kd_weight": 1.0}})
            student = student_of(arch, space, ds.num_classes, ds.in_channels, ds.input_size)
            runs = [seed_run(run_dir / "retrain_seeds.jsonl", (label, loss, int(s), a.epochs),
                             lambda s=s: train_student(student, tcfg, ds, splits, teacher=teacher, cache=cache,
                                                       seed=int(s)))
                    for s in a.seeds.split(",")]
            accs = [100 * r["test"] for r in runs]
            rows.append({"model": label, "arch": arch if len(arch) < 40 else arch[:37] + "...", "params": runs[0]["params"],
                         "loss": loss, "test_mean": statistics.mean(accs), "test_std": statistics.stdev(accs),
                         "seeds": a.seeds, "epochs": a.epochs})
            with done_file.open("a") as f:
                f.write(json.dumps(rows[-1]) + "\n")
            shutil.copyfile(done_file, RESULTS / f"{a.name}_retrain.jsonl")  # what git keeps of RUN
            print(rows[-1], flush=True)
    return rows, rep


def seed_run(path, key: tuple, train) -> dict:  # noqa: ANN001
    """One seed's retraining ({test, params}), read back from `path` (JSON lines) when a killed
    row already finished it, else trained and appended: a kill loses at most one training."""
    if path.is_file():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if tuple(r["key"]) == tuple(json.loads(json.dumps(key))):
                return r
    run = train()
    if run.status != "ok":
        raise SystemExit(f"{key}: {run.status} {run.error}")
    r = {"key": list(key), "test": run.metrics["test"], "params": run.params}
    with path.open("a") as f:
        f.write(json.dumps(r) + "\n")
    return r


def rebuild_run(config: str, name: str, run_dir, overrides: list[str]) -> None:  # noqa: ANN001
    """RUN made again from what git keeps of a finished study: its best.yaml and finished
    retrainings, and the teacher ensemble retrained by the config's recipe (the same seeds; the
    weights may differ from the search's in float rounding, so the members' accuracy is printed)."""
    best, rows = RESULTS / f"{name}_best.yaml", RESULTS / f"{name}_retrain.jsonl"
    if not best.is_file():
        raise SystemExit(f"--rebuild: {best} does not exist; nothing to rebuild from")
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = load_search_config(config, [f"--run_dir={run_dir}", *overrides])
    if rows.is_file() and not (run_dir / "retrain.jsonl").is_file():
        shutil.copyfile(rows, run_dir / "retrain.jsonl")
    prepare_teacher(cfg, RunDir(run_dir), Console(stderr=True))
    shutil.copyfile(best, run_dir / "best.yaml")  # last: its presence says the rebuild finished


def print_controller(learnt: dict) -> None:
    """One line: did the controller learn?"""
    print(f"controller: entropy {learnt['entropy_first']:.3f} -> {learnt['entropy_last']:.3f} nats per decision "
          f"(uniform {learnt['entropy_uniform']:.3f}); of {learnt['decisions']} decisions, the final policy differs "
          f"(chi-square, p < 0.01) from the initial one in {learnt['decisions_moved']} and from uniform in "
          f"{learnt['decisions_off_uniform']}" + (
              f"; its archs score {learnt['lift']:+.2f} points against uniform ones on mini-val with the final "
              f"shared weights ({learnt['policy_minival']:.2f} vs {learnt['uniform_minival']:.2f})" if "lift" in learnt else ""),
          flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", default="kdas_mnist5k", help="the KDAS config (kdas_mnist5k, kdas_fmnist)")
    p.add_argument("--name", default=None, help="results/NAME.json (default: kdas_mnist, or the config's name)")
    p.add_argument("--policy-samples", type=int, default=2000, help="draws of the final policy for the test")
    p.add_argument("--lift-samples", type=int, default=32, help="archs of each kind scored for the policy lift (0: skip)")
    p.add_argument("--set", action="append", default=[], help="a config override, e.g. --set=--search.trials=16")
    p.add_argument("--epochs", type=float, default=8)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--models", default="backbone,man-made,KDAS",
                   help="which students to retrain (a second process with --retrain-only --models KDAS shares the work: "
                        "finished rows are re-read before each one)")
    p.add_argument("--resume", action="store_true", help="go on with results/kdas_run instead of starting afresh")
    p.add_argument("--retrain-only", action="store_true",
                   help="only the retrainings of a finished search (its best.yaml), e.g. in a second process with "
                        "--models KDAS; writes retrain.jsonl rows, not the report")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads for the retrainings (0: torch's default). Use 1 beside another job: two "
                        "threads given one core's share ran 6x slower per step here (3.9 against 0.6 s).")
    p.add_argument("--rebuild", action="store_true",
                   help="with --retrain-only on a machine that lost RUN: rebuild it from the committed results "
                        "(NAME_best.yaml, NAME_retrain.jsonl) and retrain its teacher ensemble by the config's seeded "
                        "recipe, printing the members' test accuracy to compare with the search's")
    a = p.parse_args()
    name = a.name or ("kdas_mnist" if a.config == "kdas_mnist5k" else a.config)
    run_dir = RESULTS / ("kdas_run" if name == "kdas_mnist" else f"{name}_run")
    a.name = name
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.retrain_only and a.rebuild and not (run_dir / "best.yaml").is_file():
        rebuild_run(a.config, name, run_dir, a.set)
    if a.retrain_only and not (run_dir / "best.yaml").is_file():
        raise SystemExit(f"--retrain-only: {run_dir}/best.yaml does not exist; the search has not finished "
                         f"(--rebuild makes it from results/{name}_best.yaml when a new machine lost it)")
    if not a.resume and not a.retrain_only:
        shutil.rmtree(run_dir, ignore_errors=True)  # a fresh search: its time is measured
    cfg = load_search_config(a.config, [f"--run_dir={run_dir}", *a.set])
    if a.retrain_only:
        retrain(a, cfg, run_dir, yaml.safe_load((run_dir / "best.yaml").read_text()))
        return
    t = time.perf_counter()
    outcome = run_search(cfg, progress=False)
    search_s = time.perf_counter() - t
    best = yaml.safe_load((run_dir / "best.yaml").read_text())
    report_html = build_report([run_dir])
    dynamics = search_dynamics(run_dir)
    learnt = policy_test(cfg, run_dir, a.policy_samples)
    # what it learnt is worth something: the final policy's archs against uniform ones, both
    # scored on all of mini-val with the final shared weights (bench/kdas_controller.py)
    members = [str(m) for m in RunDir(run_dir).teacher_members(cfg)]  # the ensemble the search trained
    with_teacher = cfg.model_copy(update={"teacher": cfg.teacher.model_copy(update={"spec": members})})
    if a.lift_samples:  # 0: skip it (a second process that only retrains)
        pol, uni = policy_lift(with_teacher, a.lift_samples, cfg.strategy.seed)
        learnt.update(policy_minival=pol, uniform_minival=uni, lift=pol - uni, lift_samples=a.lift_samples)
    # the search's half of the study is written before the retrainings start, so a sitting that
    # ends during them keeps what the controller learnt
    search_json = RESULTS / f"{name}_search.json"
    if not (a.resume and search_json.is_file()):  # a resumed sitting keeps the first one's timing
        atomic_write_text(search_json, json.dumps(
            {"config": a.config, "search_total_s": search_s, "search_resumed": a.resume, "trials": outcome.trials,
             "supernet_train_s": best["supernet_train_s"], "kdas_arch": best["archs"][0]["arch"],
             "dynamics": dynamics, "policy": learnt}, indent=1))
    print_controller(learnt)
    rows, rep = retrain(a, cfg, run_dir, best)
    kdas = best["archs"][0]
    extra = {"kdas_arch": kdas["arch"], "search_total_s": search_s, "search_resumed": a.resume,
             "supernet_train_s": best["supernet_train_s"],
             "selection_s": best["selection_s"], "trials": outcome.trials, "memory_limit_params": best["memory_limit_params"],
             "backbone_params": best["backbone_params"], "teacher": rep.as_dict(), "epochs": a.epochs,
             "dynamics": dynamics, "policy": learnt, "report": str(report_html)}
    report(name, rows, extra)
    print(f"teacher {cfg.teacher.arch} x{len(rep.members)}: average {100 * rep.average:.2f}, oracle {100 * rep.oracle:.2f}")
    for k, v in dynamics.items():
        print(f"{k} (batches {v['batches']}): shared-weight reward {v['reward_mean']:.2f} +- {v['reward_std']:.2f}, "
              f"controller entropy {v['entropy_mean']} +- {v['entropy_std']}")
    print_controller(learnt)
    print(f"search {search_s:.0f} s (supernet training {best['supernet_train_s']:.0f} s, selection "
          f"{best['selection_s']:.1f} s); KDAS student {kdas['arch']}")


if __name__ == "__main__":
    main()
