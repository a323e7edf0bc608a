"""Training throughput on CPU with and without channels_last, per model family.

Decides `channels_last: auto` (train.use_channels_last). Writes results/channels_last.json.
"""
from __future__ import annotations

import torch

from distillnas.config import OptimConfig
from distillnas.data import TensorLoader, load_dataset, make_splits
from distillnas.distill import build_loss
from distillnas.models import build_model
from distillnas.train import fit

from _common import report


def main() -> None:
    ds = load_dataset("mnist5k")
    idx = make_splits(ds).minitrain[:1536]
    rows = []
    for arch in ("resnet8-w0.5", "resnet20", "mobilenetv2-w0.5"):
        rates = {}
        for cl in (False, True):
            torch.manual_seed(0)
            loader = TensorLoader(ds, idx, 128, shuffle=True, augment="random", channels_last=cl)
            res = fit(build_model(arch, 10, 1, 28), build_loss("ce"), loader, OptimConfig(epochs=1, lr=0.05),
                      channels_last=cl)
            rates[cl] = res.images_per_s
        rows.append({"arch": arch, "contiguous_img_s": rates[False], "channels_last_img_s": rates[True],
                     "speedup": rates[True] / rates[False]})
    report("channels_last", rows)


if __name__ == "__main__":
    main()
