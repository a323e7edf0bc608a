"""AKD's proxy task: train a candidate briefly on mini-train (KD from the cached teacher, or
CE) and score it on mini-val."""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import Field, field_validator

from ..cost import count_macs
from ..distill import LossConfig, build_loss
from ..errors import DistillnasError
from ..models import Student
from ..section import MAX_EPOCHS, MAX_SEEDS, MAX_VIEWS, Section
from ..spaces import SearchSpace
from ..training import TrainConfig, train_student
from ..training.config import OptimConfig
from ..zerocost import SCORES, TEACHER_SCORES, make_probe, score_model, teacher_modules
from .base import (EVALUATORS, EvalContext, Evaluator, EvaluatorSection, TrialResult, evaluate_trial, load_setup,
                   measure_costs)


class ScreenConfig(Section):
    """Zero-cost pre-screening: the strategy's batch is asked `factor` times larger, every new arch
    is scored at initialisation, and only the best 1/factor are proxy-trained; the others are
    stored as 'screened' with their score (free, not told to the strategy)."""

    score: str | None = None  # a distillnas.zerocost score (e.g. diswot); None: no screening
    factor: int = Field(4, ge=2, le=100)
    batch_size: int = Field(64, ge=2, le=4096)  # images in the probe batch
    seed: int = Field(0, ge=0)  # the probe batch and the initial weights scored


