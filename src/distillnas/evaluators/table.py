"""A tabular benchmark as the evaluator: look the accuracy up (diswot_s1: CIFAR-100, 32x32),
compute the costs from the model. A search over it takes seconds, so strategies can be
compared over many seeds."""
from __future__ import annotations

from typing import Any, Literal

from ..benchmarks import table_path
from ..errors import DistillnasError
from ..spaces import SearchSpace
from .base import EVALUATORS, EvalContext, Evaluator, EvaluatorSection, TrialResult, measure_costs, worker_state


class TableEvaluatorConfig(EvaluatorSection):
    name: Literal["table"] = "table"
    table: str | None = None  # a file of 'code accuracy' lines (diswot_s1 format) or a packaged table name


def read_table(path: str) -> dict[str, float]:
    """'code accuracy' lines (accuracy in %) -> {code: accuracy in [0, 1]}; `path` may also
    name a packaged table (distillnas.benchmarks, e.g. diswot_s1_kd)."""
    table = {}
    try:
        for n, line in enumerate(table_path(path).read_text().splitlines(), 1):
            if line.strip():
                code, value = line.split()
                table[code] = float(value) / 100.0
    except FileNotFoundError:
        raise DistillnasError(f"benchmark table {path!r} does not exist") from None
    except ValueError:
        raise DistillnasError(f"benchmark table {path!r}, line {n}: expected 'code accuracy'") from None
    return table


@EVALUATORS.register("table")
class TableEvaluator(Evaluator):
    needs_data = False

    @classmethod
    def check(cls, cfg: Any, space: SearchSpace) -> None:
        if not hasattr(space, "code"):
            raise DistillnasError(f"the table evaluator needs a space with table codes (resnet_depth), not {space.name!r}")
        if not cfg.evaluator.table:
            raise DistillnasError("the table evaluator needs evaluator.table: a file of 'code accuracy' lines")
        read_table(cfg.evaluator.table)

    @staticmethod
    def run(ctx: EvalContext, tokens: tuple[int, ...], seed: int) -> TrialResult:
        st = worker_state(ctx)
        space, table_name = st["space"], ctx.evaluator.table
        if "table" not in st:
            if not table_name:
                raise DistillnasError("the table evaluator needs evaluator.table: a file of 'code accuracy' lines")
            st["table"], st["costs"] = read_table(table_name), {}
        code = space.code(tokens) if hasattr(space, "code") else space.to_string(tokens)
        if code not in st["table"]:
            raise DistillnasError(f"arch {code!r} is not in the table {table_name!r}")
        arch = space.to_string(tokens)
        if arch not in st["costs"]:
            st["costs"][arch] = measure_costs(space, tokens, arch, (3, 32, 32), 100, st["latency"])[1]
        return TrialResult(arch, list(tokens), "ok", st["table"][code], **st["costs"][arch])
