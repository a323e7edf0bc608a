"""Where training runs and in which memory format."""
from __future__ import annotations

import logging

import torch
import torch.nn as nn

from ..errors import DistillnasError
from ..models.layout import channels_last_hazard

log = logging.getLogger("distillnas")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DistillnasError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DistillnasError(f"device {name!r} asked for, but CUDA is not available here; use cpu or auto")
    return device


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
