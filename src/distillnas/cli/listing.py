"""`distillnas list [KIND]`: what can be chosen by name, one line each (timm's list_models)."""
from __future__ import annotations

from typing import Optional

import typer

from ..catalog import KINDS, list_names
from .app import app
from .display import out


@app.command("list")
def list_command(
    kind: Optional[str] = typer.Argument(None, metavar="KIND", help=f"One of: {', '.join(KINDS)}. Without it: every kind."),
) -> None:
    """Everything chosen by name (--strategy.name=, --loss, --config, ...), with one line each."""
    kinds = [kind] if kind else list(KINDS)
    rows = {k: list_names(k) for k in kinds}  # an unknown kind fails here, before anything is printed
    for k, items in rows.items():
        if len(kinds) > 1:
            out.print(f"[bold]{k}[/bold]")
        width = max((len(n) for n, _ in items), default=0)
        for name, doc in items:
            out.print(f"  {name.ljust(width)}  {doc}", highlight=False, soft_wrap=True)
