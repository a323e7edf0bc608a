"""Numeric precision of training: which autocast dtype a run computes in, decided per device.

`auto` computes in bfloat16 on a CPU that has native bf16 instructions (AVX-512 BF16 or AMX
on x86, the BF16 extension on Arm; read from the kernel's CPU flags, never guessed from the
vendor) *and* on which bf16 measurably trains faster: a one-off calibration times a ResNet-8
training step (batch 128, 28x28, channels-last) in both precisions and picks bf16 only when it
is at least 10 % faster; the verdict is cached per machine (CPU model, flags, torch version,
threads) in ~/.cache/distillnas/precision.json, so it costs ~2 s once. The flag alone is not
enough: on an Intel Xeon with avx512_bf16 (torch 2.13 CPU) bf16 steps measured 0.5-0.9x of
fp32 channels-last (bench/trial_speed.py), on the AMD EPYC the fast-trials issue measured
1.6-2.3x. On other CPUs `auto` is float32. On CUDA it is bfloat16 where the GPU supports it,
else float16 with a gradient scaler. Whatever runs under autocast, master weights, optimiser
state and BatchNorm statistics stay float32 (torch autocast keeps parameters and
normalisation in float32), and every loss is computed from float32 logits. Zero-cost scores
and latency measurement never use this: they run float32.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ContextManager, Literal

import torch
import torch.nn.functional as F

from .errors import DistillnasError
from .models import build_model

log = logging.getLogger("distillnas")
PrecisionName = Literal["auto", "fp32", "bf16", "fp16"]
# CPU flags (/proc/cpuinfo) that mean native bf16 arithmetic: x86 AVX-512 BF16 and AMX, Arm BF16
BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when the CPU's flags list a native bf16 instruction set. Where the kernel does not
    publish them (macOS, Windows) we cannot tell, and say no: fp32 is never the slow choice."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features") and BF16_FLAGS & set(value.split()):
            return True
    return False


@dataclass(frozen=True)
class Precision:
    """A resolved precision: its name, the autocast dtype (None: plain float32), and whether the
    loss needs a gradient scaler (float16 only)."""

    name: str
    dtype: torch.dtype | None = None

    @property
    def scaled(self) -> bool:
        """Whether the loss needs a gradient scaler (float16 only)."""
        return self.dtype == torch.float16

    def autocast(self, device: torch.device) -> ContextManager:
        """The context a forward pass runs in (a no-op for float32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)


FP32 = Precision("fp32")


def resolve_precision(setting: str, device: torch.device, native_bf16: bool | None = None) -> Precision:
    """The precision `setting` (auto | fp32 | bf16 | fp16) means on `device`; `native_bf16`
    overrides the CPU flag detection (tests, and benchmarks that force it off)."""
    if setting == "fp32":
        return FP32
    if device.type == "cuda":
        bf16_ok = torch.cuda.is_bf16_supported()
        if setting == "bf16" and not bf16_ok:
            raise DistillnasError(f"precision bf16: {torch.cuda.get_device_name(device)} has no bf16 support; "
                                  "use fp16 or auto")
        if setting == "fp16" or (setting == "auto" and not bf16_ok):
            return Precision("fp16", torch.float16)
        return Precision("bf16", torch.bfloat16)
    if device.type == "cpu":
        if setting == "fp16":
            raise DistillnasError("precision fp16 is for CUDA: CPUs have no fast float16 training kernels; use bf16 "
                                  "(native on CPUs with AVX-512 BF16 or AMX), fp32 or auto")
        if setting == "bf16":
            return Precision("bf16", torch.bfloat16)
        native = cpu_has_native_bf16() if native_bf16 is None else native_bf16
        return Precision("bf16", torch.bfloat16) if native and bf16_pays_on_cpu() else FP32
    if setting in ("bf16", "fp16"):
        raise DistillnasError(f"precision {setting} is supported on cpu and cuda, not {device.type}; use fp32 or auto")
    return FP32


SPEEDUP_NEEDED = 1.1  # bf16 must train this much faster than fp32 for `auto` to choose it


def _cpu_key() -> str:
    """What the calibration's verdict depends on: CPU model and flags, torch, threads."""
    try:
        info = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        info = ""
    lines = [line for line in info.splitlines() if line.startswith(("model name", "flags", "Features"))][:2]
    raw = "|".join([*lines, torch.__version__, str(torch.get_num_threads())])
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


def _cache_file() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "distillnas" / "precision.json"


@functools.lru_cache(maxsize=1)
def bf16_pays_on_cpu() -> bool:
    """Whether bf16 autocast trains faster than fp32 on this CPU (cached per machine: one ~2 s
    calibration the first time, see the module docstring). DISTILLNAS_CPU_BF16=1 or 0 gives the
    verdict instead (reproducible test runs and benchmarks: the test suite pins it to 0)."""
    forced = os.environ.get("DISTILLNAS_CPU_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    key, path = _cpu_key(), _cache_file()
    try:
        seen = json.loads(path.read_text())
        if isinstance(seen.get(key), dict):
            return bool(seen[key]["bf16_faster"])
    except (OSError, ValueError, AttributeError):
        seen = {}
    speedup = calibrate_cpu_bf16()
    verdict = speedup >= SPEEDUP_NEEDED
    log.info("precision auto: a bf16 training step runs %.2fx the speed of fp32 on this CPU: %s", speedup,
             "bf16" if verdict else "fp32")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        seen = seen if isinstance(seen, dict) else {}
        seen[key] = {"bf16_faster": verdict, "speedup": round(speedup, 3), "when": time.strftime("%Y-%m-%d")}
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(seen, indent=1))
        os.replace(tmp, path)
    except OSError:  # a read-only home: calibrate again next time
        pass
    return verdict


def calibrate_cpu_bf16(steps: int = 6) -> float:
    """Images/s of a bf16 ResNet-8 training step over fp32's (batch 128, 28x28, channels-last,
    SGD): the median of `steps` timed steps each, after one warm-up step."""
    rates = {}
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        torch.manual_seed(0)
        model = build_model("resnet8", 10, 1, 28).train().to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = torch.randn(128, 1, 28, 28).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (128,))
        times = []
        for i in range(steps + 1):
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext():
                loss = F.cross_entropy(model(x).float(), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i:
                times.append(time.perf_counter() - start)
        rates[name] = 1.0 / statistics.median(times)
    return rates["bf16"] / rates["fp32"]
