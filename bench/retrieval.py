"""Open-set retrieval with distractors on mnist5k: AKD Tables 9-10 in miniature.

Digits 0-5 are the training identities, digits 6-9 the unseen ones (four held-out classes,
so that every probe has at least 1,000 distractors of other classes: with three held out,
a class-7 probe had ~990). Teachers (ResNet-20, 3 seeds) are trained with CE on digits 0-5
only. The student (the searched AKD student of bench/kd_methods.py) is trained on digits
0-5 by CE, by penultimate-feature MSE from one teacher, and from the 3-member ensemble
(members' features side by side), 3 seeds each; each is scored by top-1 identification
among digits 6-9 against 10 / 100 / 1,000 distractors (500 seeded probes, one match each).
The teachers are scored the same way.

Writes results/retrieval.json (teachers and students under results/retrieval/).
"""
from __future__ import annotations

import argparse
import statistics

import torch

from distillnas.checkpoint import load_student
from distillnas.config import DataConfig, TrainConfig, validate
from distillnas.data import prepare_data
from distillnas.retrieval import evaluate_retrieval
from distillnas.teachers import TeacherCache, load_teacher
from distillnas.training import SchemeConfig, train_with_scheme
from distillnas.spaces import student_of

from _common import RESULTS, report, teachers
from kd_methods import SEARCHED, SPACE

TRAIN_CLASSES = [0, 1, 2, 3, 4, 5]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=float, default=10)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--teacher-epochs", type=float, default=6)
    p.add_argument("--members", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(2)
    data = DataConfig(name="mnist5k", classes=TRAIN_CLASSES)
    ds, splits = prepare_data(data)
    out = RESULTS / "retrieval"
    members = teachers(data, "resnet20", a.members, a.teacher_epochs, out / "teachers")
    rows = []

    def add(who: str, results: list) -> None:
        for k, d in enumerate(results[0].distractors):
            vals = [100 * r.top1[k] for r in results]
            rows.append({"model": who, "distractors": d, "top1_mean": statistics.mean(vals),
                         "top1_std": statistics.stdev(vals) if len(vals) > 1 else 0.0, "n": len(vals)})
        print(rows[-len(results[0].distractors):], flush=True)

    add(f"teacher resnet20 (x{len(members)} seeds)",
        [evaluate_retrieval(load_student(m)[0], ds, TRAIN_CLASSES) for m in members])
    cache = TeacherCache(out / "teacher_cache")
    arms = [("student, CE (hard labels)", "ce", None, "ce"),
            ("student, feature MSE from one teacher", "feature_mse", load_teacher(members[0], ds), "one"),
            ("student, feature MSE from the ensemble", "feature_mse", load_teacher(members, ds), "ensemble")]
    for who, loss, teacher, tag in arms:
        cfg = validate(TrainConfig, {"optim": {"epochs": a.epochs}, "loss": {"name": loss}})
        results = []
        for seed in range(a.seeds):
            student = student_of(SEARCHED, SPACE, ds.num_classes, ds.in_channels, ds.input_size)
            run = train_with_scheme(student, cfg, ds, splits, SchemeConfig(), teacher=teacher, cache=cache,
                                    seed=seed, out_dir=out / "students" / tag)
            results.append(evaluate_retrieval(load_student(run.checkpoint)[0], ds, TRAIN_CLASSES))
        add(who, results)
    report("retrieval", rows, {"args": vars(a), "train_classes": TRAIN_CLASSES,
                               "heldout_classes": results[0].classes, "probes": results[0].probes})


if __name__ == "__main__":
    main()
