"""`distillnas export CHECKPOINT --format onnx|torchscript`: a student as a deployable file."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import DistillnasError
from ..io import check_dir
from .app import app
from .display import out


@app.command("export")
def export(
    checkpoint: Path = typer.Argument(..., metavar="CHECKPOINT", help="A student checkpoint (from `train` or `train --from-run`)."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx (runs under onnxruntime) | torchscript."),
    out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="The file to write (default: beside the "
                                            "checkpoint, .onnx or .torchscript.pt)."),
) -> None:
    """Export a student and check it: the exported model's logits against PyTorch's on a batch."""
    from ..export import FORMATS, export_student

    if fmt not in FORMATS:
        raise DistillnasError(f"unknown --format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if out_file is not None:
        check_dir(out_file.parent, "output directory")
    e = export_student(checkpoint, fmt, out_file)
    c, h, w = e.input_shape
    out.print(f"{e.format} -> {e.path} (input N x {c} x {h} x {w}); max |exported - PyTorch| on a batch: "
              f"{e.max_abs_diff:.2e}", soft_wrap=True)
