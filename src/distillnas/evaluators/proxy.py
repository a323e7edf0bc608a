"""AKD's proxy task: train a candidate briefly on mini-train (KD from the cached teacher, or
CE) and score it on mini-val."""
from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field

from ..distill import LossConfig, build_loss
from ..errors import DistillnasError
from ..section import Section, validate
from ..spaces import SearchSpace
from ..training import TrainConfig, train_student
from ..training.config import OptimConfig
from ..zerocost import SCORES, TEACHER_SCORES, make_probe, score_model, teacher_modules
from .base import EVALUATORS, EvalContext, Evaluator, EvaluatorSection, TrialResult, load_setup, measure_costs


class ScreenConfig(Section):
    """Zero-cost pre-screening: the strategy's batch is asked `factor` times larger, every new arch
    is scored at initialisation, and only the best 1/factor are proxy-trained; the others are
    stored as 'screened' with their score (free, not told to the strategy)."""

    score: str | None = None  # a distillnas.zerocost score (e.g. diswot); None: no screening
    factor: int = Field(4, ge=2)
    batch_size: int = Field(64, ge=2)  # images in the probe batch
    seed: int = Field(0, ge=0)  # the probe batch and the initial weights scored


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
    screen: ScreenConfig = ScreenConfig()


class ProxyEvaluatorConfig(EvaluatorSection):
    name: Literal["proxy"] = "proxy"
    proxy: ProxyConfig = ProxyConfig()


@EVALUATORS.register("proxy")
class ProxyEvaluator(Evaluator):
    @classmethod
    def check(cls, cfg: Any, space: SearchSpace) -> None:
        score = cfg.evaluator.proxy.screen.score
        if score is None:
            return
        SCORES.get(score)
        if score in TEACHER_SCORES and not build_loss(cfg.evaluator.proxy.loss.name).needs_teacher:
            raise DistillnasError(f"evaluator.proxy.screen.score={score!r} compares students with the teacher, but "
                                  f"evaluator.proxy.loss.name={cfg.evaluator.proxy.loss.name!r} uses none; screen "
                                  "with a teacher-free score (e.g. naswot) or distil")

    @classmethod
    def loss_spec(cls, cfg: Any) -> tuple[str, str]:
        return cfg.evaluator.proxy.loss.name, "evaluator.proxy.loss.name"

    @classmethod
    def check_teacher(cls, cfg: Any, teacher: Any) -> None:
        if cfg.evaluator.proxy.screen.score in TEACHER_SCORES and not teacher_modules(teacher):
            raise DistillnasError(f"evaluator.proxy.screen.score={cfg.evaluator.proxy.screen.score!r} needs the "
                                  "teacher network; a logits-file teacher has none (give checkpoints)")

    @property
    def oversample(self) -> int:
        s = self.cfg.evaluator.proxy.screen
        return s.factor if s.score else 1

    def screen(self, archs: list[tuple[int, ...]]) -> list[dict[str, Any]]:
        """Each arch's zero-cost score, in this process (about a second each on a CPU)."""
        s, st = self.cfg.evaluator.proxy.screen, load_setup(self.ctx)
        ds, splits = st["data"]
        if "screen_probe" not in st:
            st["screen_probe"] = make_probe(ds, splits, st["teacher"], s.batch_size, s.seed,
                                            with_teacher=s.score in TEACHER_SCORES)
        out = []
        for tokens in archs:
            start = time.perf_counter()
            v = score_model(lambda: self.space.build(tokens, ds.num_classes, ds.in_channels, ds.input_size),
                            [s.score], st["screen_probe"], s.seed)[s.score]
            out.append({"score": s.score, "value": v, "wall_s": time.perf_counter() - start})
        return out

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
