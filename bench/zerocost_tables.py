"""Zero-cost scores against measured accuracy: Kendall tau of every score with each column of
the KD tables, the CE column beside the KD ones, and each column's seed noise floor.

Studies (each optional, run what exists):
  diswot : DisWOT's s1 space (64 CIFAR-100 ResNets) scored on --diswot-data (default the
           embedded Fashion-MNIST subset) with a teacher trained on it, against the packaged CE
           and KD columns (a proxy of a proxy: the archs are built for 1x28x28 inputs, the
           accuracies are CIFAR-100's)
  fmnist : Fashion-MNIST tables, scored with --fmnist-teacher: DisWOT's s1 space
           (bench/fmnist_pilot.py --export-table: the 16-arch CE pilot, 2 seeds, 6 epochs) or the
           shipped 243-arch MnasNet ones (fmnist_mnasnet_kd, fmnist_mnasnet_kd_e1)
  mnist5k: the mnasnet tables produced by `distillnas search --config table_mnasnet_mnist5k`
           (runs or exported table files), on the archs every column holds

    python bench/zerocost_tables.py --teacher runs/akd_fmnist12k/teacher \\
        --mnist5k-teacher runs/tables/kd_resnet8/teacher \\
        --mnist5k mnist5k_mnasnet_ce mnist5k_mnasnet_kd_resnet8 mnist5k_mnasnet_kd_mbv2

Writes results/zerocost_tables.json.
"""
from __future__ import annotations

import argparse

from distillnas.analysis.zerocost import study, study_json, study_rows
from distillnas.zerocost import SCORES

from _common import report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", nargs="+", required=True, help="teacher checkpoints (or a directory) for DisWOT, "
                   "trained on --diswot-data")
    p.add_argument("--diswot-data", default="fmnist12k", help="dataset the s1 archs are scored on")
    p.add_argument("--mnist5k-teacher", nargs="+", help="teacher for the mnist5k tables (default: --teacher)")
    p.add_argument("--mnist5k", nargs="*", default=[], help="runs or tables of the mnist5k tabulation")
    p.add_argument("--fmnist", nargs="*", default=[], help="Fashion-MNIST tables (bench/fmnist_pilot.py --export-table)")
    p.add_argument("--fmnist-teacher", nargs="+", default=["fmnist-resnet20x3"], help="teacher for the --fmnist tables")
    p.add_argument("--skip-diswot", action="store_true")
    p.add_argument("--scores", default=",".join(SCORES.names()))
    p.add_argument("--batch-size", type=int, default=64)
    a = p.parse_args()
    scores = a.scores.split(",")
    rows, studies = [], {}
    plan = [] if a.skip_diswot else [(f"diswot_s1 on {a.diswot_data}", ["diswot_s1_ce", "diswot_s1_kd"],
                                      {"name": "resnet_depth", "depths": [1, 3, 5, 7]}, a.diswot_data, a.teacher)]
    if a.fmnist:
        plan.append(("Fashion-MNIST tables", a.fmnist, None, None, a.fmnist_teacher))
    if a.mnist5k:
        plan.append(("mnasnet mnist5k tables", a.mnist5k, None, None, a.mnist5k_teacher or a.teacher))
    for title, sources, space, data, teacher in plan:
        st = study(sources, scores, teacher, data, space, a.batch_size)
        studies[title] = study_json(st)
        for r in study_rows(st):
            rows.append({"study": title, "archs": len(st.keys), **r})
        print(f"{title}: {len(st.keys)} archs, {st.seconds_per_arch:.2f} s per arch", flush=True)
    cols = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("study", "archs", "score"), k))
    report("zerocost_tables", [{c: r.get(c, "") for c in cols} for r in rows], {"studies": studies})


if __name__ == "__main__":
    main()
