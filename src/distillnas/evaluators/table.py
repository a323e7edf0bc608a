"""A tabular benchmark as the evaluator: look the accuracy up by the arch's table key (its
canonical string; DisWOT's code for resnet_depth). Costs come from the table's columns when it
has them, else from the model built for the table's input shape. A search over a table takes
seconds, so strategies can be compared over many seeds."""
from __future__ import annotations

from typing import Any

from ..benchmarks import read_benchmark
from ..errors import DistillnasError
from ..spaces import SearchSpace
from .base import EVALUATORS, EvalContext, Evaluator, TrialResult, measure_costs, worker_state


def read_table(path: str) -> dict[str, float]:
    """key -> accuracy in [0, 1] of a table file or packaged table (e.g. diswot_s1_kd)."""
    return read_benchmark(path).accuracy


@EVALUATORS.register("table", 'accuracies looked up in a benchmark table (free trials for studying strategies)')
class TableEvaluator(Evaluator):
    needs_data = False

    @classmethod
    def check(cls, cfg: Any, space: SearchSpace) -> None:
        if not cfg.evaluator.table:
            raise DistillnasError("the table evaluator needs evaluator.table: a table file or a packaged table name")
        read_benchmark(cfg.evaluator.table)

    @staticmethod
    def run(ctx: EvalContext, tokens: tuple[int, ...], seed: int) -> TrialResult:
        st = worker_state(ctx)
        space, name, own = st.space, ctx.evaluator.table, st.extra
        if "table" not in own:
            own["table"], own["costs"] = read_benchmark(name), {}
            own["accuracy"] = own["table"].accuracy
        table, key, arch = own["table"], space.table_key(tokens), space.to_string(tokens)
        if key not in own["accuracy"]:
            raise DistillnasError(f"arch {key!r} is not in the table {name!r}")
        if arch not in own["costs"]:
            own["costs"][arch] = table_costs(table, key) or measure_costs(
                space, tokens, arch, table.input_shape, table.num_classes, st.latency)[1]  # spread: not kept
        return TrialResult(arch, list(tokens), "ok", own["accuracy"][key], **own["costs"][arch])


def table_costs(table: Any, key: str) -> dict[str, Any] | None:
    """params, MACs and latency from the table's own columns, when it has all three."""
    if not {"params", "macs", "latency_ms"} <= set(table.columns):
        return None
    row = dict(zip(table.columns, table.rows[key]))
    return {"params": int(row["params"]), "macs": int(row["macs"]), "latency_ms": float(row["latency_ms"])}
