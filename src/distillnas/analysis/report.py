"""One self-contained HTML page (figures embedded) with PNGs and CSVs beside it."""
from __future__ import annotations

import base64
import csv
import html
import json
import math
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import yaml

from ..selection import select_best
from . import plots
from .metrics import gains_by_stage, mean_std, option_difference, stages
from .runs import RunData, check_same_space, load_run


def _cell(column: str, value: Any, floatfmt: str) -> str:
    """One table cell: percentages with two decimals, counts with thousands separators, and
    arch strings breakable only between blocks (at '|'), never inside a block's token."""
    if value is None:
        return "-"  # not measured (e.g. a recipe this arch was not retrained with)
    if isinstance(value, bool):
        return html.escape(str(value))
    if isinstance(value, (int, float)) and ("%" in column or column.startswith("top-1")):
        return f"{float(value):.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return floatfmt.format(value)
    text = html.escape(str(value))
    return "|<wbr>".join(f'<span class="tok">{part}</span>' for part in text.split("|")) if "|" in text else text


def _table(rows: Sequence[dict[str, Any]], floatfmt: str = "{:.4g}") -> str:
    if not rows:
        return "<p><em>none</em></p>"
    cols = list(dict.fromkeys(c for r in rows for c in r))  # every row's columns, in first-seen order
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c, r.get(c), floatfmt)}</td>" for c in cols) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _csv(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    with open(path, "w", newline="") as f:
        if rows:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return path


def _img(path: Path | None, caption: str) -> str:
    if path is None:
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}"><figcaption>' \
           f"{html.escape(caption)}</figcaption></figure>"



def recipe_label(loss: str, epochs: float | None) -> str:
    """How a retraining recipe is named in tables: its loss and length (what `train --from-run`
    can change; the rest is the run's final config)."""
    return loss if epochs is None else f"{loss}, {epochs:g} ep"


def finals_by_recipe(run: RunData) -> dict[str, dict[str, list[float]]]:
    """{arch: {recipe: [test accuracies]}} of successful retrainings: results of another length
    are never averaged together."""
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for f in run.finals:
        if f["status"] == "ok" and f["accuracy"] is not None:
            out[f["arch"]][recipe_label(f["loss"], f.get("epochs"))].append(f["accuracy"])
    return out


def finals_by_arch(run: RunData) -> dict[str, dict[str, list[float]]]:
    """{arch: {loss: [test accuracies]}} of successful retrainings of one length: the run's final
    config's (else the most frequent), so KD and CE are compared at the same epochs."""
    ok = [f for f in run.finals if f["status"] == "ok" and f["accuracy"] is not None]
    lengths = [f.get("epochs") for f in ok]
    chosen = run.config.final.optim.epochs if run.config.final.optim.epochs in lengths else \
        max(set(lengths), key=lengths.count, default=None)
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for f in ok:
        if f.get("epochs") == chosen:
            out[f["arch"]][f["loss"]].append(f["accuracy"])
    return out


def in_progress(run: RunData) -> bool:
    """No best.yaml yet, or fewer paid trials than the budget: the search is still running (or was stopped)."""
    paid = sum("reused_from" not in t["extra"] and t["status"] != "screened" for t in run.trials)
    return not run.best.get("archs") or paid < run.config.search.trials


def run_section(run: RunData, out: Path) -> str:
    """One run's part of the report: its table of best students, figures and facts."""
    stem = run.name
    rewards = run.rewards()
    paid = sum("reused_from" not in t["extra"] and t["status"] != "screened" for t in run.trials)
    screened = sum(t["status"] == "screened" for t in run.trials)
    summary = [{"state": "in progress" if in_progress(run) else "finished",
                "trials": f"{paid} of {run.config.search.trials}", "ok": len(run.ok),
                "failed": len(run.trials) - len(run.ok) - screened, "screened out": screened,
                "best reward": float(rewards.max()),
                "guided by": run.guided_by, "target": run.config.reward.describe()}]
    archs = run.best.get("archs") or select_best(run.trials, run.config.reward, run.config.search.top_k)
    best = [{"#": i + 1, "reward": a.get("reward", 0.0), "top-1 (%)": 100 * a["accuracy"], "params": a["params"],
             "MMACs": (a.get("macs") or 0) / 1e6, "latency ms": a.get("latency_ms") or 0.0, "arch": a["arch"]}
            for i, a in enumerate(archs)]
    trial_rows = [{k: t[k] for k in ("id", "batch", "slot", "status", "accuracy", "params", "macs", "latency_ms",
                                     "wall_s", "arch")} for t in run.trials]
    _csv(trial_rows, out / f"{stem}_trials.csv")
    _csv(best, out / f"{stem}_best.csv")
    finals = [{"arch": arch, **{loss: mean_std(v, count=True) for loss, v in losses.items()}}
              for arch, losses in finals_by_recipe(run).items()]
    figs = [
        (plots.cost_histogram(run, out / f"{stem}_cost_hist.png"), "Sampled cost around the target (AKD Fig. 4A)"),
        (plots.accuracy_vs_cost(run, out / f"{stem}_acc_vs_cost.png"), "Accuracy vs cost, Pareto front (Fig. 4B)"),
        (plots.progress_over_trials(run, out / f"{stem}_progress.png"), "Cost and accuracy along the search (4C-D)"),
        (plots.macs_vs_latency(run, out / f"{stem}_macs_latency.png"), "MACs vs measured latency (Fig. 4E)"),
        (plots.search_dynamics(run, out / f"{stem}_dynamics.png"),
         "Mean accuracy of the proposals and the controller's entropy per batch"),
    ]
    return (f"<h2>Run {html.escape(stem)}</h2>{_table(summary)}<h3>Best students</h3>{_table(best)}"
            f"<h3>Retrained students (test top-1 %)</h3>{_table(finals)}"
            + "".join(_img(p, c) for p, c in figs) + entropy_note(run) + calibration_section(run, out)
            + f"<details><summary>config</summary><pre>{html.escape(yaml.safe_dump(run.config.model_dump(), sort_keys=False))}</pre></details>")


