"""Everything the CLI prints: rich tables of results (the commands stay thin)."""
from __future__ import annotations

import csv
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # the CLI imports the library where a command runs it (`distillnas --help` stays fast)
    from ..config import SearchConfig
    from ..search import SearchOutcome

out = Console()
err = Console(stderr=True)



def best_table(outcome: SearchOutcome, cfg: SearchConfig) -> Table:
    """The search's end table: its best students by reward, with accuracy, cost and the target."""
    t = Table(title=f"best students of {outcome.run_dir} ({outcome.trials} trials, target "
                    f"{(outcome.reward or cfg.reward).describe()})")
    score = not cfg.evaluator.reports_accuracy  # a training-free score, mapped into (0, 1): not an accuracy
    for col in ("#", "reward", cfg.evaluator.metric_label(), "latency ms",
                "MMACs", "params", "target"):
        t.add_column(col, justify="right")
    for i, b in enumerate(outcome.best, 1):
        t.add_row(str(i), f"{b['reward']:.4f}", f"{b['accuracy']:.4f}" if score else f"{100 * b['accuracy']:.2f}",
                  _ms(b["latency_ms"]),
                  f"{b['macs'] / 1e6:.2f}", f"{b['params']:,}",
                  "-" if cfg.reward.mode == "none" else "met" if b["meets_target"] else "missed")
    return t


def _ms(latency: float | None) -> str:
    """A latency for a table: '-' where it was not measured (a table run, cost.latency=none)."""
    return f"{latency:.2f}" if latency else "-"


def print_best(outcome: SearchOutcome, cfg: SearchConfig, console: Console) -> None:
    """The table, then each arch string in full (they are too long for a column)."""
    from ..rundir import RunDir

    if not outcome.best:
        counts = ", ".join(f"{n} {status}" for status, n in (outcome.failures.get("counts") or {}).items())
        console.print(f"[red]no trial of {outcome.run_dir} finished successfully ({counts or 'no trials'}); every "
                      f"trial's error is in {outcome.run_dir / RunDir.STORE} (column 'error'). The first: "
                      f"{outcome.failures.get('first_error') or '-'}", soft_wrap=True)
        return
    console.print(best_table(outcome, cfg))
    chosen = RunDir(outcome.run_dir).read_best()
    if chosen.get("memory_limit_params"):  # KDAS: the limit students are selected under
        console.print(f"memory limit: {chosen['memory_limit_params']:,} params ({cfg.evaluator.supernet.memory_limit:g} x "
                      f"the backbone's {chosen['backbone_params']:,}); every student above fits it", soft_wrap=True)
    for i, b in enumerate(outcome.best, 1):
        console.print(f"#{i} {b['arch']}", soft_wrap=True)
    if cfg.evaluator.reports_accuracy and outcome.accurate and outcome.accurate[0]["arch"] != outcome.best[0]["arch"]:
        console.print("most accurate within the target (the reward above also pays for being well under it):",
                      soft_wrap=True)
        for b in outcome.accurate:
            rank = next((f"#{i}" for i, x in enumerate(outcome.best, 1) if x["arch"] == b["arch"]), "not in the top")
            console.print(f"  {100 * b['accuracy']:.2f} % at {_ms(b['latency_ms'])} ms, {b['macs'] / 1e6:.2f} MMACs, "
                          f"{b['params']:,} params (reward {b['reward']:.4f}, {rank}): {b['arch']}", soft_wrap=True)
    console.print(f"best archs in {outcome.run_dir / RunDir.BEST} (by reward); retrain the first with: "
                  f"distillnas train --from-run {outcome.run_dir} --top 1", soft_wrap=True)


