"""ENAS-style weight sharing for KDAS: one supernet, trained between controller updates.

(a) shared weights: for each mini-train batch the controller samples a path (one op and
    wiring per add-on layer) and that path takes an SGD step under the configured loss
    (oracle KD against the cached ensemble outputs by default);
    Then, as ENAS does between shared-weight epochs, `controller_steps` controller updates of
    `controller_samples` archs each, scored on reward windows (ENAS macro search: 50 steps of
    20, one val minibatch per sample; the default is 20 steps of 8 on small windows: a
    learning signal per image spent, where few steps on large windows left the policy uniform);
(b) rewards: each arch the controller asks for is scored, with the shared weights, on a
    mini-val window. Windows are consecutive slices of a seeded, class-interleaved order of
    mini-val, so every window of >= C examples holds every class about equally (mini-val
    in index order is sorted by class for imagefolder data: a window then saw ~10 of 200
    classes, and the reward followed the classes, not the arch);
(c) selection (KDAS eq. 7; KDAS keeps several candidates throughout the search): the best
    archs the search scored, plus fresh samples of the final policy, each scored on the
    whole mini-val; the best whose standalone params fit the memory limit M wins.
It lives in the search process (shared weights cannot be a pure function); its state is
saved after every training phase so a killed search resumes.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from ..cost import count_macs, count_params
from ..data import TensorLoader, prepare_data
from ..distill import TeacherOutput, build_loss
from ..errors import DistillnasError
from ..evalconfig import SupernetConfig
from ..io import atomic_torch_save, safe_torch_load
from ..spaces import AddonSpace, SearchSpace
from ..teachers import Teacher, TeacherCache
from ..precision import resolve_precision
from ..recipe import TrainConfig
from ..training import Stepper, check_teacher_for_loss, make_targets, resolve_device, use_channels_last
from .base import EVALUATORS, Evaluator, TrialResult


def check_memory_limit(space: AddonSpace, sc: SupernetConfig, num_classes: int, in_channels: int) -> tuple[int, int]:
    """(M in params, backbone params); an error when not even the plain backbone fits (KDAS eq. 7)."""
    backbone_params = space.backbone_params(num_classes, in_channels)
    m = sc.memory_limit_params or int(sc.memory_limit * backbone_params)
    if m < backbone_params:
        raise DistillnasError(f"memory limit {m:,} params is smaller than the backbone {space.backbone_name!r} "
                              f"itself ({backbone_params:,} params): no student can fit. Raise "
                              "evaluator.supernet.memory_limit (a multiple like 2) or memory_limit_params")
    return m, backbone_params


def interleaved_order(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """Positions 0..n-1 in a seeded order that deals the classes round-robin (each class
    shuffled), so any window of consecutive positions is close to class-balanced."""
    g = torch.Generator().manual_seed(seed)
    by_class = [torch.nonzero(labels == c).flatten() for c in torch.unique(labels)]
    by_class = [idx[torch.randperm(len(idx), generator=g)] for idx in by_class]
    rank = torch.empty(len(labels))
    for idx in by_class:  # the k-th example of a class sits at round k, spread evenly
        rank[idx] = (torch.arange(len(idx)) + torch.rand(1, generator=g)) / len(idx)
    return torch.argsort(rank + 1e-6 * torch.rand(len(labels), generator=g))


@EVALUATORS.register("supernet", "weight sharing: students scored with one trained supernet's weights (ENAS/KDAS)")
class SupernetEvaluator(Evaluator):
    """Weight sharing: archs are scored with the shared weights in this process."""

    reuse_repeats = False  # the same arch scores differently as the shared weights train
    local_only = True

    @classmethod
    def check(cls, cfg: Any, space: SearchSpace) -> None:
        if not isinstance(space, AddonSpace):
            raise DistillnasError(f"the supernet evaluator needs space.name=addon, not {space.name!r}")
        ds, _ = prepare_data(cfg.data)
        check_memory_limit(space, cfg.evaluator.supernet, ds.num_classes, ds.in_channels)

    def prepare(self, loaded: tuple | None, teacher: Teacher | None) -> None:
        sc, space, cfg = self.cfg.evaluator.supernet, self.space, self.cfg
        self.sc = sc
        self.ds, self.splits = loaded if loaded is not None else prepare_data(cfg.data)
        ds = self.ds
        self.limit, self.backbone_params = check_memory_limit(space, sc, ds.num_classes, ds.in_channels)
        self.device = resolve_device("auto")
        if teacher is None and self.ctx.teacher:
            teacher = self.ctx.teacher.load(ds)
        check_teacher_for_loss(sc.loss.name, teacher, where="evaluator.supernet.loss.name")
        self.loss = build_loss(sc.loss.name, sc.loss.temperature, sc.loss.kd_weight)
        torch.manual_seed(cfg.strategy.seed)
        self.model = space.supernet(ds.num_classes, ds.in_channels).to(self.device)
        self.channels_last = use_channels_last(cfg.execution.channels_last, self.device, self.model)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.loader = self._train_loader(teacher)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=sc.lr, momentum=sc.momentum, nesterov=sc.nesterov,
                                   weight_decay=sc.weight_decay)
        self.stepper = Stepper(self.opt, self.device, sc.grad_clip,
                               resolve_precision(cfg.execution.precision, self.device))
        self.val = next(iter(TensorLoader(ds, self.splits.minival, len(self.splits.minival))))
        self.val_order = interleaved_order(self.val.y, cfg.strategy.seed)
        self.trained_batches, self.val_pos, self.train_s, self.select_s = 0, 0, 0.0, 0.0
        self.costs: dict[str, dict[str, int]] = {}
        self.load()

    def _train_loader(self, teacher: Teacher | None) -> TensorLoader:
        """Mini-train batches, with cached (oracle) teacher targets when the loss needs them."""
        sc, ds, idx = self.sc, self.ds, self.splits.minitrain
        tcfg = TrainConfig(augment=sc.augment, teacher_views=sc.teacher_views, precision=self.cfg.execution.precision)
        self.targets, augment, views = None, ("random" if sc.augment != "none" else "none"), None
        if self.loss.needs_teacher:
            self.targets, augment, views = make_targets(teacher, ds, "minitrain", idx, tcfg,
                                                        TeacherCache(self.run.teacher_cache), False,
                                                        seed=10_000 + len(idx))
        return TensorLoader(ds, idx, sc.batch_size, shuffle=True, augment=augment, views=views,
                            seed=self.cfg.strategy.seed, drop_last=len(idx) > sc.batch_size,
                            channels_last=self.channels_last)

    def before_batch(self, strategy: Any, batch: int) -> bool:
        """Train the shared weights before each batch (once: a resumed run skips trained ones)."""
        if self.trained_batches > batch:
            return False
        self.train(strategy, self.sc.epochs_per_batch)
        self.trained_batches = batch + 1
        self.save()
        return True

    def task(self) -> tuple[Any, Any]:
        return self.evaluate, None

    # --- (a) shared-weight training -----------------------------------------------------
    def train(self, strategy: Any, epochs: float) -> None:
        """One shared-weight training phase: sampled paths take SGD steps on mini-train."""
        steps = max(1, int(epochs * len(self.loader)))
        start, done = time.perf_counter(), 0
        self.model.train()
        while done < steps:
            for b in self.loader:
                if done >= steps:
                    break
                choice = self.space.choice(strategy.ask(1)[0])
                x, y = b.x.to(self.device), b.y.to(self.device)
                t = self.targets(b) if self.targets is not None else None
                t = None if t is None else TeacherOutput(t.logits.to(self.device))
                _, problem = self.stepper.step(lambda: self.loss(self.model(x, choice), y, t))
                if problem:
                    raise DistillnasError(f"supernet training diverged ({problem}); lower evaluator.supernet.lr")
                done += 1
        for _ in range(self.sc.controller_steps):  # ENAS: several controller steps per shared-weight phase
            archs = strategy.ask(self.sc.controller_samples)
            strategy.tell(archs, [self.accuracy(tuple(a)) for a in archs])
        self.train_s += time.perf_counter() - start

    # --- (b) rewards ----------------------------------------------------------------------
    @torch.no_grad()
    def accuracy(self, tokens: tuple[int, ...], full: bool = False) -> float:
        """Top-1 with the shared weights (batch statistics: running stats are shared by all paths)."""
        n = len(self.val.y)
        if full:
            idx = torch.arange(n)
        else:
            k = min(self.sc.reward_batch, n)
            idx = self.val_order[(torch.arange(k) + self.val_pos) % n]
            self.val_pos = (self.val_pos + k) % n
        self.model.train()
        x = self.val.x[idx].to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        pred = self.model(x, self.space.choice(tokens)).argmax(-1).cpu()
        return (pred == self.val.y[idx]).float().mean().item()

    def student_costs(self, tokens: tuple[int, ...]) -> dict[str, int]:
        """Params and MACs of an arch built as a standalone student (what the memory limit checks)."""
        arch = self.space.to_string(tokens)
        if arch not in self.costs:
            ds = self.ds
            model = self.space.build(tokens, ds.num_classes, ds.in_channels, ds.input_size)
            self.costs[arch] = {"params": count_params(model),
                                "macs": count_macs(model, (1, ds.in_channels, ds.input_size, ds.input_size))}
        return self.costs[arch]

    def evaluate(self, ctx: None, tokens: tuple[int, ...], seed: int) -> TrialResult:
        """Score archs with the shared weights on a mini-val window (the controller's reward)."""
        start = time.perf_counter()
        acc = self.accuracy(tuple(tokens))
        return TrialResult(self.space.to_string(tuple(tokens)), list(tokens), "ok", acc, latency_ms=0.0,
                           wall_s=time.perf_counter() - start, extra={"shared_weights": True},
                           **self.student_costs(tuple(tokens)))

    # --- (c) selection under the memory limit ---------------------------------------------
    def select(self, strategy: Any, trials: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The best of `selection_keep` archs scored during the search (by their window reward)
        and `selection_samples` fresh samples of the final policy, re-scored on all of mini-val;
        those over the memory limit are out."""
        best = self.candidates(strategy, [t for t in trials if t["status"] == "ok"])[: self.cfg.search.top_k]
        if not best:
            raise DistillnasError(f"no sampled student fits the memory limit of {self.limit:,} params; "
                                  "raise evaluator.supernet.memory_limit or add fewer add-on layers")
        return best, {"memory_limit_params": self.limit, "backbone_params": self.backbone_params,
                      "supernet_train_s": self.train_s, "selection_s": self.select_s}

    def candidates(self, strategy: Any, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Kept and fresh archs that fit the memory limit, by full mini-val accuracy."""
        start = time.perf_counter()
        seen: dict[str, dict[str, Any]] = {}
        kept: dict[str, tuple[int, ...]] = {}
        for t in sorted(history, key=lambda t: -(t.get("accuracy") or 0.0)):
            if len(kept) >= self.sc.selection_keep:
                break
            kept.setdefault(t["arch"], tuple(t["tokens"]))
        for tokens in [*kept.values(), *strategy.ask(self.sc.selection_samples)]:
            arch = self.space.to_string(tokens)
            if arch in seen:
                continue
            costs = self.student_costs(tokens)
            seen[arch] = {"arch": arch, "tokens": list(tokens), "accuracy": self.accuracy(tokens, full=True),
                          "params": costs["params"], "macs": costs["macs"], "latency_ms": 0.0,
                          "fits_memory": costs["params"] <= self.limit, "kept_from_search": arch in kept}
        fits = [d for d in seen.values() if d["fits_memory"]]
        for d in seen.values():
            d["reward"], d["meets_target"] = d["accuracy"], d["fits_memory"]
        self.select_s = time.perf_counter() - start
        return sorted(fits, key=lambda d: -d["accuracy"])

    # --- resume ---------------------------------------------------------------------------
    def save(self) -> None:
        """Save the shared weights and optimiser so a killed search resumes."""
        atomic_torch_save(self.run.supernet_path, {
            "model": self.model.state_dict(), "opt": self.opt.state_dict(), "trained": self.trained_batches,
            "val_pos": self.val_pos, "train_s": self.train_s, "gen": self.loader.gen.get_state()})

    def load(self) -> None:
        path = self.run.supernet_path
        if not path.is_file():
            return
        state = safe_torch_load(path, "supernet state", "delete it and strategy.pt to restart the search")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.trained_batches, self.val_pos, self.train_s = state["trained"], state["val_pos"], state["train_s"]
        self.loader.gen.set_state(state["gen"])
