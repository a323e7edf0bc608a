"""Training throughput on CPU with and without channels_last, per model family, under the
safety policy (models/layout.py): families with a convolution that hangs oneDNN in
channels-last are reported as 'unsafe' and are never run in that layout (it would hang).

Decides `channels_last: auto` (train.use_channels_last). Writes results/channels_last.json.
"""
from __future__ import annotations

import torch

from distillnas.config import OptimConfig
from distillnas.data import TensorLoader, load_dataset, make_splits
from distillnas.distill import build_loss
from distillnas.models import build_model
from distillnas.models.layout import channels_last_hazard
from distillnas.training import fit

from _common import report


def rate(arch: str, ds, idx, cl: bool) -> float:  # noqa: ANN001
    torch.manual_seed(0)
    loader = TensorLoader(ds, idx, 128, shuffle=True, augment="random", channels_last=cl)
    return fit(build_model(arch, 10, 1, 28), build_loss("ce"), loader, OptimConfig(epochs=1, lr=0.05),
               channels_last=cl).images_per_s


def main() -> None:
    ds = load_dataset("mnist5k")
    idx = make_splits(ds).minitrain[:1536]
    rows = []
    for arch in ("resnet8-w0.25", "resnet8-w0.5", "resnet20", "mobilenetv2-w0.5"):
        hazard = channels_last_hazard(build_model(arch, 10, 1, 28))
        base = rate(arch, ds, idx, False)
        fast = None if hazard else rate(arch, ds, idx, True)
        rows.append({"arch": arch, "policy": "unsafe: contiguous" if hazard else "channels_last",
                     "contiguous_img_s": base, "channels_last_img_s": fast or float("nan"),
                     "speedup": (fast / base) if fast else 1.0, "hazard": hazard or "-"})
    report("channels_last", rows)


if __name__ == "__main__":
    main()
