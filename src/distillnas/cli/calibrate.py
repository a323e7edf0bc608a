"""`distillnas calibrate RUN`: does the search's proxy rank students like the final training?"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .app import app
from .display import out
from .options import DeviceOpt, PrecisionOpt, ProgressOpt, parse_seeds


@app.command("calibrate")
def calibrate(
    run: Path = typer.Argument(..., metavar="RUN", help="A finished search run."),
    archs: int = typer.Option(8, min=3, max=1000, help="Students to retrain, spread evenly over the proxy's "
                              "ranking (its best included)."),
    epochs: Optional[float] = typer.Option(None, min=0, max=10_000, help="Retraining epochs (default: the run's "
                                           "final.optim.epochs)."),
    seeds: Optional[str] = typer.Option(None, help="Retraining seeds, e.g. 0,1 (default: the run's final.seeds); "
                                        "two or more measure the seed noise floor."),
    precision: str = PrecisionOpt,
    device: str = DeviceOpt,
    progress: bool = ProgressOpt,
    finished_only: bool = typer.Option(False, "--finished-only", help="Train nothing: measure over the sampled "
                                       "students already retrained under every seed (a calibration stopped part "
                                       "way; at least 3)."),
) -> None:
    """Retrain a sample of a search's students with its final recipe (mini-train -> the holdout
    split a data.train_subset leaves, else mini-val) and report how the proxy ranked them: Kendall tau and Spearman with bootstrap intervals, the
    seed noise floor, where the proxy's best lands, and a verdict; the run's report gains its table and
    figure. Resumable: run it again."""
    from ..analysis import build_report
    from ..calibrate import calibrate_run

    c = calibrate_run(run, archs, epochs, parse_seeds(seeds) if seeds else None, device, precision, progress,
                      finished_only=finished_only, on_result=lambda arch, seed, acc: out.print(f"retrained {arch[:48]}.. seed {seed}: "
                                                                  f"{100 * acc:.2f} %", highlight=False))
    t = Table(title=f"proxy against retraining ({c.recipe}, seeds {', '.join(map(str, c.seeds))}; {c.split})")
    for col in ("proxy rank", "proxy top-1 (%)", "retrained top-1 (%)", "retrained rank", "arch"):
        t.add_column(col, justify="right" if col != "arch" else "left")
    order = sorted(range(len(c.archs)), key=lambda i: -c.final_accuracy[i])
    for i, arch in enumerate(c.archs):
        t.add_row(str(i + 1), f"{100 * c.proxy_accuracy[i]:.2f}", f"{100 * c.final_accuracy[i]:.2f}",
                  str(order.index(i) + 1), arch[:40] + ("…" if len(arch) > 40 else ""))
    out.print(t)
    out.print(f"Kendall tau {c.tau:+.3f} [{c.tau_interval[0]:+.2f}, {c.tau_interval[1]:+.2f}], Spearman "
              f"{c.spearman:+.3f} [{c.spearman_interval[0]:+.2f}, {c.spearman_interval[1]:+.2f}] (proxy accuracy vs "
              f"retrained); reward tau {c.reward_tau:+.3f} [{c.reward_tau_interval[0]:+.2f}, "
              f"{c.reward_tau_interval[1]:+.2f}]; seed noise floor "
              + (f"tau {c.noise_tau:+.3f}" if c.noise_tau is not None else "not measured (one seed)")
              + f"; the proxy's best is #{c.top1_rank} after retraining", soft_wrap=True)
    for r in c.ladder:
        out.print(f"rung {r['fidelity']:g} epochs: Kendall tau {r['tau']:+.3f} [{r['tau_interval'][0]:+.2f}, "
                  f"{r['tau_interval'][1]:+.2f}] over {r['archs']} students", highlight=False)
    out.print(f"verdict: {c.verdict}", soft_wrap=True)
    for note in c.notes:
        out.print(f"note: {note}", soft_wrap=True)
    out.print(f"{c.trained_now} retraining(s) now; results in {Path(c.run) / 'calibrate' / c.recipe}", soft_wrap=True)
    out.print(f"report (with the calibration): {build_report([run])}", soft_wrap=True)
