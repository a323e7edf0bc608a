"""`distillnas search` and `distillnas report`."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..catalog import packaged_configs
from .app import app
from .display import out, print_best
from .options import OVERRIDES


@app.command(context_settings=OVERRIDES)
def search(
    ctx: typer.Context,
    config: Optional[str] = typer.Option(None, "--config", "-c", help="A YAML file or a packaged config name "
                                         f"({', '.join(sorted(packaged_configs()))}). Default: akd_fmnist12k."),
    run_dir: Optional[str] = typer.Option(None, "--run-dir", help="Run directory (default runs/<config name>). "
                                          "Re-running on the same directory resumes it."),
    executor: Optional[str] = typer.Option(None, help="local (default) | ray"),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster instead of starting a local one."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Search for the students that distill best from the teacher, under a latency/MACs/params target.

    Any config value can be overridden as --section.key=value, e.g. --search.trials=20
    --reward.target=2.5 --strategy.name=evolution. With no arguments this runs the embedded
    default end to end (teacher ensemble included) and prints the best students.
    """
    from ..analysis import build_report
    from ..runconfig import load_search_config
    from ..search import run_search
    from ..spaces import space_from_config

    overrides = list(ctx.args)
    for flag, value in (("run_dir", run_dir), ("execution.executor", executor), ("execution.ray_address", ray_address)):
        if value is not None:
            overrides.append(f"--{flag}={value}")
    cfg = load_search_config(config, overrides)
    size = space_from_config(cfg.space).cardinality
    grid = cfg.strategy.shard()
    part = ""
    if grid is not None:
        lo, hi = grid.bounds(size)
        part = f" (grid shard {grid.shard} of 0..{grid.shards - 1}: {hi - lo:,} archs)"
    out.print(f"search space: {size:,} archs{part}; budget {cfg.search.trials:,} trials", soft_wrap=True)
    outcome = run_search(cfg, out, progress=progress)
    print_best(outcome, cfg, out)
    repeats = f", {outcome.reused} repeats of stored archs (free)" if outcome.reused else ""
    out.print(f"{outcome.trials} trials ({outcome.evaluated} evaluated now{repeats}) in {outcome.wall_s:.0f} s")
    if outcome.converged:
        out.print(f"the search ended before {cfg.search.trials} trials: the policy converged and proposes archs "
                  f"already evaluated ({outcome.reused} repeats; search.patience={cfg.search.patience}, "
                  f"search.max_repeats={cfg.search.max_repeats:g})", soft_wrap=True)
    if not outcome.best:
        raise typer.Exit(1)
    if outcome.readonly:
        out.print(f"run directory {outcome.run_dir} is read-only: results printed, report not rewritten")
        return
    out.print(f"report: {build_report([outcome.run_dir])}", soft_wrap=True)


@app.command()
def report(
    runs: List[Path] = typer.Argument(..., metavar="RUNS", help="Run directories; with two or more, the first two are also compared "
                                      "side by side (e.g. a KD-guided and a CE-guided search)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Output directory (default RUN/report)."),
) -> None:
    """Write one self-contained HTML report (plus PNGs and CSVs) for one or more runs."""
    from ..analysis import build_report
    from ..io import ensure_dir

    if out_dir is not None:
        ensure_dir(out_dir, "report directory (--out)")
    out.print(f"report: {build_report(runs, out_dir)}", soft_wrap=True)
