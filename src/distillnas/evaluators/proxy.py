"""AKD's proxy task: train a candidate briefly on mini-train (KD from the cached teacher, or
CE) and score it on mini-val."""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from ..cost import count_macs
from ..distill import build_loss
from ..errors import DistillnasError
from ..models import Student
from ..spaces import SearchSpace
from ..teachers import Teacher
from ..training import train_student
from ..zerocost import SCORES, TEACHER_SCORES, make_probe, score_model, teacher_modules
from .base import (EVALUATORS, EvalContext, Evaluator, TrialResult, hyperband_size, hyperband_skipped, load_setup,
                   measure_costs)

log = logging.getLogger(__name__)


MIN_LADDER_BATCHES = 4  # fewer told batches than this and a learning strategy has little to learn from


def state_file(state_dir: str, arch: str, seed: int, epochs: float) -> Path:
    """Where a multi-fidelity training of (arch, seed) leaves its state after `epochs`."""
    digest = hashlib.sha1(arch.encode()).hexdigest()[:20]
    return Path(state_dir) / f"{digest}-seed{seed}-e{epochs:g}.pt"


@EVALUATORS.register("proxy", 'each student distilled for a short proxy run, scored on mini-val (AKD)')
class ProxyEvaluator(Evaluator):
    """AKD's proxy: each candidate trained briefly on mini-train (KD or CE) and scored on mini-val."""

    @classmethod
    def check(cls, cfg: Any, space: SearchSpace) -> None:
        p = cfg.evaluator.proxy
        if p.fidelity.epochs and p.fidelity.epochs[0] <= p.warmup_epochs:
            log.warning("evaluator.proxy.fidelity.epochs starts at %g, inside the %g-epoch warm-up "
                        "(evaluator.proxy.warmup_epochs): the first rung scores archs while the lr is still "
                        "rising, and such a rung ranked at chance on the mnist5k table (Kendall tau 0.08 over "
                        "201 archs); make the warm-up a fraction of the first rung", p.fidelity.epochs[0],
                        p.warmup_epochs)
        rungs = len(p.fidelity.epochs or ())
        if rungs and p.fidelity.eta == 1 and cfg.search.trials < MIN_LADDER_BATCHES * rungs * cfg.search.batch_size:
            archs = cfg.search.trials // rungs
            log.warning("evaluator.proxy.fidelity.eta=1 runs every arch through all %d rungs, and each rung "
                        "evaluation is a paid trial: search.trials=%d covers %d archs (%d batch(es) of %d), too few "
                        "for a strategy to learn from; raise search.trials to %d x the archs you want", rungs,
                        cfg.search.trials, archs, -(-archs // cfg.search.batch_size), cfg.search.batch_size, rungs)
        score = p.screen.score
        if score is None:
            return
        SCORES.get(score)
        if score in TEACHER_SCORES and not build_loss(cfg.evaluator.proxy.loss.name).needs_teacher:
            raise DistillnasError(f"evaluator.proxy.screen.score={score!r} compares students with the teacher, but "
                                  f"evaluator.proxy.loss.name={cfg.evaluator.proxy.loss.name!r} uses none; screen "
                                  "with a teacher-free score (e.g. naswot) or distil")

    @classmethod
    def check_teacher(cls, cfg: Any, teacher: Teacher | None) -> None:
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
        """ASHA: promote as results arrive instead of rung by rung."""
        return self.cfg.evaluator.proxy.fidelity.mode == "asha"

    @property
    def tell_first(self) -> bool:  # type: ignore[override]
        """Whether the strategy is told each arch's first-rung reward rather than its highest."""
        return self.cfg.evaluator.proxy.fidelity.tell == "first"

    @property
    def eta(self) -> int:  # type: ignore[override]
        """Successive halving's reduction factor (the best 1/eta go on)."""
        return self.cfg.evaluator.proxy.fidelity.eta

    @property
    def promote(self) -> str:  # type: ignore[override]
        """How a two-objective rung ranks its promotions (`selection.promotion_order`)."""
        return self.cfg.evaluator.proxy.fidelity.promote

    def work(self, tokens: tuple[int, ...]) -> float:
        """The candidate's MACs: proxy training time grows with them."""
        ds, _ = load_setup(self.ctx).loaded
        model = self.space.build(tokens, ds.num_classes, ds.in_channels, ds.input_size)
        return float(count_macs(model, (1, ds.in_channels, ds.input_size, ds.input_size)))

    def _bracket(self, batch: int) -> int:
        """Hyperband's s for this batch (rungs skipped at the start); 0 for successive halving."""
        f = self.cfg.evaluator.proxy.fidelity
        return 0 if f.epochs is None else hyperband_skipped(batch, len(f.epochs), f.mode)

    def rungs(self, batch: int) -> list[float | None]:
        f = self.cfg.evaluator.proxy.fidelity
        return [None] if f.epochs is None else [float(e) for e in f.epochs[self._bracket(batch):]]

    def ask_size(self, batch: int, n: int) -> int:
        """Hyperband's bracket sizes (`hyperband_size`), times the screen's oversampling."""
        f = self.cfg.evaluator.proxy.fidelity
        if f.epochs is not None:
            n = hyperband_size(n, self._bracket(batch), len(f.epochs), f.eta)
        return n * self.oversample

    def task(self, fidelity: float | None = None, resume: float | None = None) -> tuple[Callable[..., TrialResult], Any]:
        """The base task, plus where a rung leaves its training state for the next."""
        fn, ctx = super().task(fidelity, resume)
        return fn, ctx if fidelity is None else replace(ctx, state_dir=str(self.run.path / "fidelity"))

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
        """Train one candidate (each listed seed) to the context's fidelity and score it on mini-val."""
        st = load_setup(ctx)
        space, p = st.space, ctx.evaluator.proxy
        ds, splits = st.loaded
        arch = space.to_string(tokens)
        _, costs, spread = measure_costs(space, tokens, arch, (ds.in_channels, ds.input_size, ds.input_size),
                                         ds.num_classes, st.latency)
        cfg = p.train_config(ctx.fidelity or None, device=ctx.device, channels_last=ctx.channels_last,
                             precision=ctx.precision, compile=ctx.compile)
        last = float(p.fidelity.epochs[-1]) if ctx.fidelity and p.fidelity.epochs else None
        restarts = tuple(float(e) for e in p.fidelity.epochs[:-1]) if last and p.fidelity.schedule == "rung" else ()
        recalibrate = p.fidelity.recalibrate if last and ctx.fidelity < last else 0  # a lower rung only
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
                                      horizon=last, restarts=restarts, resume_from=resume, save_state=save,
                                      recalibrate=recalibrate))
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
