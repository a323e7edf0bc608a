"""`distillnas zerocost SOURCE...`: training-free scores of every arch of tables or finished runs,
rank-correlated with the accuracies they record."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from ..errors import DistillnasError
from ..io import atomic_write_text, check_dir, ensure_dir
from .app import app
from .display import out
from .options import ProgressOpt


def _space(text: Optional[str]) -> Optional[dict]:
    """--space: a space name (its defaults) or a JSON object of its config."""
    if text is None:
        return None
    if text.lstrip().startswith("{"):
        try:
            cfg = json.loads(text)
        except ValueError as e:
            raise DistillnasError(f"--space is not valid JSON: {e}") from None
        if not isinstance(cfg, dict) or "name" not in cfg:
            raise DistillnasError("--space JSON must be an object with a 'name'")
        return cfg
    return {"name": text}


@app.command("zerocost")
def zerocost(
    sources: List[str] = typer.Argument(..., metavar="SOURCES", help="Tables (files or packaged names, e.g. diswot_s1_kd) or finished "
                                        "run directories over the same archs: one accuracy column each."),
    scores: str = typer.Option("all", help="Comma-separated scores, or all (`distillnas list scores` names them)."),
    teacher: Optional[List[str]] = typer.Option(None, help="Teacher for the DisWOT scores: checkpoints or a directory "
                                                "(default: the teacher trained into the first run given)."),
    data: Optional[str] = typer.Option(None, help="Dataset to build the archs for and draw the probe batch from "
                                       "(default: the one the sources name)."),
    space: Optional[str] = typer.Option(None, help="The space, for tables that do not name theirs: a name "
                                        "(resnet_depth) or a JSON config."),
    batch_size: int = typer.Option(64, min=2, help="Images in the probe batch."),
    seed: int = typer.Option(0, help="Seed of the probe batch and of every arch's initial weights."),
    out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write every arch's scores and the "
                                            "correlations as JSON here."),
    progress: bool = ProgressOpt,
) -> None:
    """Score every arch at initialisation (DisWOT, grad_norm, SNIP, SynFlow, NASWOT, params, MACs) and print
    Kendall tau of each score against each source's accuracy, beside the source's seed noise floor."""
    from ..analysis.zerocost import study, study_json, study_rows
    from ..progress import progress_bar
    from ..zerocost import SCORES

    names = SCORES.names() if scores.strip() == "all" else [s.strip() for s in scores.split(",") if s.strip()]
    for n in names:
        SCORES.get(n)
    if out_file is not None:
        check_dir(out_file.parent, "output directory")
    with progress_bar(progress, "scoring", 0) as bar:
        def tick(i: int, total: int) -> None:
            bar.set_total(total)
            bar.advance()
        st = study(list(sources), names, teacher or None, data, _space(space), batch_size, seed, tick)
    t = Table(title=f"Kendall tau of each score with each column, {len(st.keys):,} archs "
                    f"({st.seconds_per_arch:.2f} s per arch for all scores)")
    rows = study_rows(st)
    for col in rows[0]:
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(*["-" if v is None else f"{v:+.3f}" if isinstance(v, float) else str(v) for v in r.values()])
    out.print(t)
    if out_file is not None:
        ensure_dir(out_file.parent, "output directory")
        atomic_write_text(out_file, json.dumps(study_json(st), indent=1))
        out.print(f"scores -> {out_file}")
