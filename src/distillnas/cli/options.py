"""What every command shares: option declarations, seeds, and the one override syntax
`--section.key=value` (YAML values) applied onto a config dict before validation."""
from __future__ import annotations

from typing import Any

import typer

from ..errors import DistillnasError
from ..section import MAX_SEEDS

MAX_SEED = 2**31 - 1  # torch.manual_seed takes 64 bits; numpy's generators and the store 32 comfortably

DatasetOpt = typer.Option("mnist5k", "--dataset", "-d", help="mnist5k | fmnist12k | digits | synthetic | fashion_mnist | mnist | "
                          "kmnist | cifar10 | cifar100 | imagefolder (more settings: --data.key=value).")
RootOpt = typer.Option(None, "--data-root", help="Directory of an on-disk dataset (cifar*, imagefolder; fashion_mnist, "
                       "mnist, kmnist: their four IDX files, found without it where the system keeps them).")
DeviceOpt = typer.Option("auto", help="auto | cpu | cuda | cuda:N")
ChannelsLastOpt = typer.Option("auto", "--channels-last", help="auto | on | off. Channels-last memory format; auto: "
                               "on for CPU. Never used for models with convolutions that hit the oneDNN hang "
                               "(see bench/onednn_channels_last_hang.py).")
PrecisionOpt = typer.Option("auto", "--precision", help="auto | fp32 | bf16 | fp16. Autocast precision of "
                            "training; auto: bf16 on CPUs with native bf16 (AVX-512 BF16, AMX) and on CUDA (fp16 "
                            "where the GPU lacks bf16), fp32 on other CPUs. Weights and optimiser state stay fp32.")
ProgressOpt = typer.Option(True, help="Show a progress bar.")
OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '0,1,2' -> [0, 1, 2]."""
    seeds: list[int] = []
    shown = text if len(text) <= 100 else text[:100] + "..."
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi) if hi else int(lo)
        except ValueError:
            raise DistillnasError(f"bad seeds {shown!r}; write e.g. 0,1,2 or 0-4") from None
        if last - first + 1 + len(seeds) > MAX_SEEDS or max(first, last) > MAX_SEED:
            raise DistillnasError(f"seeds {shown!r}: at most {MAX_SEEDS} seeds, each in 0..{MAX_SEED}")
        seeds.extend(range(first, last + 1))
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise DistillnasError(f"bad seeds {shown!r}: need distinct non-negative integers")
    return seeds


def split_section(data: dict[str, Any], key: str) -> dict[str, Any] | None:
    """Take a section out of an override dict (e.g. 'data' or 'space' of `train`)."""
    section = data.pop(key, None)
    if section is not None and not isinstance(section, dict):
        raise DistillnasError(f"--{key} must be set key by key, e.g. --{key}.name=...")
    return section
