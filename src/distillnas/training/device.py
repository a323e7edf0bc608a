"""Where training runs and in which memory format."""
from __future__ import annotations

import logging
import shutil

import torch
import torch.nn as nn

from ..errors import DistillnasError
from ..models.layout import channels_last_hazard

log = logging.getLogger("distillnas")


def resolve_device(name: str) -> torch.device:
    """The torch device a setting names (auto: CUDA when available), refused in one line if absent."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DistillnasError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DistillnasError(f"device {name!r} asked for, but CUDA is not available here; use cpu or auto")
    return device


# On CUDA, `compile: auto` compiles runs of at least this many steps. On CPU it never does:
# on the 2-core Intel Xeon (torch 2.13 CPU) `bench/trial_speed.py --compile` measured compiled
# steps at 0.80x (resnet8), 1.20x (resnet20), 0.62x (mobilenetv2-w0.5) and 1.98x (the median
# student) of the eager default, after 1-3 minutes of compiling (cold cache, other jobs running):
# slower as often as faster, repaid after 450-790 steps where it pays at all. A proxy trial
# (tens to hundreds of steps) never compiles under auto, anywhere.
COMPILE_MIN_STEPS = 4000


def use_compile(setting: str, steps: int, device: torch.device) -> bool:
    """Whether a run of `steps` optimiser steps compiles its student ('auto': CUDA runs of at
    least COMPILE_MIN_STEPS; 'on': any run, on CPU only where a C compiler exists for inductor)."""
    if setting == "off":
        return False
    has_cc = device.type != "cpu" or any(shutil.which(c) for c in ("cc", "gcc", "clang"))
    if setting == "on":
        if not has_cc:
            raise DistillnasError("compile=on: torch.compile needs a C compiler on CPU (none of cc, gcc, clang is on "
                                  "PATH); install one or use compile=off")
        return True
    return device.type == "cuda" and steps >= COMPILE_MIN_STEPS


def use_channels_last(setting: str, device: torch.device, model: nn.Module | None = None) -> bool:
    """'auto': on for CPU, where bench/channels_last.py measured it faster; 'on': on anywhere.
    Never on CPU for a model with a convolution that hangs oneDNN (models/layout.py)."""
    wanted = device.type == "cpu" if setting == "auto" else setting == "on"
    if wanted and device.type == "cpu" and model is not None:
        hazard = channels_last_hazard(model)
        if hazard is not None:
            if setting == "on":
                log.info("channels-last left off for this model on CPU: %s hits a oneDNN hang", hazard)
            return False
    return wanted
