"""The typer app and the entry point: every user error is a `DistillnasError`, printed as one
line on stderr with exit status 2; Ctrl-C exits 130."""
from __future__ import annotations

import logging
import sys

import typer

from ..errors import DistillnasError, SearchInterrupted

app = typer.Typer(help="Find and train the student that distills best from your teacher. Settings are written "
                  "--section.key=value on every command (e.g. --search.trials=20, --optim.lr=0.05).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
teacher_app = typer.Typer(help="Train teacher ensembles and inspect teachers.", no_args_is_help=True)
app.add_typer(teacher_app, name="teacher")


class _StderrHandler(logging.Handler):
    """Library warnings as 'distillnas: warning: ...' lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"distillnas: {record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)


def _setup_logging() -> None:
    log = logging.getLogger("distillnas")
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        log.addHandler(_StderrHandler())
        log.setLevel(logging.INFO)
        log.propagate = False


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors are one line on stderr and exit 2; Ctrl-C exits 130."""
    _setup_logging()
    try:
        app(args=argv, prog_name="distillnas")
    except DistillnasError as e:
        print(f"distillnas: error: {e}", file=sys.stderr)
        sys.exit(2)
    except SearchInterrupted as e:
        print(f"distillnas: {e}", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("distillnas: interrupted", file=sys.stderr)
        sys.exit(130)
    except OSError as e:  # a file problem the checks above did not foresee: still one line
        name = f": {e.filename!r}" if getattr(e, "filename", None) else ""
        print(f"distillnas: error: {e.strerror or type(e).__name__}{name}", file=sys.stderr)
        sys.exit(2)
