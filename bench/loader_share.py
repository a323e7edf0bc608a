"""The loader's share of a proxy step (issue 40 item 5): is the training ever waiting for data?

A proxy trial's loop alternates two things: the loader assembles the next batch (index the
uint8 images, crop / flip or pick the cached view, normalise, lay out) and the step computes
(forward, loss, backward, SGD). This times both, batch by batch, inside one loop shaped like
`training.loop.fit`, so the share is measured where it happens, under whatever else the
machine runs (the ratio, not the absolute times, is the result):

    share = time in next(loader) / (time in next(loader) + time in the step)

Paths: the in-memory uint8 path (`fmnist12k`, the default search's data) with `views`
augmentation (the default: K fixed views whose teacher outputs are cached) and `random`
(fresh crops and flips every step), and the streamed imagefolder path (files decoded by
DataLoader workers) on a generated folder (`bench/streaming.py`'s). Students: resnet8, the
default space's median student and mobilenetv2-w0.5, at the default proxy's batch (128).

    python bench/loader_share.py              # about 2 minutes on 2 cores
Writes results/loader_share.json.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from distillnas.data import DataConfig, TensorLoader, make_views, prepare_data
from distillnas.models import build_model

from _common import report
from trial_speed import median_student


def measure(model: torch.nn.Module, loader: TensorLoader, steps: int) -> dict:
    """Per batch: seconds in next(loader) and in the training step, over `steps` batches after 3 warm-up ones."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    load, step, it = [], [], iter(loader)
    for i in range(steps + 3):
        t0 = time.perf_counter()
        try:
            b = next(it)
        except StopIteration:
            it = iter(loader)
            b = next(it)
        t1 = time.perf_counter()
        loss = F.cross_entropy(model(b.x), b.y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        t2 = time.perf_counter()
        if i >= 3:
            load.append(t1 - t0)
            step.append(t2 - t1)
    lo, st = statistics.fmean(load), statistics.fmean(step)
    return {"load_ms": 1e3 * lo, "step_ms": 1e3 * st, "share_%": 100 * lo / (lo + st)}


def loaders(ds, splits, batch: int, folder_ds=None, folder_splits=None) -> dict[str, TensorLoader]:  # noqa: ANN001
    idx = splits.minitrain
    out = {"memory/views": TensorLoader(ds, idx, batch, shuffle=True, augment="views",
                                        views=make_views(idx, 2, ds.pad, ds.flip, 0)),
           "memory/random": TensorLoader(ds, idx, batch, shuffle=True, augment="random")}
    if folder_ds is not None:
        out["stream/random (2 workers)"] = TensorLoader(folder_ds, folder_splits.minitrain, batch, shuffle=True,
                                                        augment="random")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=30, help="measured batches per row")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--stream-images", type=int, default=3000, help="images of the generated folder (0: skip)")
    args = ap.parse_args()
    torch.manual_seed(0)
    ds, splits = prepare_data(DataConfig(name="fmnist12k"))
    folder_ds = folder_splits = None
    if args.stream_images:
        from streaming import make_folder

        root = make_folder(Path(tempfile.mkdtemp(prefix="loader_share_")), args.stream_images)
        folder_ds, folder_splits = prepare_data(DataConfig(name="imagefolder", root=str(root), in_memory=False,
                                                           workers=2, image_size=28))
    students = {"resnet8": lambda d: build_model("resnet8", d.num_classes, d.in_channels, d.input_size),
                "median student": lambda d: median_student(d.in_channels)[1],
                "mobilenetv2-w0.5": lambda d: build_model("mobilenetv2-w0.5", d.num_classes, d.in_channels,
                                                          d.input_size)}
    rows = []
    for name, make in students.items():
        for path, loader in loaders(ds, splits, args.batch, folder_ds, folder_splits).items():
            d = folder_ds if path.startswith("stream") else ds
            rows.append({"student": name, "path": path, **measure(make(d), loader, args.steps)})
            print(rows[-1], flush=True)
    report("loader_share", rows, {"batch": args.batch, "steps": args.steps,
                                  "note": "ratios in one run; other jobs shared the cores (see the ledger)"})


if __name__ == "__main__":
    main()
