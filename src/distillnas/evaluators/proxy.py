"""AKD's proxy task: train a candidate briefly on mini-train (KD from the cached teacher, or
CE) and score it on mini-val."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..distill import LossConfig
from ..section import validate
from ..training import TrainConfig, train_student
from ..training.config import OptimConfig
from .base import EVALUATORS, EvalContext, Evaluator, EvaluatorSection, TrialResult, load_setup, measure_costs


class ProxyConfig(OptimConfig):
    """The proxy run: the optimisation section (AKD: 5 epochs with 1 warm-up) plus its loss and
    augmentation."""

    epochs: float = Field(5, gt=0)
    warmup_epochs: float = Field(1, ge=0)
    weight_decay: float = Field(4e-5, ge=0)
    loss: LossConfig = LossConfig(name="kd", temperature=1.0, kd_weight=0.9)  # AKD: T=1, w=0.9
    augment: Literal["none", "views", "random"] = "views"
    teacher_views: int = Field(2, ge=1)
    # train each arch once per listed seed and score the mean (a benchmark table keeps every
    # seed, so its noise floor can be measured); None: one run seeded by the trial
    seeds: list[int] | None = Field(None, min_length=1)


class ProxyEvaluatorConfig(EvaluatorSection):
    name: Literal["proxy"] = "proxy"
    proxy: ProxyConfig = ProxyConfig()


@EVALUATORS.register("proxy")
class ProxyEvaluator(Evaluator):
    @classmethod
    def loss_spec(cls, cfg: Any) -> tuple[str, str]:
        return cfg.evaluator.proxy.loss.name, "evaluator.proxy.loss.name"

    @staticmethod
    def run(ctx: EvalContext, tokens: tuple[int, ...], seed: int) -> TrialResult:
        st = load_setup(ctx)
        space, p = st["space"], ctx.evaluator.proxy
        ds, splits = st["data"]
        arch = space.to_string(tokens)
        _, costs, spread = measure_costs(space, tokens, arch, (ds.in_channels, ds.input_size, ds.input_size),
                                         ds.num_classes, st["latency"])
        cfg = validate(TrainConfig, {
            "optim": p.model_dump(include=set(OptimConfig.model_fields)), "loss": p.loss.model_dump(),
            "augment": p.augment, "teacher_views": p.teacher_views, "device": ctx.device,
            "channels_last": ctx.channels_last})
        runs = [train_student(arch, cfg, ds, splits, teacher=st["teacher"], cache=st["cache"], seed=s,
                              train_split="minitrain", eval_splits=("minival",), space=space.config())
                for s in (p.seeds or [seed])]
        bad = next((r for r in runs if r.status != "ok"), None)
        accuracy = None if bad else sum(r.metrics["minival"] for r in runs) / len(runs)
        extra: dict[str, Any] = {"images_per_s": sum(r.images_per_s for r in runs) / len(runs), **spread}
        if p.seeds:
            extra["seed_accuracies"] = {str(r.seed): r.metrics.get("minival") for r in runs}
        return TrialResult(arch, list(tokens), bad.status if bad else "ok", accuracy, error=bad.error if bad else "",
                           extra=extra, **costs)
