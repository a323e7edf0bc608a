"""A student checkpoint as a deployable file: ONNX (run by onnxruntime) or TorchScript, checked
on export: the exported model's outputs are compared with PyTorch's on a seeded batch."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import load_student
from .cost.onnx import onnx_bytes, onnx_session
from .errors import DistillnasError
from .io import atomic_write

FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}


@dataclass
class Exported:
    """What `export_student` wrote: the file, its format, and how its outputs compared with PyTorch's."""
    path: Path
    format: str
    max_abs_diff: float  # exported vs PyTorch outputs on the check batch
    input_shape: tuple[int, int, int]  # (channels, height, width) the model takes


def _check_batch(shape: tuple[int, int, int], n: int, seed: int) -> torch.Tensor:
    return torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed))


def export_student(checkpoint: str | Path, fmt: str, out: str | Path | None = None, check_batch: int = 4,
                   seed: int = 0) -> Exported:
    """Write `checkpoint`'s student as a deployable file and check it against PyTorch.

    Args:
        checkpoint: a student checkpoint.
        fmt: "onnx" (runs under onnxruntime) or "torchscript".
        out: the file to write (default: beside the checkpoint, with the format's suffix).
        check_batch: images in the seeded batch the exported model is checked on.
        seed: seed of that batch.

    Returns:
        An `Exported`: the path, the input shape and the largest absolute logit difference.

    Raises:
        DistillnasError: an unknown format, a bad checkpoint or a missing exporter.
    """
    if fmt not in FORMATS:
        raise DistillnasError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    model, meta = load_student(checkpoint)
    shape = (int(meta["in_channels"]), int(meta["input_size"]), int(meta["input_size"]))
    path = Path(out) if out else Path(checkpoint).with_suffix(FORMATS[fmt])
    if path.is_dir():
        raise DistillnasError(f"--out {str(path)!r} is a directory; give a file path to write")
    if path.resolve() == Path(checkpoint).resolve():
        raise DistillnasError(f"--out {str(path)!r} would overwrite the checkpoint itself; give another file")
    x = _check_batch(shape, check_batch, seed)
    with torch.inference_mode():
        want = model(x).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "onnx":
        data = onnx_bytes(model, (1, *shape))
        got = onnx_session(data).run(None, {"input": x.numpy()})[0]
        atomic_write(path, lambda tmp: tmp.write_bytes(data))  # a full disk leaves no 0-byte file
    else:
        with torch.no_grad():
            traced = torch.jit.trace(model, x[:1])
        atomic_write(path, lambda tmp: torch.jit.save(traced, str(tmp)))
        with torch.inference_mode():
            got = torch.jit.load(str(path)).eval()(x).numpy()
    return Exported(path, fmt, float(np.abs(got - want).max()), shape)
