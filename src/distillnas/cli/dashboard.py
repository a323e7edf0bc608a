"""`distillnas dashboard RUN`: a run in Optuna Dashboard."""
from __future__ import annotations

from pathlib import Path

import typer

from .app import app
from .display import out


@app.command("dashboard")
def dashboard(
    run: Path = typer.Argument(..., metavar="RUN", help="A search run, finished or running."),
    port: int = typer.Option(8080, min=1, max=65535, help="The port to serve on."),
    host: str = typer.Option("127.0.0.1", help="The address to serve on (0.0.0.0: every interface)."),
    every: float = typer.Option(5.0, min=0.5, max=3600, help="Seconds between mirrorings of new trials."),
    mirror_only: bool = typer.Option(False, "--mirror-only", help="Write the Optuna storage and exit, to serve it "
                                     "yourself (optuna-dashboard sqlite:///RUN/dashboard/optuna.sqlite3)."),
) -> None:
    """Show a run in Optuna Dashboard (history, Pareto front, parallel coordinates, parameter
    importance). The run's trials are mirrored into RUN/dashboard/optuna.sqlite3 (derived from
    trials.sqlite, rebuilt when needed) and new trials are added while it serves. Needs
    pip install 'distillnas\\[dashboard]'."""
    from ..dashboard import check_port, mirror_run, serve_dashboard

    if mirror_only:
        m = mirror_run(run)
        out.print(f"mirrored {m.trials} trial(s) ({m.added} new) of study {m.study!r} into {m.storage}",
                  soft_wrap=True, highlight=False)
        return
    check_port(host, port)
    out.print(f"serving {run} at http://{host}:{port}/dashboard/ (Ctrl+C stops)", soft_wrap=True, highlight=False)
    serve_dashboard(run, host, port, every)
