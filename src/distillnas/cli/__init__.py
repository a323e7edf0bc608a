"""Command-line interface: a thin layer over library calls, one module per command group.
Importing the command modules registers their commands on `app`."""
from . import calibrate, dashboard, evaluate, export, listing, search, table, teacher, train, zerocost  # noqa: F401  (registers the commands)
from .app import app, main

__all__ = ["app", "main"]