def print_runs(runs: list, title: str) -> None:
    """One row per (arch, loss): test top-1 mean ± std over seeds."""
    from ..analysis.metrics import mean_std

    table = Table(title=title)
    for col in ("#", "arch", "loss", "seeds", "test top-1 (%)", "params", "s / run", "status"):
        table.add_column(col)
    groups: dict[tuple[str, str], list] = {}
    for r in runs:
        groups.setdefault((r.arch, r.loss), []).append(r)
    for i, ((arch, loss), rs) in enumerate(groups.items(), 1):
        ok = [r for r in rs if r.status == "ok"]
        short = arch if len(arch) <= 28 else arch[:25] + "..."
        table.add_row(str(i), short, loss, str(len(rs)), mean_std([r.metrics["test"] for r in ok]),
                      f"{rs[0].params:,}", f"{statistics.mean(r.wall_s for r in rs):.1f}",
                      "ok" if len(ok) == len(rs) else f"{len(rs) - len(ok)} diverged")
    out.print(table)
    for i, (arch, _) in enumerate(groups, 1):
        if len(arch) > 28:
            out.print(f"#{i} {arch}", soft_wrap=True)
    for r in runs:
        if r.status != "ok":
            out.print(f"[red]{r.arch} seed {r.seed}: {r.status}: {r.error}", soft_wrap=True)


def print_report(title: str, report) -> None:  # noqa: ANN001
    """An ensemble report as a table: each member, the average of logits and the oracle."""
    table = Table(title=title)
    table.add_column("model")
    table.add_column("top-1 (%)", justify="right")
    for i, acc in enumerate(report.members):
        table.add_row(f"member {i}", f"{100 * acc:.2f}")
    if len(report.members) > 1:
        table.add_row("average logits", f"{100 * report.average:.2f}")
        table.add_row("oracle", f"{100 * report.oracle:.2f}")
    out.print(table)
    if len(report.members) > 1:
        shares = ", ".join(f"{k} right: {100 * s:.1f}%" for k, s in enumerate(report.right_counts))
        out.print(f"examples by members right — {shares}")


def _short(c: str) -> str:
    return c if len(c) < 24 else "..." + c[-21:]


def print_rank(result: Any) -> None:
    """Accuracy and rank per teacher, then Kendall tau between the rankings (AKD Table 3)."""
    table = Table(title="mini-val top-1 (%) and rank per teacher; ce = trained without a teacher")
    table.add_column("student")
    for c in result.columns:
        table.add_column(_short(c))
    for i, arch in enumerate(result.archs):
        table.add_row(arch if len(arch) < 40 else arch[:37] + "...",
                      *[f"{100 * result.scores[c][i]:.2f} (#{result.ranks(c)[i]})" for c in result.columns])
    out.print(table)
    tau = Table(title="Kendall tau between rankings")
    tau.add_column("")
    for c in result.columns:
        tau.add_column(_short(c))
    for a in result.columns:
        tau.add_row(_short(a), *[f"{result.tau[a][b]:.3f}" for b in result.columns])
    out.print(tau)


def print_teacher_comparison(cmp: Any, dataset: str, split: str, out_dir: Path) -> None:
    """Accuracy, the KL / L2 / agreement matrices (saved as heatmaps and CSVs) and ensembles."""
    from ..analysis.plots import heatmap

    acc = Table(title=f"teachers on {dataset} ({split})")
    acc.add_column("teacher")
    acc.add_column("top-1 (%)", justify="right")
    for n, a in zip(cmp.names, cmp.accuracy):
        acc.add_row(n, f"{100 * a:.2f}")
    out.print(acc)
    for key, title in (("kl", "mean KL(row || column)"), ("l2", "mean L2 distance"), ("agreement", "top-1 agreement")):
        t = Table(title=title)
        t.add_column("")
        for n in cmp.names:
            t.add_column(n)
        for n, row in zip(cmp.names, cmp.matrices[key]):
            t.add_row(n, *[f"{v:.3f}" for v in row])
        out.print(t)
        heatmap(cmp.matrices[key], cmp.names, title, out_dir / f"{key}.png")
        with open(out_dir / f"{key}.csv", "w", newline="") as f:
            csv.writer(f).writerows([[""] + cmp.names] + [[n, *row] for n, row in zip(cmp.names, cmp.matrices[key])])
    for name, rep in cmp.ensembles.items():
        shares = ", ".join(f"{k} right: {100 * v:.1f}%" for k, v in enumerate(rep["right_counts"]))
        out.print(f"ensemble {name}: average {100 * rep['average']:.2f}%, oracle {100 * rep['oracle']:.2f}% — {shares}")
