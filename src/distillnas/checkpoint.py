"""Student checkpoints that carry what is needed to rebuild them: arch string and config."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch.nn as nn

from .errors import DistillnasError
from .io import atomic_torch_save, safe_torch_load
from .shipped import checkpoint_path
from .models import build_model
from .spaces import build_space

FORMAT = "distillnas/1"


def checkpoint_name(arch: str, loss: str, seed: int, space: dict | None = None) -> str:
    """The file a trained student is saved as: the arch (hashed for searched archs), loss and seed."""
    stem = arch if space is None else f"{space['name']}-{hashlib.sha1(arch.encode()).hexdigest()[:10]}"
    return f"{stem}-{loss.replace('*', 'x').replace('+', '_')}-seed{seed}.pt"


def save_checkpoint(path: str | Path, model: nn.Module, arch: str, num_classes: int, in_channels: int,
                    input_size: int, config: dict[str, Any], metrics: dict[str, Any] | None = None,
                    space: dict[str, Any] | None = None, preprocessing: dict[str, Any] | None = None) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves half a checkpoint.
    `preprocessing` records what the model expects of its input (dataset, channels, size,
    per-channel mean and std of `(x / 255 - mean) / std`), so evaluation and export reproduce it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "arch": arch, "num_classes": num_classes, "in_channels": in_channels,
               "input_size": input_size, "config": config, "metrics": metrics or {}, "space": space,
               "preprocessing": preprocessing, "state_dict": state}
    return atomic_torch_save(path, payload)


def is_checkpoint(payload: object) -> bool:
    """Whether a loaded file is a distillnas checkpoint (and not, say, a tensor of logits)."""
    return isinstance(payload, dict) and payload.get("format") == FORMAT


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dict, loaded with weights_only=True; unreadable files are one-line errors."""
    path = checkpoint_path(path)  # a shipped student's name gives its verified file
    if not path.is_file():
        raise DistillnasError(f"checkpoint {str(path)!r} does not exist")
    payload = safe_torch_load(path, "checkpoint")
    if not is_checkpoint(payload):
        raise DistillnasError(f"{str(path)!r} is not a distillnas checkpoint (no format={FORMAT!r} entry)")
    return payload


def weights_digest(paths: list[str | Path]) -> str | None:
    """A short hash of the members' weights (in order), or None when one is not a distillnas
    checkpoint file. It names a trained teacher where paths cannot: a seeded retraining in
    another sitting gives the same digest, so tables distilled from it can be merged."""
    h = hashlib.sha256()
    for path in paths:
        if str(path).startswith("flip:"):  # a mirrored teacher (teachers.load) answers differently
            h.update(b"flip:")
            path = str(path)[len("flip:"):]
        if not Path(path).is_file():
            return None
        try:
            state = read_checkpoint(path)["state_dict"]
        except DistillnasError:
            return None
        for key in sorted(state):
            h.update(key.encode())
            h.update(state[key].numpy().tobytes())
    return h.hexdigest()[:16]


def load_student(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a saved student in one call.

    Args:
        path: a checkpoint written by distillnas (weights are read with weights_only=True).

    Returns:
        (the model in eval mode, the checkpoint's metadata: arch, space, config, metrics,
        preprocessing).

    Raises:
        DistillnasError: a missing, truncated or foreign file, or weights that do not fit the arch.
    """
    return student_from_payload(read_checkpoint(path), path)


def student_from_payload(payload: dict[str, Any], path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode, metadata) from a checkpoint already read (`read_checkpoint`)."""
    if payload.get("space"):
        space = build_space(**payload["space"])
        model = space.build(space.from_string(payload["arch"]), payload["num_classes"], payload["in_channels"],
                            payload["input_size"])
    else:
        model = build_model(payload["arch"], payload["num_classes"], payload["in_channels"], payload["input_size"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as e:
        raise DistillnasError(f"checkpoint {str(path)!r} does not fit arch {payload['arch']!r}: "
                              f"{str(e).splitlines()[0][:160]}") from None
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    return model.eval(), meta