EARLY_DETERMINISTIC = 0.1  # nats per decision: a policy this sure has all but stopped exploring


def entropy_note(run: RunData) -> str:
    """What the entropy curve means, and a warning when the policy turned near-deterministic in
    the first fifth of a search over a large space (it then stopped exploring early)."""
    entropy = {b: s["entropy"] for b, s in run.batch_stats.items() if "entropy" in s}
    if not entropy:
        return ""
    sizes = run.space.sizes
    uniform = sum(math.log(k) for k in sizes) / len(sizes)
    text = (f"<p>Entropy per decision: {uniform:.2f} nats for uniform sampling over this space, 0 for a "
            "policy that always picks the same option. A learning controller's falls as it commits to "
            "options; one that stays near uniform has not learnt.</p>")
    batches = sorted(entropy)
    early = [b for b in batches[: max(1, len(batches) // 5)] if entropy[b] < EARLY_DETERMINISTIC]
    if early and run.space.cardinality > 10_000:
        text += (f"<p><b>Warning:</b> the policy was near-deterministic ({entropy[early[0]]:.3f} nats per decision) "
                 f"by batch {early[0]} of {len(batches)}, in a space of {run.space.cardinality:,} archs: it stopped "
                 "exploring early. In a space this large a collapsed PPO searched no better than random "
                 "(bench/strategies_synthetic.py): try <code>--strategy.name=tpe</code> or <code>evolution</code>, "
                 "or <code>--strategy.ppo.backtrack=true</code> to bound each PPO update by its KL target.</p>")
    return text


def calibration_section(run: RunData, out: Path) -> str:
    """`distillnas calibrate`'s answers for this run (one per retraining recipe), if any."""
    parts = []
    for path in sorted((run.path / "calibrate").glob("*/calibration.json")):
        cal = json.loads(path.read_text())
        recipe = path.parent.name
        means = cal["final_accuracy"]
        order = sorted(range(len(means)), key=lambda i: -means[i])
        rows = [{"proxy rank": i + 1, "proxy top-1 (%)": 100 * cal["proxy_accuracy"][i],
                 "retrained top-1 (%)": 100 * means[i], "retrained rank": order.index(i) + 1, "arch": arch}
                for i, arch in enumerate(cal["archs"])]
        floor = f"{cal['noise_tau']:+.2f}" if cal.get("noise_tau") is not None else "not measured (one seed)"
        parts.append(f"<h3>Can the proxy be trusted? ({html.escape(recipe)}, seeds {cal['seeds']}, scored on {cal.get('split', 'minival')})</h3>"
                     f"<p>Kendall tau {cal['tau']:+.3f} (95% interval {cal['tau_interval'][0]:+.2f} to "
                     f"{cal['tau_interval'][1]:+.2f}), Spearman {cal['spearman']:+.3f}; retraining seed noise floor "
                     f"{floor}; the proxy's best is #{cal['top1_rank']} after retraining. "
                     f"<b>{html.escape(cal['verdict'])}</b></p>"
                     + "".join(f"<p><i>{html.escape(n)}</i></p>" for n in cal.get("notes", [])) + _table(rows)
                     + (_table([{"rung (epochs)": r["fidelity"], "students": r["archs"], "Kendall tau": r["tau"],
                                 "95% interval": f"{r['tau_interval'][0]:+.2f} to {r['tau_interval'][1]:+.2f}"}
                                for r in cal.get("ladder", [])]) if cal.get("ladder") else "")
                     + _img(plots.calibration_scatter(cal, out / f"{run.name}_calibrate_{recipe}.png"),
                            "Proxy accuracy vs retrained accuracy (distillnas calibrate)"))
    return "".join(parts)


def comparison_section(a: RunData, b: RunData, out: Path, top: int = 100) -> str:
    """Two runs side by side (e.g. CE-guided against KD-guided): where their choices differ."""
    check_same_space([a, b])
    rank = lambda r: [r.ok[i] for i in r.rewards().argsort()[::-1][:top]]  # noqa: E731
    rows = option_difference(a.one_hot(rank(a)), b.one_hot(rank(b)), a.space.one_hot_names())
    _csv(rows, out / "option_difference.csv")
    pca_png = plots.pca_by_stage(a, b, out / "pca_by_stage.png")
    diff_png = plots.option_difference_bars(rows, a.name, b.name, out / "option_difference.png")
    gains = gains_by_stage(_gain_inputs(a), _gain_inputs(b))
    _csv(gains, out / "relative_gain.csv")
    return (f"<h2>{html.escape(a.name)} ({a.guided_by}-guided) vs {html.escape(b.name)} ({b.guided_by}-guided)</h2>"
            + _img(pca_png, "PCA of one-hot arch encodings per search stage (AKD Figs. 5-7)")
            + _img(diff_png, f"Option probability difference of the top-{top} archs, ± standard error (AKD Fig. 8)")
            + "<h3>Relative performance gain [KD(A) − CE(A)] − [KD(B) − CE(B)] (AKD eq. 1, Table 4)</h3>"
            + (_table(gains) if gains else "<p>Needs archs of both runs retrained with both ce and kd "
               "(distillnas train --from-run RUN --loss ce / --loss kd).</p>"))


def _gain_inputs(run: RunData, count: int = 4) -> dict[str, tuple[float, float, int]]:
    """{arch: (KD acc, CE acc, stage of its first sampling)} for archs retrained with both."""
    first = {}
    for i, t in enumerate(run.trials):
        first.setdefault(t["arch"], i)
    edges = stages(len(run.trials), count)
    stage_of = {a: next(s for s, r in enumerate(edges) if i in r) + 1 for a, i in first.items()}
    out = {}
    for arch, losses in finals_by_arch(run).items():
        if losses.get("kd") and losses.get("ce") and arch in stage_of:
            out[arch] = (statistics.mean(losses["kd"]), statistics.mean(losses["ce"]), stage_of[arch])
    return out


def ablation_grid(runs: list[RunData]) -> list[dict[str, Any]]:
    """search-by {ce, kd} x train-by {ce, kd}: retrained test top-1 (AKD Table 5)."""
    cells: dict[tuple[str, str], list[float]] = defaultdict(list)
    for run in runs:
        for losses in finals_by_arch(run).values():
            for loss, accs in losses.items():
                cells[(run.guided_by, loss)].extend(accs)
    searched = sorted({s for s, _ in cells})
    trained = sorted({t for _, t in cells})
    return [{"searched by": s, **{f"trained by {t}": mean_std(cells.get((s, t), []), count=True) for t in trained}}
            for s in searched]


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1em}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;
text-align:left;max-width:520px;overflow-wrap:anywhere}th{background:#f3f3f3}.tok{white-space:nowrap}figure{display:inline-block;margin:0.5em}
img{max-width:520px}figcaption{font-size:12px;color:#555}pre{background:#f7f7f7;padding:8px;font-size:12px}"""


def build_report(run_dirs: Sequence[str | Path], out: str | Path | None = None) -> Path:
    """Write index.html (self-contained) plus PNGs and CSVs; returns the HTML path."""
    runs = [load_run(p) for p in run_dirs]
    out = Path(out) if out is not None else runs[0].path / "report"
    out.mkdir(parents=True, exist_ok=True)
    parts = [run_section(r, out) for r in runs]
    if len(runs) >= 2:
        parts.append(comparison_section(runs[0], runs[1], out))
        grid = ablation_grid(runs)
        _csv(grid, out / "ablation.csv")
        parts.append("<h2>Ablation: search-by × train-by (AKD Table 5)</h2>" + _table(grid))
    live = any(in_progress(r) for r in runs)  # the browser reloads a report of a running search
    refresh = "<meta http-equiv='refresh' content='30'>" if live else ""
    written = time.strftime("%Y-%m-%d %H:%M:%S")
    page = (f"<!doctype html><html><head><meta charset='utf-8'>{refresh}<title>distillnas report</title>"
            f"<style>{STYLE}</style></head><body><h1>distillnas report</h1>"
            f"<p>Runs: {', '.join(html.escape(str(r.path)) for r in runs)}. Written {written} from "
            f"{sum(len(r.trials) for r in runs)} stored trials{' (search in progress; this page reloads)' if live else ''}.</p>"
            + "".join(parts) + "</body></html>")
    path = out / "index.html"
    path.write_text(page)
    return path
