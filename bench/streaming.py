"""Streaming an imagefolder from disk against holding it in memory, and the disk teacher cache.

A generated imagefolder of --images small JPEGs (mnist5k digits, each drawn several times
with a seeded shift, colour and noise, saved as RGB JPEG; 10 classes, 1/6 of them in val/)
is trained on by one proxy trial - a small ResNet, CE, --epochs epochs over the training
pool - once in memory and once streamed with 0, 1 and 2 decoding workers, each in a fresh
process so its peak RSS (the process and its workers) is its own. Reported: load time,
trial wall time, images/s of the trial and of the loader alone, peak RSS.

Then the teacher cache: a 5-member ResNet-8 ensemble's logits for 4 views of the training
pool, filled into a disk cache by a child process that is killed (SIGKILL) part-way, then
by a fresh process that resumes it; reported are the examples the first fill kept, the
batches the resumed fill ran (against a whole fill), the entry's size on disk, and random
batch reads per second from the mapped file against the in-memory tensor.

    python bench/streaming.py            # 24,000 images, 32 px
Writes results/streaming.json (the folder is kept in results/streaming/ for re-runs).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from distillnas.config import DataConfig, TrainConfig, validate
from distillnas.data import TensorLoader, load_dataset, make_views, prepare_data
from distillnas.models import build_model
from distillnas.teachers import Ensemble, ModuleTeacher, TeacherCache
from distillnas.training import train_student

from _common import RESULTS, report

OUT = RESULTS / "streaming"


def make_folder(root: Path, images: int) -> Path:
    """The generated imagefolder (made once): mnist5k digits redrawn as RGB JPEGs."""
    from PIL import Image

    done = root / "done"
    if done.is_file() and int(done.read_text()) == images:
        return root
    ds = load_dataset("mnist5k")
    rng = np.random.default_rng(0)
    for i in range(images):
        j = i % len(ds)
        part = "val" if i % 6 == 5 else "train"
        folder = root / part / f"c{int(ds.labels[j])}"
        folder.mkdir(parents=True, exist_ok=True)
        digit = np.roll(ds.images[j, 0].numpy(), rng.integers(-2, 3, 2), axis=(0, 1)).astype(np.float32)
        colour = rng.uniform(0.4, 1.0, 3)
        rgb = digit[..., None] * colour + rng.normal(0, 12, (28, 28, 3))
        Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).resize((36, 36)).save(folder / f"{i}.jpg", quality=90)
    done.write_text(str(images))
    return root


def one_trial(folder: Path, in_memory: bool, workers: int, epochs: float) -> dict:
    """(in a fresh process) load, time a loader pass and a proxy trial; peak RSS of the process and of its largest decoding worker. Both paths normalise alike
and see the same batches, so the trial's test accuracy must agree across the rows."""
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    data = DataConfig(name="imagefolder", root=str(folder), image_size=32, in_memory=in_memory, workers=workers)
    ds, splits = prepare_data(data)
    load_s = time.perf_counter() - t0
    t0, n = time.perf_counter(), 0
    for b in TensorLoader(ds, splits.train, 128, shuffle=True, augment="random"):
        n += len(b.y)
    loader_ips = n / (time.perf_counter() - t0)
    cfg = validate(TrainConfig, {"optim": {"epochs": epochs, "batch_size": 128}, "loss": {"name": "ce"},
                                 "channels_last": "off"})
    run = train_student("resnet8-w0.5", cfg, ds, splits, train_split="train", eval_splits=("test",))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest finished worker (shared pages count)
    return {"path": "memory" if in_memory else f"stream, {workers} worker(s)", "load_s": load_s,
            "loader_img_s": loader_ips, "trial_s": run.wall_s, "trial_img_s": run.images_per_s,
            "test": run.metrics.get("test"), "peak_rss_mb": peak / 1024,
            "worker_peak_rss_mb": worker / 1024}


def fill(folder: Path, cache_dir: Path) -> dict:
    """(in a fresh process) fill the teacher cache of the streamed training pool; report batches run."""
    torch.set_num_threads(2)
    ds, splits = prepare_data(DataConfig(name="imagefolder", root=str(folder), image_size=32, in_memory=False))
    torch.manual_seed(0)
    teacher = Ensemble([ModuleTeacher(build_model("resnet8", ds.num_classes, 3, 32), f"m{i}", f"bench{i}",
                                      ds.num_classes) for i in range(5)])
    views = make_views(splits.train, 4, ds.pad, ds.flip, 0)
    cache = TeacherCache(cache_dir, batch_size=500)
    print("filling", flush=True)  # a parent that kills this process part-way starts its clock here
    t0 = time.perf_counter()
    out = cache.get(teacher, ds, "train", splits.train, views)
    fill_s = time.perf_counter() - t0
    memory = out.logits.clone()
    reads = {}
    for name, source in (("mapped", out), ("memory", type(out)(memory))):
        g = torch.Generator().manual_seed(0)
        t0 = time.perf_counter()
        for _ in range(200):
            pos = torch.randint(0, len(splits.train), (128,), generator=g)
            source.batch(pos, torch.randint(0, 4, (128,), generator=g))
        reads[name] = 200 / (time.perf_counter() - t0)
    return {"teacher_batches": cache.teacher_batches, "fill_s": fill_s, "n": len(splits.train),
            "batches_per_s_mapped": reads["mapped"], "batches_per_s_memory": reads["memory"]}


def child(args: list[str], kill_after: float | None = None) -> dict | None:
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parent)
    if kill_after is not None:
        proc.stdout.readline()  # "filling"
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None
    out, _ = proc.communicate()
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=24_000)
    p.add_argument("--epochs", type=float, default=1)
    p.add_argument("--kill-after", type=float, default=40.0, help="seconds into the first cache fill")
    p.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        kind, *rest = a.child
        folder = Path(rest[0])
        if kind == "trial":
            print(json.dumps(one_trial(folder, rest[1] == "memory", int(rest[2]), a.epochs)))
        else:
            print(json.dumps(fill(folder, Path(rest[1]))))
        return
    folder = make_folder(OUT / "folder", a.images)
    rows = [child(["--epochs", str(a.epochs), "--child", "trial", str(folder), "memory", "0"])]
    rows += [child(["--epochs", str(a.epochs), "--child", "trial", str(folder), "stream", str(w)]) for w in (0, 1, 2)]
    report("streaming", rows, {"args": vars(a)})
    cache_dir = OUT / "cache"
    subprocess.run(["rm", "-rf", str(cache_dir)], check=True)
    child(["--child", "fill", str(folder), str(cache_dir)], kill_after=a.kill_after)
    (meta,) = cache_dir.glob("*/meta.json")
    kept = json.loads(meta.read_text())["done"]
    resumed = child(["--child", "fill", str(folder), str(cache_dir)])
    size = sum(f.stat().st_size for f in cache_dir.glob("*/*.f16"))
    whole = 4 * -(-resumed["n"] // 500)
    cache = {"examples": resumed["n"], "kept_by_killed_fill": kept, "resumed_teacher_batches":
             resumed["teacher_batches"], "whole_fill_batches": whole, "entry_mb": size / 2 ** 20,
             "resumed_fill_s": resumed["fill_s"], "reads_per_s_mapped": resumed["batches_per_s_mapped"],
             "reads_per_s_memory": resumed["batches_per_s_memory"]}
    report("streaming_cache", [cache], {"args": vars(a)})
    os.sync()


if __name__ == "__main__":
    main()
