"""Help pages as command-line users read them: `Usage: distillnas evaluate [OPTIONS] CHECKPOINT`
(an optional argument in brackets), and no `<bool>` beside a flag, which takes no value.

Typer >= 0.2x writes required arguments as `{CHECKPOINT}` and every flag's type as `<bool>`;
new users read the first as a literal brace and the second as a value to give (reported in
the issue tracker's new-user walk-through). In its rich mode it also keeps the docstring's
line breaks in a group's command list, so a command's summary broke mid-sentence there. The
display functions are wrapped here, once, when the CLI is imported; where this typer lacks
them nothing changes."""
from __future__ import annotations

from typing import Any

from typer import core as _core

try:
    from typer import rich_utils as _rich
except ImportError:  # pragma: no cover - typer without rich: plain click help, already joined
    _rich = None


def _plain_usage_name(self: Any) -> str:
    """NAME for a required argument, [NAME] for an optional one, '...' when it repeats."""
    name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
    return name + ("..." if self.nargs != 1 else "")


def _one_line_summary(original: Any) -> Any:
    """The command list's summary as one flowing paragraph: single line breaks become spaces."""
    def make_command_help(*, help_text: str, markup_mode: Any) -> Any:
        first, sep, rest = help_text.partition("\n\n")
        if not first.lstrip().startswith("\b"):
            first = " ".join(line.strip() for line in first.splitlines())
        return original(help_text=first + sep + rest, markup_mode=markup_mode)
    make_command_help._distillnas = True  # type: ignore[attr-defined]
    return make_command_help


def _install() -> None:
    option = getattr(_core, "TyperOption", None)
    original = getattr(option, "display_type_rich", None)
    if original is not None and not getattr(original, "_distillnas", False):
        def display_type_rich(self: Any, ctx: Any) -> str | None:
            """The value's type, or nothing for a flag."""
            if getattr(self, "is_flag", False) and self.metavar is None:
                return None
            return original(self, ctx)
        display_type_rich._distillnas = True  # type: ignore[attr-defined]
        option.display_type_rich = display_type_rich
    argument = getattr(_core, "TyperArgument", None)
    if argument is not None and hasattr(argument, "_usage_display_name"):
        argument._usage_display_name = _plain_usage_name
    summary = getattr(_rich, "_make_command_help", None)
    if summary is not None and not getattr(summary, "_distillnas", False):
        _rich._make_command_help = _one_line_summary(summary)


_install()
