"""Numeric precision of training: which autocast dtype a run computes in, decided per device.

`auto` computes in bfloat16 on a CPU that has native bf16 instructions (AVX-512 BF16 or AMX
on x86, the BF16 extension on Arm; read from the kernel's CPU flags, never guessed from the
vendor) and in float32 on other CPUs, where emulated bf16 is slower than float32. On CUDA it
is bfloat16 where the GPU supports it, else float16 with a gradient scaler. Whatever runs
under autocast, master weights, optimiser state and BatchNorm statistics stay float32 (torch
autocast keeps parameters and normalisation in float32), and every loss is computed from
float32 logits. Zero-cost scores and latency measurement never use this: they run float32.
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import ContextManager, Literal

import torch

from .errors import DistillnasError

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
        return self.dtype == torch.float16

    def autocast(self, device: torch.device) -> ContextManager:
        """The context a forward pass runs in (a no-op for float32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)


FP32 = Precision("fp32")


def resolve_precision(setting: str, device: torch.device, native_bf16: bool | None = None) -> Precision:
    """The precision `setting` (auto | fp32 | bf16 | fp16) means on `device`; `native_bf16`
    overrides the CPU detection (tests, and benchmarks that force it off)."""
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
        native = cpu_has_native_bf16() if native_bf16 is None else native_bf16
        if setting == "bf16" or native:
            return Precision("bf16", torch.bfloat16)
        return FP32
    if setting in ("bf16", "fp16"):
        raise DistillnasError(f"precision {setting} is supported on cpu and cuda, not {device.type}; use fp32 or auto")
    return FP32
