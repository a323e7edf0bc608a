"""The typer app and the entry point: every user error is a `DistillnasError`, printed as one
line on stderr with exit status 2; Ctrl-C exits 130."""
from __future__ import annotations

import logging
import os
import sqlite3
import sys

import typer

try:  # typer >= 0.25 carries its own copy of click
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover - older typer runs on click itself
    from click import exceptions as _cx

from ..errors import DistillnasError, SearchInterrupted
from . import helpfmt  # noqa: F401 - help pages without {ARG} and <bool> markers
from ..store import is_disk_full, no_space

app = typer.Typer(help="Find and train the student that distills best from your teacher. Settings are written "
                  "--section.key=value on every command (e.g. --search.trials=20, --optim.lr=0.05).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
teacher_app = typer.Typer(help="Train teacher ensembles and inspect teachers.", no_args_is_help=True)
app.add_typer(teacher_app, name="teacher")


class _StderrHandler(logging.Handler):
    """Library warnings as 'distillnas: warning: ...' lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        """One plain line on stderr per warning or info, named for distillnas."""
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
        code = app(args=argv, prog_name="distillnas", standalone_mode=False)
    except _cx.NoArgsIsHelpError as e:  # a bare command group: its help
        e.show()
        sys.exit(e.exit_code)
    except _cx.ClickException as e:  # a bad option value or a missing argument: one line, as our own errors
        where = f" (distillnas {e.ctx.command_path.partition(' ')[2]} --help lists the options)".replace("  ", " ") \
            if isinstance(e, _cx.UsageError) and e.ctx is not None else ""
        _say(f"distillnas: error: {clip(e.format_message())}{where}")
        sys.exit(2 if isinstance(e, _cx.UsageError) else e.exit_code)
    except typer.Abort:
        _say("distillnas: interrupted")
        sys.exit(130)
    except DistillnasError as e:
        _say(f"distillnas: error: {clip(str(e))}")
        sys.exit(2)
    except SearchInterrupted as e:
        _say(f"distillnas: {e}")
        sys.exit(130)
    except KeyboardInterrupt:
        _say("distillnas: interrupted")
        sys.exit(130)
    except sqlite3.Error as e:  # the run store failed mid-run (checks at opening found it healthy)
        _say(f"distillnas: error: {no_space() if is_disk_full(e) else f'run store: {e}'}")
        sys.exit(2)
    except OSError as e:  # a file problem the checks above did not foresee: still one line
        name = f": {e.filename!r}" if getattr(e, "filename", None) else ""
        _say(f"distillnas: error: {e.strerror or type(e).__name__}{name}")
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def _say(line: str) -> None:
    """An error line on stderr, from one process only: under torchrun every rank checks the same
    input and fails the same way, so rank 0 speaks and the others exit quietly with its code."""
    if os.environ.get("RANK", "0") == "0":
        print(line, file=sys.stderr)


def clip(message: str, limit: int = 600) -> str:
    """One line of at most `limit` characters: an echoed value (a YAML alias bomb, a huge
    argument) must not flood the terminal."""
    line = " ".join(message.split())
    return line if len(line) <= limit else line[:limit] + f"... ({len(line) - limit:,} more characters)"
