"""The foundation's showcase on mnist5k: a 5-member ensemble teacher, then one small student
trained with ce, kd and od over 3 seeds (mean ± std of test top-1).

Writes results/mnist_distill.json and the teacher checkpoints to results/mnist_teachers/.
"""
from __future__ import annotations

import argparse
import statistics

from distillnas.config import DataConfig, TrainConfig, validate
from distillnas.teachers import TeacherCache, evaluate_teacher, load_teacher
from distillnas.data import prepare_data
from distillnas.training import train_student, train_teachers

from _common import RESULTS, report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--teacher", default="resnet20")
    p.add_argument("--student", default="resnet8-w0.25")
    p.add_argument("--teacher-epochs", type=float, default=15)
    p.add_argument("--epochs", type=float, default=15)
    p.add_argument("--temperature", type=float, default=3.0)
    p.add_argument("--kd-weight", type=float, default=0.9)
    a = p.parse_args()
    data = DataConfig(name="mnist5k")
    tdir = RESULTS / "mnist_teachers"
    tcfg = validate(TrainConfig, {"optim": {"epochs": a.teacher_epochs, "lr": 0.1}, "loss": {"name": "ce"},
                                  "augment": "random"})
    if len(list(tdir.glob("*.pt"))) < 5:
        train_teachers(a.teacher, [0, 1, 2, 3, 4], data, tcfg, tdir, progress=True)
    ds, splits = prepare_data(data)
    teacher = load_teacher(str(tdir), ds)
    rep = evaluate_teacher(teacher, ds, "test", splits.test)
    cache = TeacherCache(RESULTS / "mnist_cache")
    rows = []
    for loss in ("ce", "kd", "od"):
        cfg = validate(TrainConfig, {"optim": {"epochs": a.epochs, "lr": 0.1},
                                     "loss": {"name": loss, "temperature": a.temperature, "kd_weight": a.kd_weight}})
        runs = [train_student(a.student, cfg, ds, splits, teacher=teacher, cache=cache, seed=s, progress=True)
                for s in (0, 1, 2)]
        accs = [100 * r.metrics["test"] for r in runs]
        rows.append({"student": runs[0].arch, "loss": loss, "params": runs[0].params,
                     "test_mean": statistics.mean(accs), "test_std": statistics.stdev(accs),
                     "per_seed": ", ".join(f"{x:.2f}" for x in accs), "s_per_run": statistics.mean(r.wall_s for r in runs)})
    print(f"teacher {a.teacher} x5: members {[round(100 * m, 2) for m in rep.members]}, "
          f"average {100 * rep.average:.2f}, oracle {100 * rep.oracle:.2f}")
    report("mnist_distill", rows, {"args": vars(a), "teacher": rep.as_dict()})


if __name__ == "__main__":
    main()
