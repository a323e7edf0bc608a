"""Export, measured: ONNX and TorchScript round-trip error for every model family and search
space, and onnxruntime against PyTorch latency (1 pinned thread, batch 1) for a student.

    python bench/export.py                          # families, spaces, and resnet8's latency
    python bench/export.py --run runs/akd_mnist5k   # ... and the latency of that search's best

Writes results/export.json.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from distillnas.checkpoint import save_checkpoint
from distillnas.cost import MEASURERS
from distillnas.export import export_student
from distillnas.models import build_model
from distillnas.rundir import RunDir
from distillnas.spaces import build_space

from _common import report

FAMILIES = ["resnet8", "resnet20", "wrn-16-2", "mobilenetv2-w0.5"]
SPACES = [{"name": "mnasnet", "preset": "tiny"}, {"name": "resnet_depth", "depths": [1, 3, 5, 7]},
          {"name": "addon", "backbone": "resnet20", "layers": [1, 1, 1]}]


def models(shape: tuple[int, int, int], classes: int) -> dict[str, tuple[torch.nn.Module, str, dict | None]]:
    out = {f: (build_model(f, classes, shape[0], shape[1]), f, None) for f in FAMILIES}
    for i, sp in enumerate(SPACES):
        space = build_space(**sp)
        tokens = space.sample(np.random.default_rng(i))
        out[f"{sp['name']} (seeded sample)"] = (space.build(tokens, classes, shape[0], shape[1]), space.to_string(tokens),
                                               space.config())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, help="a finished search: its best student's latency is measured too")
    p.add_argument("--repeats", type=int, default=50)
    a = p.parse_args()
    shape, classes = (1, 28, 28), 10
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (model, arch, space) in models(shape, classes).items():
            torch.manual_seed(0)
            ckpt = save_checkpoint(Path(tmp) / "m.pt", model, arch, classes, *shape[:2], {}, space=space)
            onnx = export_student(ckpt, "onnx", Path(tmp) / "m.onnx")
            ts = export_student(ckpt, "torchscript", Path(tmp) / "m.ts.pt")
            rows.append({"model": name, "onnx_max_abs_diff": onnx.max_abs_diff, "torchscript_max_abs_diff": ts.max_abs_diff,
                         "onnx_kb": (Path(tmp) / "m.onnx").stat().st_size / 1024})
    lat_rows = []
    targets = {"resnet8": build_model("resnet8", classes, shape[0], shape[1])}
    if a.run:
        cfg, best = RunDir(a.run).load()
        space = build_space(**best["space"])
        arch = best["archs"][0]["arch"]
        targets[f"best of {a.run.name}"] = space.build(space.from_string(arch), classes, shape[0], shape[1])
    torch_measure = MEASURERS.build("cpu", warmup=10, repeats=a.repeats)
    ort_measure = MEASURERS.build("onnxruntime", warmup=10, repeats=a.repeats)
    for name, model in targets.items():
        pt, ort = torch_measure(model, (1, *shape)), ort_measure(model, (1, *shape))
        lat_rows.append({"model": name, "pytorch_ms": pt.median_ms, "pytorch_iqr": pt.iqr_ms,
                         "onnxruntime_ms": ort.median_ms, "onnxruntime_iqr": ort.iqr_ms,
                         "speedup": pt.median_ms / ort.median_ms})
    report("export", rows, {"latency": lat_rows})
    report("export_latency", lat_rows)


if __name__ == "__main__":
    main()
