"""A tabular benchmark as the evaluator: look the accuracy up by the arch's table key (its
canonical string; DisWOT's code for resnet_depth). Costs come from the table's columns when it
has them, else from the model built for the table's input shape. A search over a table takes
seconds, so strategies can be compared over many seeds."""
from __future__ import annotations

from typing import Any

from ..benchmarks import read_benchmark
from ..errors import DistillnasError
from ..spaces import SearchSpace
from .base import (EVALUATORS, EvalContext, Evaluator, TrialResult, hyperband_size, hyperband_skipped,
                   measure_costs, worker_state)


def read_table(path: str) -> dict[str, float]:
    """key -> accuracy in [0, 1] of a table file or packaged table (e.g. diswot_s1_kd)."""
    return read_benchmark(path).accuracy


@EVALUATORS.register("table", 'accuracies looked up in a benchmark table (free trials for studying strategies)')
class TableEvaluator(Evaluator):
    """Accuracies looked up in a benchmark table (free trials for studying strategies)."""
    needs_data = False

    @classmethod
    def check(cls, cfg: Any, space: SearchSpace) -> None:
        ev = cfg.evaluator
        if not ev.table:
            raise DistillnasError("the table evaluator needs evaluator.table: a table file or a packaged table name")
        main = set(read_benchmark(ev.table).accuracy)
        for low in (ev.fidelity.tables if ev.fidelity else []):
            missing = main - set(read_benchmark(low).accuracy)
            if missing:
                raise DistillnasError(f"evaluator.fidelity.tables: {low!r} lacks {len(missing)} arch(s) of "
                                      f"{ev.table!r} (e.g. {sorted(missing)[0]!r}); a lower fidelity must cover them all")

    @property
    def eta(self) -> int:  # type: ignore[override]
        """Successive halving's reduction factor over the fidelity tables."""
        f = self.cfg.evaluator.fidelity
        return f.eta if f else 3

    @property
    def promote(self) -> str:  # type: ignore[override]
        """How a two-objective rung ranks its promotions (`selection.promotion_order`)."""
        f = self.cfg.evaluator.fidelity
        return f.promote if f else "front"

    def rungs(self, batch: int) -> list[float | None]:
        f = self.cfg.evaluator.fidelity
        return [None] if f is None else [float(e) for e in f.epochs[hyperband_skipped(batch, len(f.epochs), f.mode):]]

    def ask_size(self, batch: int, n: int) -> int:
        """Hyperband's bracket sizes (`hyperband_size`); n under successive halving."""
        f = self.cfg.evaluator.fidelity
        if f is None:
            return n
        return hyperband_size(n, hyperband_skipped(batch, len(f.epochs), f.mode), len(f.epochs), f.eta)

    @staticmethod
    def run(ctx: EvalContext, tokens: tuple[int, ...], seed: int) -> TrialResult:
        """Look one arch up in the table of the context's fidelity; costs from the main table."""
        st = worker_state(ctx)
        space, own = st.space, st.extra
        name = ctx.evaluator.table_at(ctx.fidelity or None)
        if ("table", name) not in own:
            own[("table", name)] = read_benchmark(name)
            own.setdefault("costs", {})
        table, key, arch = own[("table", name)], space.table_key(tokens), space.to_string(tokens)
        if key not in table.accuracy:
            raise DistillnasError(f"arch {key!r} is not in the table {name!r}")
        if arch not in own["costs"]:
            main = own.setdefault(("table", ctx.evaluator.table), read_benchmark(ctx.evaluator.table))
            own["costs"][arch] = table_costs(main, key) or measure_costs(
                space, tokens, arch, main.input_shape, main.num_classes, st.latency)[1]  # spread: not kept
        extra: dict[str, Any] = {}
        if ctx.fidelity:  # what a trained rung would have cost: the epochs beyond the rung it continues
            extra = {"fidelity": ctx.fidelity, "continued": ctx.resume_fidelity > 0,
                     "epochs_trained": ctx.fidelity - ctx.resume_fidelity}
        return TrialResult(arch, list(tokens), "ok", table.accuracy[key], extra=extra, **own["costs"][arch])


def table_costs(table: Any, key: str) -> dict[str, Any] | None:
    """params, MACs and latency from the table's own columns, when it has all three."""
    if not {"params", "macs", "latency_ms"} <= set(table.columns):
        return None
    row = dict(zip(table.columns, table.rows[key]))
    return {"params": int(row["params"]), "macs": int(row["macs"]), "latency_ms": float(row["latency_ms"])}
