"""The top-level search config, assembled from the sections its components define beside
their code: every default written out, unknown keys refused.

`space`, `strategy` and `evaluator` are discriminated unions on `name`: each variant holds
only its own settings. Keys of the *other* variants are dropped before validation, so a
config written before the unions (which held every variant's settings) still loads, and
`--strategy.name=evolution` on a config that sets PPO's settings just switches strategy.
"""
from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from .cost import CostConfig
from .data import DataConfig
from .distill import LossConfig
from .evalconfig import EvaluatorConfig, ProxyEvaluatorConfig
from .execution import ExecutionConfig
from .reward import REWARD_MODES, RewardConfig
from .section import MAX_EPOCHS, MAX_SEEDS, Section, field_variants, validate
from .spaces import MnasNetConfig, SpaceConfig
from .strategies import PPOConfig, StrategyConfig
from .recipe import OptimConfig, SGDConfig, TrainConfig

log = logging.getLogger("distillnas")


class TeacherSection(Section):
    """The teacher: given specs (an ensemble when several), or an ensemble the search trains
    into its run directory when none is given."""
    spec: list[str] = []  # teacher specs (an ensemble when several); empty: train the ensemble below
    arch: str = "resnet8"  # members trained when spec is empty (cached in the run directory)
    seeds: list[int] = Field([0, 1, 2, 3, 4], min_length=1, max_length=MAX_SEEDS)
    epochs: float = Field(8, gt=0, le=MAX_EPOCHS)

    @field_validator("spec", mode="before")
    @classmethod
    def _one_or_comma_list(cls, v: Any) -> Any:
        """`--teacher.spec=path` or `a.pt,b.pt` as naturally as a YAML list."""
        return [p.strip() for p in v.split(",") if p.strip()] if isinstance(v, str) else v


class LoopConfig(Section):
    """The search loop's budget and stopping rules (the `search` section)."""
    trials: int = Field(40, ge=1, le=1_000_000)  # evaluations paid in all (a rung each with multi-fidelity; a repeat of a stored arch is free); no batch starts once it is spent, and the last bracket's promotions finish past it
    batch_size: int = Field(8, ge=1, le=10_000)  # archs per controller update
    patience: int = Field(5, ge=1, le=10_000)  # batches in a row of repeats only: the policy has converged, the search ends
    max_repeats: float = Field(4.0, ge=0, le=1000)  # free repeats allowed, as a multiple of `trials`, before it ends anyway
    top_k: int = Field(5, ge=1, le=1000)  # best archs written to best.yaml
    report_every_s: float = Field(30.0, ge=0, le=86_400)  # rewrite RUN/report after a batch at most this often (0: at the end only)


class FinalConfig(Section):
    """Retraining of the chosen students (`distillnas train --from-run`)."""

    optim: OptimConfig = OptimConfig(epochs=15)
    loss: LossConfig = LossConfig(name="kd", temperature=1.0, kd_weight=0.9)
    seeds: list[int] = Field([0, 1, 2], min_length=1, max_length=MAX_SEEDS)

    def train_config(self, epochs: float | None = None, loss: str | None = None, **runtime: str) -> TrainConfig:
        """The `TrainConfig` a retraining runs with: this section's optimisation and loss, taken
        as validated (no dump and revalidate), `epochs` and the loss's name overridden when
        given; `runtime` (device, channels_last, precision) is checked here, once."""
        optim = self.optim if epochs is None else self.optim.model_copy(update={"epochs": epochs})
        loss_cfg = self.loss if not loss else self.loss.model_copy(update={"name": loss})
        return validate(TrainConfig, {"optim": optim, "loss": loss_cfg, **runtime})


def drop_other_variants(data: dict[str, Any], variants: dict[str, type[Section]], default: str,
                        where: str = "") -> dict[str, Any]:
    """A union section without the keys that only other variants define. One set to something
    other than its variant's default is named in a warning: it was meant for another choice."""
    name = data.get("name", default)
    own = variants.get(name)
    if own is None:
        return data
    owner = {k: v for v in variants.values() if v is not own for k in v.model_fields if k not in own.model_fields}
    dropped = [k for k in data if k in owner and _differs(data[k], owner[k].model_fields[k].default)]
    if dropped:
        log.warning("%s ignored: %s applies to another %s than %r", ", ".join(f"{where}.{k}" for k in dropped),
                    "it" if len(dropped) == 1 else "they", where, name)
    return {k: v for k, v in data.items() if k not in owner}


def _differs(value: Any, default: Any) -> bool:
    if isinstance(default, BaseModel):
        try:
            return type(default).model_validate(value) != default
        except ValidationError:
            return True
    return value != default


class SearchConfig(Section):
    """A whole search run, validated once at the edge: every section, typed, with defaults
    written out (what `config.yaml` holds)."""
    name: str = "akd_fmnist12k"
    run_dir: str | None = None  # default: runs/<name>
    data: DataConfig = DataConfig()
    teacher: TeacherSection = TeacherSection()
    space: SpaceConfig = MnasNetConfig()
    strategy: StrategyConfig = PPOConfig()
    evaluator: EvaluatorConfig = ProxyEvaluatorConfig()
    reward: RewardConfig = RewardConfig()
    cost: CostConfig = CostConfig()
    execution: ExecutionConfig = ExecutionConfig()
    search: LoopConfig = LoopConfig()
    final: FinalConfig = FinalConfig()

    @model_validator(mode="before")
    @classmethod
    def _own_settings_only(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key, default in (("space", "mnasnet"), ("strategy", "ppo"), ("evaluator", "proxy")):
            if isinstance(data.get(key), dict):  # a section without a name is the default variant's
                section = {"name": default, **data[key]}
                data[key] = drop_other_variants(section, field_variants(cls.model_fields[key]), default, key)
        return data


__all__ = ["CostConfig", "DataConfig", "EvaluatorConfig", "ExecutionConfig", "FinalConfig", "LoopConfig", "LossConfig",
           "OptimConfig", "REWARD_MODES", "RewardConfig", "SGDConfig", "SearchConfig", "Section", "SpaceConfig",
           "StrategyConfig", "TeacherSection", "TrainConfig", "validate"]
