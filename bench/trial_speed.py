"""How fast a proxy trial trains, under each precision and layout, against the machine's peak.

For resnet8, resnet20, mobilenetv2-w0.5 and the median student (by MACs) of the default search
space (akd_mnist5k's tiny MnasNet), at the default proxy's batch size on 28x28 inputs, a
distillnas training step (Stepper: forward, CE, backward, SGD) is timed under

    fp32            contiguous, float32 (distillnas before precision existed, channels-last off)
    fp32_cl         float32, channels-last where models/layout.py allows (the old CPU default)
    bf16            bf16 autocast, contiguous
    bf16_cl         bf16 autocast, channels-last where allowed
    auto            what `precision: auto, channels_last: auto` picks on this machine (the default)
    compile_<p>     torch.compile of the auto setting (with --compile: slow to build, see below)

Each column is images/s (median of 3 timed windows after warm-up), all measured in one run, so
the ratios to fp32 hold even when other jobs share the cores (the absolute numbers do not: say
what else ran). The fraction of peak divides the step's FLOPs (3 x the forward's, counted by
torch.utils.flop_counter; see step_flops) per second by the machine's measured peak: a large
torch.mm in fp32 and in bf16.
With --compile, the compile time of each model is reported beside the steps a proxy trial
(a few hundred) and a retraining (thousands) need to pay it back.

    python bench/trial_speed.py              # ~4 minutes on 2 cores
    python bench/trial_speed.py --compile    # + torch.compile columns (minutes more)

Prints a table and writes bench/results/trial_speed.json.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from _common import report
from distillnas.models import build_model
from distillnas.models.layout import channels_last_hazard
from distillnas.precision import FP32, Precision, cpu_has_native_bf16, resolve_precision
from distillnas.runconfig import load_search_config
from distillnas.spaces import space_from_config
from distillnas.training.loop import Stepper

BF16 = Precision("bf16", torch.bfloat16)


def median_student(in_channels: int = 1) -> tuple[str, torch.nn.Module]:
    """The default space's arch of median MACs among 41 seeded samples (for `in_channels` inputs)."""
    from distillnas.cost import count_macs

    cfg = load_search_config(None, [])
    space = space_from_config(cfg.space)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(41)]
    macs = [count_macs(space.build(a, 10, 1, 28), (1, 1, 28, 28)) for a in archs]
    pick = archs[int(np.argsort(macs)[len(macs) // 2])]
    return space.to_string(pick), space.build(pick, 10, in_channels, 28)


def models(names: list[str]) -> dict[str, torch.nn.Module]:
    """The students timed: named archs, and `median` for the default space's median student."""
    out = {a: build_model(a, 10, 1, 28) for a in names if a != "median"}
    if "median" in names:
        name, model = median_student()
        out[f"median student ({name[:24]}...)"] = model
    return out


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously; a timer must not stop early)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_flops(model: torch.nn.Module, batch: int, device: torch.device) -> int:
    """A training step's FLOPs: 3x the counted forward (backward = input grad + weight grad, each
    about one forward). Not the counter run over backward: torch 2.13's FlopCounterMode counts a
    depthwise conv's backward as a dense one (a 64-channel 3x3 depthwise conv, fwd 7.2 MFLOP,
    fwd+bwd counted 477 MFLOP, 22x the true ~22), which made mobilenetv2-w0.1 look 5x heavier
    than resnet8 at equal MACs (38 against 7 GFLOP per step)."""
    x = torch.randn(batch, 1, 28, 28, device=device)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return 3 * fc.get_total_flops()


def images_per_s(model: torch.nn.Module, batch: int, precision: Precision, channels_last: bool,
                 steps: int, compile_model: bool = False, device: torch.device = torch.device("cpu")) -> tuple[float, float]:
    """(images/s, seconds spent before the first timed step: compile time for a compiled model)."""
    model = model.train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    stepper = Stepper(opt, device, precision=precision)
    run = torch.compile(model) if compile_model else model
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(batch, 1, 28, 28, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,), device=device)
    start = time.perf_counter()
    for _ in range(3):  # warm-up (and compilation)
        stepper.step(lambda: F.cross_entropy(run(x).float(), y))
    sync(device)
    setup = time.perf_counter() - start
    windows = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(steps):
            stepper.step(lambda: F.cross_entropy(run(x).float(), y))
        sync(device)
        windows.append(batch * steps / (time.perf_counter() - t))
    model.to(memory_format=torch.contiguous_format)
    return statistics.median(windows), setup


def peak_flops(dtype: torch.dtype, device: torch.device, n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    torch.mm(a, b)
    sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b)
    sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=12, help="steps per timed window")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile of the auto setting")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (bench/gpu_check.py runs it on a GPU)")
    ap.add_argument("--models", default="resnet8,resnet20,mobilenetv2-w0.5,median",
                    help="comma-separated archs to time (median: the default space's median student)")
    ap.add_argument("--out", default="trial_speed", help="the results file's name (results/<out>.json)")
    args = ap.parse_args()
    device = torch.device(args.device)
    cfg = load_search_config(None, [])
    batch = cfg.evaluator.proxy.batch_size
    auto = resolve_precision("auto", device)
    peak = {"fp32": peak_flops(torch.float32, device), "bf16": peak_flops(torch.bfloat16, device)}
    print(f"native bf16: {cpu_has_native_bf16()}; auto = {auto.name}; peak torch.mm fp32 "
          f"{peak['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peak['bf16'] / 1e9:.0f} GFLOP/s; batch {batch}", flush=True)
    rows = []
    for name, model in models(args.models.split(",")).items():
        model = model.to(device)
        cl_ok = channels_last_hazard(model) is None or device.type != "cpu"
        flops = step_flops(model, batch, device)
        settings = {"fp32": (FP32, False), "fp32_cl": (FP32, cl_ok), "bf16": (BF16, False),
                    "bf16_cl": (BF16, cl_ok), "auto": (auto, cl_ok)}
        row: dict = {"model": name, "params": sum(p.numel() for p in model.parameters()),
                     "GFLOP/step": flops / 1e9, "channels_last_safe": cl_ok}
        for col, (prec, cl) in settings.items():
            ips, _ = images_per_s(model, batch, prec, cl, args.steps, device=device)
            row[col] = ips
        if args.compile:
            ips, setup = images_per_s(model, batch, auto, cl_ok, args.steps, compile_model=True, device=device)
            row[f"compile_{auto.name}"] = ips
            saved = batch / row["auto"] - batch / ips  # seconds saved per step
            row["compile_s"] = setup
            row["compile_pays_after_steps"] = setup / saved if saved > 0 else float("inf")
        for col in ("fp32_cl", "bf16", "bf16_cl", "auto"):
            row[f"{col}_x"] = row[col] / row["fp32"]
        row["auto_x_fp32_cl"] = row["auto"] / row["fp32_cl"]
        unit = "bf16" if auto.dtype == torch.bfloat16 else "fp32"
        row["auto_peak_frac"] = flops / batch * row["auto"] / peak[unit]
        row["fp32_peak_frac"] = flops / batch * row["fp32"] / peak["fp32"]
        rows.append(row)
        print(f"{name}: fp32 {row['fp32']:.0f} img/s, auto {row['auto']:.0f} ({row['auto_x']:.2f}x)", flush=True)
    report(args.out, rows, {"peak_flops": peak, "batch": batch, "auto": auto.name, "device": str(device),
                            "native_bf16": cpu_has_native_bf16()})


if __name__ == "__main__":
    main()
