"""The final student's distillation methods on mnist5k (KDAS Table 4 / AKD Table 6 in miniature).

Two students of similar size - a searched one (the best of the default AKD search; pass
another with --searched) and a man-made ResNet-8 whose width is chosen to match its
parameters - are trained, per seed, with every method from one teacher (ResNet-20, member 0
of a 5-member ensemble trained here with its RCO route; the students are 4x smaller): CE, KD, DKD, DIST, KD + each
relation term (CC, RKD, PKT, SP, weight 1), TA-KD, RCO, DML and BSS. Then, with the 5-member
ensemble as the teacher: KD (members averaged) against oracle KD (OD).

All runs share the final-training settings of `distillnas train` (T = 4, w = 0.9; OD T = 3,
w = 1), --epochs epochs, seeds 0..n-1; mean ± std of test top-1 per cell, and the seed
noise (the mean std of a cell) printed beside the table.

Writes results/kd_methods.json (kd_methods_<methods>.json with --methods) (teachers and checkpoints under results/kd_methods/).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from distillnas.config import DataConfig, TrainConfig, validate
from distillnas.cost import count_params
from distillnas.data import prepare_data
from distillnas.models import build_model
from distillnas.spaces import build_space
from distillnas.teachers import TeacherCache, load_teacher
from distillnas.training import SchemeConfig, check_scheme, train_with_scheme
from distillnas.spaces import student_of

from _common import RESULTS, report, teachers

# The best student of the default AKD search (bench/fidelity.py, `full` arm, seed 0).
SEARCHED = ("dconv_k3_se0_id_w1.25_d0|conv_k3_se0_pool_w0.75_d+1|mb6_k5_se0_pool_w1.25_d-1|"
            "dconv_k5_se0_pool_w0.75_d-1|mb6_k3_se0_id_w0.75_d0|conv_k5_se0_no_w1.25_d0|dconv_k5_se0.25_pool_w1_d0")
SPACE = {"name": "mnasnet", "preset": "tiny", "blocks": 7}
SINGLE = [("CE", "single", "ce"), ("KD", "single", "kd"), ("DKD", "single", "dkd"), ("DIST", "single", "dist"),
          ("CC", "single", "kd+1*cc"), ("RKD", "single", "kd+1*rkd"), ("PKT", "single", "kd+1*pkt"),
          ("SP", "single", "kd+1*sp"), ("TA-KD", "takd", "kd"), ("RCO", "rco", "kd"), ("DML", "dml", "ce"),
          ("BSS", "bss", "kd")]
ENSEMBLE = [("KD (ensemble)", "single", "kd"), ("OD (ensemble)", "single", "od")]


def widest(arch: str) -> str:
    """AKD's assistant for a searched student: the same arch with every block at the widest width."""
    return "|".join("_".join("w1.25" if p.startswith("w") else p for p in block.split("_"))
                    for block in arch.split("|"))


def matched_resnet(params: int, ds) -> str:  # noqa: ANN001
    """The ResNet-8 width whose parameter count is closest to `params`."""
    widths = [w / 16 for w in range(2, 33)]
    return min((f"resnet8-w{w:g}" for w in widths),
               key=lambda a: abs(count_params(build_model(a, ds.num_classes, ds.in_channels)) - params))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=float, default=5)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--teacher-epochs", type=float, default=6)
    p.add_argument("--teacher-arch", default="resnet20")
    p.add_argument("--route", type=int, default=3, help="RCO anchors of the single teacher")
    p.add_argument("--searched", default=SEARCHED)
    p.add_argument("--methods", default="", help="comma list of method names to run (default all)")
    a = p.parse_args()
    torch.set_num_threads(2)
    data = DataConfig(name="mnist5k")
    ds, splits = prepare_data(data)
    out = RESULTS / "kd_methods"
    tdir = out / "teachers"
    members = teachers(data, a.teacher_arch, 5, a.teacher_epochs, tdir, route=a.route)
    single, ensemble = load_teacher(members[0], ds), load_teacher(members, ds)
    route = str(tdir / "route" / "seed0")
    space = build_space(**SPACE)
    searched = space.to_string(space.from_string(a.searched))
    s_params = count_params(space.build(space.from_string(searched), ds.num_classes, ds.in_channels, ds.input_size))
    manmade = matched_resnet(s_params, ds)
    students = [("searched", searched, SPACE, widest(searched)),
                ("man-made", manmade, None, f"resnet8-w{float(manmade.split('-w')[1]) * 1.5:g}")]
    wanted = {m for m in a.methods.split(",") if m}
    cache = TeacherCache(out / "teacher_cache")
    # cells finished by an earlier, interrupted run with the same settings are kept, not re-run
    partial = out / "partial.json"
    settings = {"epochs": a.epochs, "seeds": a.seeds, "searched": searched, "teacher_arch": a.teacher_arch}
    done = json.loads(partial.read_text()) if partial.is_file() else {}
    rows = [r for r in done.get("rows", []) if done.get("settings") == settings]
    for who, arch, sp, assistant in students:
        for name, scheme_name, loss in SINGLE + ENSEMBLE:
            if wanted and name not in wanted or any(r["student"] == who and r["method"] == name for r in rows):
                continue
            teacher = ensemble if name.endswith("(ensemble)") else single
            scheme = SchemeConfig(name=scheme_name, assistant=assistant if scheme_name == "takd" else None,
                                  route=route if scheme_name == "rco" else None)
            teacher = None if scheme_name == "rco" or loss == "ce" and scheme_name != "takd" else teacher
            od = loss == "od"
            cfg = validate(TrainConfig, {"optim": {"epochs": a.epochs}, "loss": {
                "name": loss, "temperature": 3.0 if od else 4.0, "kd_weight": 1.0 if od else 0.9}})
            student = student_of(arch, sp, ds.num_classes, ds.in_channels, ds.input_size)
            helper = student_of(scheme.assistant, sp, ds.num_classes, ds.in_channels, ds.input_size) \
                if scheme.assistant else None
            check_scheme(scheme, student, ds, teacher, loss, helper)
            accs, start = [], time.perf_counter()
            for seed in range(a.seeds):
                r = train_with_scheme(student, cfg, ds, splits, scheme, assistant=helper, teacher=teacher,
                                      cache=cache, seed=seed, out_dir=out / "students")
                accs.append(100 * r.metrics.get("test", float("nan")))
            rows.append({"student": who, "arch": arch if sp is None else "searched", "params": s_params
                         if sp else count_params(build_model(arch, ds.num_classes, ds.in_channels)),
                         "method": name, "test_mean": statistics.mean(accs),
                         "test_std": statistics.stdev(accs) if len(accs) > 1 else 0.0, "runs": accs,
                         "s_per_run": (time.perf_counter() - start) / a.seeds})
            print(rows[-1], flush=True)
            partial.write_text(json.dumps({"settings": settings, "rows": rows}))
    noise = statistics.mean(r["test_std"] for r in rows)
    print(f"seed noise: mean std of a cell {noise:.2f} points")
    name = "kd_methods" + (f"_{'_'.join(sorted(wanted))}" if wanted else "")
    report(name, [{k: v for k, v in r.items() if k != "runs"} for r in rows],
           {"args": vars(a), "searched": searched, "manmade": manmade, "noise_mean_std": noise, "runs": rows,
            "assistants": {who: asst for who, _, _, asst in students}})


if __name__ == "__main__":
    main()
