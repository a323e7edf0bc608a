"""Proxy-training throughput: KD with the cached teacher vs the teacher run online vs CE.

One run, same student (an AKD-sized small ResNet), same data (mnist5k mini-train), same
number of steps. The teacher is a 5-member ResNet-20 ensemble (random weights: throughput
does not depend on what the teacher knows). The cache fill (K views, once per split) is
reported separately, with the number of proxy epochs after which it has paid for itself.
Writes results/teacher_cache.json. Target: KD with the cache within 10% of CE.
"""
from __future__ import annotations

import argparse
import time

import torch

from distillnas.config import OptimConfig
from distillnas.data import TensorLoader, load_dataset, make_splits, make_views
from distillnas.distill import build_loss
from distillnas.models import build_model
from distillnas.teachers import Ensemble, ModuleTeacher, TeacherCache
from distillnas.training import fit

from _common import report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--student", default="resnet8-w0.5")
    p.add_argument("--teacher", default="resnet20")
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--epochs", type=float, default=2)
    p.add_argument("--views", type=int, default=4)
    a = p.parse_args()
    ds = load_dataset("mnist5k")
    idx = make_splits(ds).minitrain
    members = [ModuleTeacher(build_model(a.teacher, 10, 1, 28), f"m{i}", f"bench{i}", 10) for i in range(a.members)]
    teacher = Ensemble(members)
    cfg = OptimConfig(epochs=a.epochs, batch_size=128, lr=0.05)

    def run(loss_name: str, mode: str) -> dict:
        torch.manual_seed(0)
        student = build_model(a.student, 10, 1, 28)
        loss = build_loss(loss_name, 4.0, 0.9)
        targets, augment, views, fill = None, "random", None, 0.0
        if mode == "cached":
            views = make_views(idx, a.views, ds.pad, ds.flip, 0)
            t = time.perf_counter()
            cached = TeacherCache(None).get(teacher, ds, "minitrain", idx, views)
            fill = time.perf_counter() - t
            targets, augment = (lambda b: cached.batch(b.pos, b.view)), "views"
        elif mode == "online":
            targets = lambda b: teacher.outputs(b.x, idx[b.pos])  # noqa: E731
        loader = TensorLoader(ds, idx, 128, shuffle=True, augment=augment, views=views, channels_last=True)
        res = fit(student, loss, loader, cfg, targets=targets, channels_last=True)
        return {"mode": f"{loss_name} ({mode})", "images_per_s": res.images_per_s, "train_s": res.wall_s,
                "cache_fill_s": fill}

    rows = [run("ce", "no teacher"), run("kd", "cached"), run("kd", "online")]
    ce = rows[0]["images_per_s"]
    for r in rows:
        r["vs_ce"] = r["images_per_s"] / ce
    epoch_online = len(idx) / rows[2]["images_per_s"]
    epoch_cached = len(idx) / rows[1]["images_per_s"]
    breakeven = rows[1]["cache_fill_s"] / max(1e-9, epoch_online - epoch_cached)
    report("teacher_cache", rows, {"args": vars(a), "cache_pays_off_after_epochs": breakeven})
    print(f"cache fill pays for itself after {breakeven:.2f} proxy epochs")


if __name__ == "__main__":
    main()