class FidelityConfig(Section):
    """Multi-fidelity proxy training (Li et al., "Hyperband", JMLR 2018; successive halving from
    Jamieson & Talwalkar, AISTATS 2016). Every batch is a bracket: its archs are trained to the
    first rung's epochs, the best 1/eta go on to the next rung, and so on. A promoted arch
    continues from its saved state; the lr schedule always spans the last rung's epochs, so
    continuing to a rung is the same run (bit for bit) as training to it from the start."""

    epochs: list[int] | None = Field(None, max_length=20)  # the rungs, e.g. [1, 3, 9]; None: one fidelity (proxy.epochs)
    eta: int = Field(3, ge=2, le=100)
    # sh: every batch starts at the first rung, rung by rung; asha: the same bracket with
    # promotions as results arrive (no worker waits for a rung; Ray); hyperband: batches cycle
    # through Hyperband's brackets (start at rung s, with proportionally fewer archs), hedging
    # against a first rung too short to rank archs
    mode: Literal["sh", "asha", "hyperband"] = "sh"
    # what the strategy is told for each arch: its reward at the highest rung it reached, or at
    # the first rung (one fidelity for every arch)
    tell: Literal["highest", "first"] = "highest"

    @field_validator("epochs")
    @classmethod
    def _increasing(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (len(v) < 2 or any(not 1 <= e <= MAX_EPOCHS for e in v) or any(b <= a for a, b in zip(v, v[1:]))):
            raise ValueError(f"fidelity.epochs must be two or more increasing whole epochs in 1..{MAX_EPOCHS}, got {v}")
        return v


def state_file(state_dir: str, arch: str, seed: int, epochs: float) -> Path:
    """Where a multi-fidelity training of (arch, seed) leaves its state after `epochs`."""
    digest = hashlib.sha1(arch.encode()).hexdigest()[:20]
    return Path(state_dir) / f"{digest}-seed{seed}-e{epochs:g}.pt"


class ProxyConfig(OptimConfig):
    """The proxy run: the optimisation section (AKD: 5 epochs with 1 warm-up) plus its loss and
    augmentation."""

    epochs: float = Field(5, gt=0, le=MAX_EPOCHS)
    warmup_epochs: float = Field(1, ge=0, le=MAX_EPOCHS)
    weight_decay: float = Field(4e-5, ge=0, le=1)
    loss: LossConfig = LossConfig(name="kd", temperature=1.0, kd_weight=0.9)  # AKD: T=1, w=0.9
    augment: Literal["none", "views", "random"] = "views"
    teacher_views: int = Field(2, ge=1, le=MAX_VIEWS)
    # train each arch once per listed seed and score the mean (a benchmark table keeps every
    # seed, so its noise floor can be measured); None: one run seeded by the trial
    seeds: list[int] | None = Field(None, min_length=1, max_length=MAX_SEEDS)
    screen: ScreenConfig = ScreenConfig()
    fidelity: FidelityConfig = FidelityConfig()

    def train_config(self, epochs: float | None = None, **runtime: str) -> TrainConfig:
        """The `TrainConfig` a trial trains with: its optimisation fields (every `OptimConfig`
        field, by name) and every `TrainConfig` field this section shares (loss, augment,
        teacher_views, ...), taken as validated - no dump and revalidate, no field copied by hand,
        so an option added to both reaches training. `epochs` (a fidelity rung) and `runtime`
        (device, channels_last, precision of the execution section) complete it."""
        optim = OptimConfig.model_construct(**{k: getattr(self, k) for k in OptimConfig.model_fields})
        if epochs is not None:
            optim = optim.model_copy(update={"epochs": epochs})
        shared = {k: getattr(self, k) for k in TrainConfig.model_fields if k in type(self).model_fields}
        return TrainConfig.model_construct(**{**shared, "optim": optim, **runtime})


class ProxyEvaluatorConfig(EvaluatorSection):
    name: Literal["proxy"] = "proxy"
    proxy: ProxyConfig = ProxyConfig()

    def training_loss(self) -> Any:
        return self.proxy.loss

    def metric_label(self) -> str:
        return "proxy top-1 (%)"  # a short proxy run's accuracy on mini-val, not a final accuracy

    def seeds(self) -> list[int]:
        return list(self.proxy.seeds or [])

    def top_fidelity(self) -> float | None:
        epochs = self.proxy.fidelity.epochs
        return float(epochs[-1]) if epochs else None


@EVALUATORS.register("proxy", 'each student distilled for a short proxy run, scored on mini-val (AKD)')
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

    def before_batch(self, strategy: Any, batch: int) -> None:
        """A new bracket: the saved states of earlier brackets are never continued again."""
        states = self.run.path / "fidelity"
        if states.is_dir():
            for f in states.glob("*.pt"):
                f.unlink(missing_ok=True)

    @property
    def asynchronous(self) -> bool:  # type: ignore[override]
        return self.cfg.evaluator.proxy.fidelity.mode == "asha"

    @property
    def tell_first(self) -> bool:  # type: ignore[override]
        return self.cfg.evaluator.proxy.fidelity.tell == "first"

    @property
    def eta(self) -> int:  # type: ignore[override]
        return self.cfg.evaluator.proxy.fidelity.eta

    def work(self, tokens: tuple[int, ...]) -> float:
        """The candidate's MACs: proxy training time grows with them."""
        ds, _ = load_setup(self.ctx).loaded
        model = self.space.build(tokens, ds.num_classes, ds.in_channels, ds.input_size)
        return float(count_macs(model, (1, ds.in_channels, ds.input_size, ds.input_size)))

    def _bracket(self, batch: int) -> int:
        """Hyperband's s for this batch (rungs skipped at the start); 0 for successive halving."""
        f = self.cfg.evaluator.proxy.fidelity
        if f.epochs is None or f.mode != "hyperband":
            return 0
        return batch % len(f.epochs)

    def rungs(self, batch: int) -> list[float | None]:
        f = self.cfg.evaluator.proxy.fidelity
        return [None] if f.epochs is None else [float(e) for e in f.epochs[self._bracket(batch):]]

    def ask_size(self, batch: int, n: int) -> int:
        """Hyperband's bracket sizes: n_s = n (s_max + 1) / (s + 1) eta^(s - s_max) archs for the
        bracket with s + 1 rungs, so every bracket spends about the same epochs."""
        f, skipped = self.cfg.evaluator.proxy.fidelity, self._bracket(batch)
        if skipped:
            s_max = len(f.epochs) - 1
            s = s_max - skipped
            n = max(1, math.ceil(n * (s_max + 1) / (s + 1) * f.eta ** (s - s_max)))
        return n * self.oversample

    def task(self, fidelity: float | None = None, resume: float | None = None) -> tuple[Callable[..., TrialResult], Any]:
        if fidelity is None:
            return super().task()
        return evaluate_trial, replace(self.ctx, fidelity=fidelity, resume_fidelity=resume or 0.0,
                                       state_dir=str(self.run.path / "fidelity"))

    def select(self, strategy: Any, trials: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """With multi-fidelity, the best archs among those trained to the last rung."""
        f = self.cfg.evaluator.proxy.fidelity
        if f.epochs is not None:
            top = [t for t in trials if t["extra"].get("fidelity") == float(f.epochs[-1])]
            trials = top or trials
        return super().select(strategy, trials)

    def screen(self, archs: list[tuple[int, ...]]) -> list[dict[str, Any]]:
        """Each arch's zero-cost score, in this process (about a second each on a CPU)."""
        s, st = self.cfg.evaluator.proxy.screen, load_setup(self.ctx)
        ds, splits = st.loaded
        if "screen_probe" not in st.extra:
            st.extra["screen_probe"] = make_probe(ds, splits, st.teacher, s.batch_size, s.seed,
                                                  with_teacher=s.score in TEACHER_SCORES)
        out = []
        for tokens in archs:
            start = time.perf_counter()
            v = score_model(lambda: self.space.build(tokens, ds.num_classes, ds.in_channels, ds.input_size),
                            [s.score], st.extra["screen_probe"], s.seed)[s.score]
            out.append({"score": s.score, "value": v, "wall_s": time.perf_counter() - start})
        return out

    @staticmethod
    def run(ctx: EvalContext, tokens: tuple[int, ...], seed: int) -> TrialResult:
        st = load_setup(ctx)
        space, p = st.space, ctx.evaluator.proxy
        ds, splits = st.loaded
        arch = space.to_string(tokens)
        _, costs, spread = measure_costs(space, tokens, arch, (ds.in_channels, ds.input_size, ds.input_size),
                                         ds.num_classes, st.latency)
        cfg = p.train_config(ctx.fidelity or None, device=ctx.device, channels_last=ctx.channels_last,
                             precision=ctx.precision)
        last = float(p.fidelity.epochs[-1]) if ctx.fidelity and p.fidelity.epochs else None
        runs = []
        for s in (p.seeds or [seed]):
            resume = state_file(ctx.state_dir, arch, s, ctx.resume_fidelity) if ctx.resume_fidelity else None
            save = state_file(ctx.state_dir, arch, s, ctx.fidelity) if last and ctx.fidelity < last else None
            if save is not None:
                save.parent.mkdir(parents=True, exist_ok=True)
            student = Student(arch, lambda: space.build(tokens, ds.num_classes, ds.in_channels, ds.input_size),
                              space.config())
            runs.append(train_student(student, cfg, ds, splits, teacher=st.teacher, cache=st.cache, seed=s,
                                      train_split="minitrain", eval_splits=("minival",),
                                      horizon=last, resume_from=resume, save_state=save))
        bad = next((r for r in runs if r.status != "ok"), None)
        accuracy = None if bad else sum(r.metrics["minival"] for r in runs) / len(runs)
        extra: dict[str, Any] = {"images_per_s": sum(r.images_per_s for r in runs) / len(runs), **spread}
        if ctx.fidelity:
            continued = all(r.continued for r in runs)
            extra.update(fidelity=ctx.fidelity, continued=continued,
                         epochs_trained=ctx.fidelity - (ctx.resume_fidelity if continued else 0.0))
        if p.seeds:
            extra["seed_accuracies"] = {str(r.seed): r.metrics.get("minival") for r in runs}
        return TrialResult(arch, list(tokens), bad.status if bad else "ok", accuracy, error=bad.error if bad else "",
                           extra=extra, **costs)
