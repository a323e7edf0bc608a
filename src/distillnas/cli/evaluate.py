"""`distillnas evaluate CHECKPOINT`: test top-1, per-class accuracy, params, MACs and latency."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..io import atomic_write_text, check_dir
from .app import app
from .display import out


@app.command("evaluate")
def evaluate(
    checkpoint: Path = typer.Argument(..., metavar="CHECKPOINT", help="A student checkpoint (from `train`, `train --from-run` or "
                                      "`teacher train`), or a shipped student's name (`distillnas list`), e.g. fmnist-100k."),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Dataset to score it on (default: the one "
                                          "the checkpoint was trained on); its channels, image size and classes "
                                          "must match the model's."),
    data_root: Optional[str] = typer.Option(None, "--data-root", help="Directory of an on-disk dataset."),
    split: str = typer.Option("test", help="test (the official test set where there is one) | minival | minitrain "
                              "| train | holdout (the images a data.train_subset left out)"),
    latency: bool = typer.Option(True, help="Measure CPU latency at batch 1 (one pinned thread, fp32)."),
    precision: str = typer.Option("fp32", help="Precision to compute accuracy in: fp32 (portable across CPUs) | "
                                  "recorded (the one training scored the checkpoint in, e.g. bf16: reproduces the "
                                  "score training printed, on the same kind of CPU) | bf16."),
    out_json: Optional[Path] = typer.Option(None, "--json", help="Also write the result as JSON here."),
) -> None:
    """Score a student checkpoint with the input preprocessing it recorded: top-1 and per-class accuracy,
    parameters, MACs and measured latency."""
    from ..evaluate import evaluate_checkpoint

    if out_json is not None:
        check_dir(out_json.parent, "output directory (--json)")
    e = evaluate_checkpoint(checkpoint, dataset, data_root, split, latency, precision=precision)
    t = Table(title=f"{checkpoint.name} on {e.dataset} ({e.split}, {e.examples:,} images)")
    t.add_column("top-1 (%)", justify="right")
    t.add_column("params", justify="right")
    t.add_column("MMACs", justify="right")
    t.add_column("latency (ms)", justify="right")
    t.add_row(f"{100 * e.top1:.2f}", f"{e.params:,}", f"{e.macs / 1e6:.2f}",
              "-" if e.latency_ms is None else f"{e.latency_ms:.3f}")
    out.print(t)
    out.print(f"arch: {e.arch}", soft_wrap=True)  # whole: a cut arch string cannot be rebuilt
    out.print("per class (%): " + ", ".join(f"{c}: {100 * a:.1f}" for c, a in enumerate(e.per_class)), soft_wrap=True)
    pre = e.preprocessing
    out.print(f"input: {pre['channels']}x{pre['size']}x{pre['size']}, (x/255 - {pre['mean']}) / {pre['std']}; "
              f"scored in {e.precision}", soft_wrap=True)
    if out_json is not None:
        atomic_write_text(out_json, json.dumps(e.as_dict(), indent=2))
        out.print(f"-> {out_json}")
