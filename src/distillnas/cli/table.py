"""`distillnas table export | merge | compare`: benchmark tables from grid runs, and how they rank archs."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from ..io import check_dir, ensure_dir
from .app import app
from .display import out

table_app = typer.Typer(help="Export benchmark tables from grid runs and compare them (AKD's premise as numbers).",
                        no_args_is_help=True)
app.add_typer(table_app, name="table")


@table_app.command("export")
def table_export(
    run: Path = typer.Argument(..., metavar="RUN", help="A search run (typically strategy.name=grid over a restricted space)."),
    out_file: Path = typer.Option(..., "--out", "-o", help="The table file to write."),
    fidelity: Optional[float] = typer.Option(
        None, "--fidelity", min=0, max=1000, show_default=False,
        help="A multi-fidelity run: export this rung (epochs) instead of the top one - a low-fidelity table "
             "for evaluator.fidelity.tables (a run with fidelity.eta 1 holds every arch at every rung)."),
) -> None:
    """Write the run's trials as a table the `table` evaluator reads (one line per arch: key, mean
    accuracy, each seed's accuracy, params, MACs, latency; a header naming data, teacher, loss, proxy)."""
    from ..analysis.tables import export_table
    from ..benchmarks import write_benchmark

    check_dir(out_file.parent, "output directory")
    table, left_out = export_table(run, fidelity)
    write_benchmark(ensure_dir(out_file.parent, "output directory") / out_file.name, table)
    note = f" ({left_out} trials left out: failed, or without every seed's accuracy)" if left_out else ""
    out.print(f"{len(table.rows):,} archs{note} -> {out_file}; search it with --evaluator.name=table "
              f"--evaluator.table={out_file}", soft_wrap=True)


@table_app.command("merge")
def table_merge(
    tables: List[str] = typer.Argument(..., metavar="TABLES", help="Two or more parts of one table (e.g. the exports of grid shards)."),
    out_file: Path = typer.Option(..., "--out", "-o", help="The merged table file to write."),
    seeds: bool = typer.Option(False, "--seeds", help="Join seeds instead of archs: every part holds the same archs, "
                               "trained with other evaluator.proxy.seeds; the seed columns go side by side and the "
                               "accuracy becomes their mean (a rung exported from a fidelity.schedule=rung ladder joins the "
                               "top of a shorter ladder of that rung)."),
) -> None:
    """Join the parts of a table made by the same protocol in several runs (strategy.grid.shards
    over sittings or machines). Parts that differ in space, data, loss, proxy settings or teacher
    weights, or that share an arch, are refused. With --seeds, join runs of other seeds over the
    same archs (a second seed for the noise floor)."""
    from ..analysis.tables import merge_seeds, merge_tables
    from ..benchmarks import write_benchmark

    check_dir(out_file.parent, "output directory")
    table = merge_seeds(tables) if seeds else merge_tables(tables)
    write_benchmark(ensure_dir(out_file.parent, "output directory") / out_file.name, table)
    what = f" x {len(table.seed_columns)} seeds" if seeds else ""
    out.print(f"{len(table.rows):,} archs{what} from {len(tables)} tables -> {out_file}", soft_wrap=True)


@table_app.command("compare")
def table_compare(
    tables: List[str] = typer.Argument(..., metavar="TABLES", help="Two or more table files (or packaged table names) over the same archs."),
    names: Optional[str] = typer.Option(None, help="Column names, comma-separated (default: the file names)."),
    top: int = typer.Option(10, min=1, max=100_000, help="k of the top-k overlap."),
    out_dir: Path = typer.Option(Path("runs/table_compare"), "--out", "-o", help="Where the HTML report goes."),
    resamples: int = typer.Option(1000, min=0, max=100_000, help="Bootstrap resamples of the teacher effect's interval (tables with 2 "
                                            "seeds per arch); 0 skips the interval."),
) -> None:
    """Kendall tau / Spearman between columns beside each column's seed noise floor, top-k overlap,
    the best student of each column and its rank in the others, rank reversals beyond seed noise,
    the teacher effect: how much less two teachers' rankings agree than two seeds of one, and the
    arch x teacher interaction on accuracies (a paired ANOVA), with a one-line verdict per pair."""
    from ..analysis.compare import compare_tables, comparison_report, comparison_rows, verdict

    check_dir(out_dir, "output directory (--out)")
    cmp = compare_tables(tables, [n.strip() for n in names.split(",")] if names else None, top, resamples)
    t = Table(title=f"{len(cmp.keys):,} archs in every table ({cmp.pairs:,} pairs)")
    rows = comparison_rows(cmp)  # one column per pair of tables: many statistics, few pairs
    t.add_column("")
    for r in rows:
        t.add_column(f"{r['A']} vs {r['B']}", justify="right")
    for stat in [c for c in rows[0] if c not in ("A", "B")]:
        t.add_row(stat, *[f"{r[stat]:.3f}" if isinstance(r[stat], float) else str(r[stat]) for r in rows])
    out.print(t)
    for a, b in cmp.tau:
        if (line := verdict(cmp, a, b)) is not None:
            out.print(line, soft_wrap=True)
    for n, b in cmp.best.items():
        where = ", ".join(f"#{r} in {o}" for o, r in b["rank_in"].items())
        out.print(f"best of {n}: {b['arch']} ({b['accuracy']:.2f}%): {where}", soft_wrap=True)
    out.print(f"report: {comparison_report(cmp, ensure_dir(out_dir, 'output directory (--out)'))}")
