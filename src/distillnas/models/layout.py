"""Memory layout: when channels-last is safe to use on CPU.

oneDNN (torch 2.13 CPU, seen on AMD EPYC with AVX2) hangs in the backward pass of some
small channels-last convolutions, and aborts with heap corruption ('double free') under
OMP_NUM_THREADS=1; the contiguous layout runs the same layers fine. The measured boundary
is in bench/onednn_channels_last_hang.py (a standalone reproducer) and docs/design.md.
We never put such a model in channels-last on CPU, whatever the setting says.
"""
from __future__ import annotations

import torch.nn as nn

# Hazard, measured on this project's CI CPU: 1x1 convolutions with stride > 1 whose input
# has 2..7 channels (dense, groups=1). Conv2d(1, *) and Conv2d(8+, *) ran clean.
UNSAFE_MAX_IN_CHANNELS = 7


def channels_last_hazard(model: nn.Module) -> str | None:
    """The first convolution that may hang oneDNN in channels-last, or None when all are safe."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and _unsafe(m):
            return f"{name or 'conv'}: Conv2d({m.in_channels}, {m.out_channels}, {m.kernel_size[0]}, stride={m.stride[0]})"
    return None


def _unsafe(conv: nn.Conv2d) -> bool:
    strided = max(conv.stride) > 1
    pointwise = tuple(conv.kernel_size) == (1, 1)
    return strided and pointwise and conv.groups == 1 and 2 <= conv.in_channels <= UNSAFE_MAX_IN_CHANNELS
