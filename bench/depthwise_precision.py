"""Depthwise convolutions under CPU bf16: per-shape kernel times and whole-student training speed.

Why the rule in `models/blocks.DepthwiseConv2d` exists: on this CPU (torch 2.13, oneDNN, AMD
EPYC with avx512_bf16) bf16 depthwise kernels run several times slower than float32 ones, so a
MnasNet student trained under bf16 autocast spent half its step in a few depthwise backward
passes. The rule computes depthwise convs in float32 and leaves every dense conv in bf16.

Two tables, all measured in one run (ratios hold when other jobs share the cores; absolute
times do not - say what else ran):

  1. forward + backward of single depthwise convs (the shapes of the shipped `fmnist-100k`
     student and of MobileNetV2's first blocks, batch 128): ms in fp32 / bf16, contiguous and
     channels-last.
  2. a training step (distillnas's Stepper: forward, CE, backward, SGD; channels-last where
     allowed) of whole students, images/s: fp32, bf16 with plain depthwise convs (the rule
     off), bf16 with the rule (the default).

    python bench/depthwise_precision.py            # ~3 minutes on one core
    python bench/depthwise_precision.py --threads 2

Prints both tables and writes bench/results/depthwise_precision.json.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
import statistics
import time

import torch
import torch.nn as nn

from _common import report
from trial_speed import BF16, images_per_s
from distillnas.models import build_model
from distillnas.models.blocks import DepthwiseConv2d
from distillnas.models.layout import channels_last_hazard
from distillnas.precision import FP32

# (channels, input size, kernel, stride): fmnist-100k's depthwise layers and MobileNetV2's first
SHAPES = [(12, 28, 5, 2), (16, 28, 5, 2), (36, 28, 3, 1), (96, 14, 3, 1), (20, 14, 5, 1), (48, 28, 3, 1)]


def conv_ms(c: int, size: int, k: int, s: int, bf16: bool, channels_last: bool, reps: int) -> float:
    """Median ms of forward + backward of one plain depthwise Conv2d (batch 128)."""
    conv = nn.Conv2d(c, c, k, s, k // 2, groups=c, bias=False)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    conv = conv.to(memory_format=fmt)
    x = torch.randn(128, c, size, size).contiguous(memory_format=fmt).requires_grad_()

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = conv(x)
        y.float().sum().backward()

    for _ in range(2):
        step()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def without_rule(model: nn.Module) -> nn.Module:
    """The same model with its depthwise convs turned back into plain Conv2d (the rule off)."""
    for m in model.modules():
        if isinstance(m, DepthwiseConv2d):
            m.__class__ = nn.Conv2d
    return model


def students() -> dict[str, Callable[[], nn.Module]]:
    import distillnas

    return {"fmnist-100k (searched)": lambda: distillnas.load_student("fmnist-100k")[0],
            "mobilenetv2-w0.1": lambda: build_model("mobilenetv2-w0.1", 10, 1, 28),
            "resnet8 (no depthwise)": lambda: build_model("resnet8", 10, 1, 28)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--reps", type=int, default=8, help="timed repeats per conv shape")
    ap.add_argument("--steps", type=int, default=6, help="steps per timed window of a whole student")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    convs = []
    print(f"{'depthwise conv (C, HxW, k, stride)':36} {'fp32':>7} {'fp32_cl':>8} {'bf16':>7} {'bf16_cl':>8}  bf16_cl / fp32_cl")
    for c, size, k, s in SHAPES:
        row = {"shape": [c, size, k, s]}
        for col, bf16, cl in (("fp32", False, False), ("fp32_cl", False, True), ("bf16", True, False), ("bf16_cl", True, True)):
            row[col] = conv_ms(c, size, k, s, bf16, cl, a.reps)
        row["bf16_cl_over_fp32_cl"] = row["bf16_cl"] / row["fp32_cl"]
        convs.append(row)
        print(f"{f'{c}, {size}x{size}, {k}x{k}, {s}':36} {row['fp32']:7.1f} {row['fp32_cl']:8.1f} {row['bf16']:7.1f} "
              f"{row['bf16_cl']:8.1f}  {row['bf16_cl_over_fp32_cl']:.1f}x", flush=True)
    print(f"\n{'student, images/s':28} {'fp32':>7} {'bf16 (rule off)':>16} {'bf16 (rule on)':>15}  on / off")
    whole = []
    for name, make in students().items():
        model = make()
        cl = channels_last_hazard(model) is None
        row = {"student": name, "params": sum(p.numel() for p in model.parameters()), "channels_last": cl,
               "fp32": images_per_s(make(), 128, FP32, cl, a.steps)[0],
               "bf16_rule_off": images_per_s(without_rule(make()), 128, BF16, cl, a.steps)[0],
               "bf16_rule_on": images_per_s(make(), 128, BF16, cl, a.steps)[0]}
        row["on_over_off"] = row["bf16_rule_on"] / row["bf16_rule_off"]
        whole.append(row)
        print(f"{name:28} {row['fp32']:7.0f} {row['bf16_rule_off']:16.0f} {row['bf16_rule_on']:15.0f}  "
              f"{row['on_over_off']:.2f}x", flush=True)
    report("depthwise_precision", whole, {"threads": a.threads, "convs_ms": convs,
                                          "torch": torch.__version__})


if __name__ == "__main__":
    main()
