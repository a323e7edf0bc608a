"""A training-free evaluator: each candidate is scored at initialisation on one probe batch
(distillnas.zerocost), in about a second on a CPU instead of a proxy training.

A zero-cost score is not an accuracy. The trial's `accuracy` holds the score mapped into (0, 1)
by u = (1 + v / (1 + |v|)) / 2, which keeps the order of scores (so the best archs stay the best)
but gives no meaning to the soft reward's trade of score against cost: search a zero-cost
evaluator with reward.mode=hard (the target as a constraint) or a Pareto strategy (nsga2).
The raw score is kept in extra["zerocost"]."""
from __future__ import annotations

import logging
from typing import Any

from ..errors import DistillnasError
from ..spaces import SearchSpace
from ..teachers import Teacher
from ..zerocost import SCORES, TEACHER_SCORES, make_probe, score_model, teacher_modules
from .base import EVALUATORS, EvalContext, Evaluator, TrialResult, load_setup, measure_costs

log = logging.getLogger("distillnas")


def unit(value: float) -> float:
    """A score as a number in (0, 1), in the same order (see the module docstring)."""
    return (1.0 + value / (1.0 + abs(value))) / 2.0


@EVALUATORS.register("zerocost", 'each student scored at initialisation by a zero-cost score, no training')
class ZeroCostEvaluator(Evaluator):
    """Each candidate scored at initialisation by a zero-cost score, no training."""

    @classmethod
    def check(cls, cfg: Any, space: SearchSpace) -> None:
        SCORES.get(cfg.evaluator.zerocost.score)
        if cfg.reward.mode == "soft" and cfg.reward.alpha is None and cfg.strategy.objectives != 2:
            log.warning("a zero-cost score is not an accuracy: the soft reward trades it against cost at an arbitrary "
                        "rate; reward.mode=hard (the target as a constraint) is the sound choice")

    @classmethod
    def check_teacher(cls, cfg: Any, teacher: Teacher | None) -> None:
        if cfg.evaluator.zerocost.score in TEACHER_SCORES and not teacher_modules(teacher):
            raise DistillnasError(f"evaluator.zerocost.score={cfg.evaluator.zerocost.score!r} compares the student "
                                  "with the teacher network; a logits-file teacher has none (give checkpoints)")

    @staticmethod
    def run(ctx: EvalContext, tokens: tuple[int, ...], seed: int) -> TrialResult:
        """Score one arch on the probe batch (mean over seeds), mapped into (0, 1)."""
        st = load_setup(ctx)
        space, z = st.space, ctx.evaluator.zerocost
        ds, splits = st.loaded
        if "probe" not in st.extra:
            st.extra["probe"] = make_probe(ds, splits, st.teacher, z.batch_size, z.data_seed,
                                           with_teacher=z.score in TEACHER_SCORES)
        arch = space.to_string(tokens)
        _, costs, spread = measure_costs(space, tokens, arch, (ds.in_channels, ds.input_size, ds.input_size),
                                         ds.num_classes, st.latency)
        values = [score_model(lambda: space.build(tokens, ds.num_classes, ds.in_channels, ds.input_size), [z.score],
                              st.extra["probe"], s)[z.score] for s in z.seeds]
        value = sum(values) / len(values)
        return TrialResult(arch, list(tokens), "ok", unit(value),
                           extra={"zerocost": {z.score: value}, "zerocost_seeds": values, **spread}, **costs)
