"""Config sections as pydantic models: every default written out, unknown keys refused."""
from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import DistillnasError, suggest

M = TypeVar("M", bound=BaseModel)


class Section(BaseModel):
    """Base of every config section: unknown keys, inf and NaN are refused (a non-finite lr,
    target or epoch count can only produce garbage or a crash later)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class DataConfig(Section):
    name: str = "mnist5k"  # a registered dataset (distillnas.data.DATASETS)
    root: str | None = None  # the user's directory for on-disk datasets (cifar*, imagefolder)
    val_fraction: float = Field(0.1, gt=0, lt=1)  # mini-val share of the training pool (KDAS: 10%)
    test_fraction: float = Field(0.2, gt=0, lt=1)  # held-out test share, only without an official test set
    train_subset: int | None = Field(None, gt=0)  # stratified sample of the training pool (AKD proxy: ~10K)
    image_size: int | None = Field(None, gt=0)  # imagefolder only: resize to this many pixels (default 32)
    seed: int = 0  # split seed: the same seed gives the same splits everywhere


class OptimConfig(Section):
    epochs: float = Field(30, gt=0)  # fractional epochs allowed for quick proxies
    batch_size: int = Field(128, ge=1)
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(5e-4, ge=0)
    warmup_epochs: float = Field(1.0, ge=0)  # linear warm-up from warmup_start * lr to lr
    warmup_start: float = Field(0.1, ge=0, le=1)
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    milestones: list[float] = [0.5, 0.75]  # step schedule: fractions of the run where lr *= gamma
    gamma: float = Field(0.1, gt=0, le=1)


class LossConfig(Section):
    name: str = "kd"  # ce | kd | od | feature_mse, or a weighted sum such as kd+0.5*feature_mse
    temperature: float = Field(4.0, gt=0)
    kd_weight: float = Field(0.9, ge=0, le=1)  # w in (1 - w) CE + w T^2 KL


class TrainConfig(Section):
    optim: OptimConfig = OptimConfig()
    loss: LossConfig = LossConfig()
    # none: plain inputs; views: K fixed augmented views with cached teacher outputs;
    # random: fresh crops/flips every step (teacher runs online)
    augment: Literal["none", "views", "random"] = "views"
    teacher_views: int = Field(4, ge=1)  # K for augment=views (view 0 is the plain image)
    # auto: on for CPU (measured faster); never for models whose convs hang oneDNN (models/layout.py)
    channels_last: Literal["auto", "on", "off"] = "auto"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    eval_batch_size: int = Field(500, ge=1)
    seed: int = 0


class PPOConfig(Section):
    hidden: int = Field(64, ge=4)
    lr: float = Field(5e-3, gt=0)  # the actor's Adam
    critic_lr: float = Field(5e-3, gt=0)  # the critic's own Adam (it shares no weights with the actor)
    epochs: int = Field(4, ge=1)  # PPO epochs over each batch
    clip: float = Field(0.2, gt=0)
    value_coef: float = Field(0.5, ge=0)
    entropy_coef: float = Field(1e-2, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    ev_min: float = Field(0.3, ge=0, le=1)  # use the critic's advantage once it explains this share of variance


class ReinforceConfig(Section):
    """ENAS controller settings (the values KDAS inherits from ENAS)."""

    hidden: int = Field(64, ge=4)
    lr: float = Field(1e-3, gt=0)  # ENAS macro search (controller_lr)
    tanh_constant: float = Field(1.5, gt=0)
    entropy_weight: float = Field(1e-4, ge=0)
    skip_target: float = Field(0.4, gt=0, lt=1)  # target density of add-on skip inputs
    skip_weight: float = Field(0.8, ge=0)
    baseline_decay: float = Field(0.99, ge=0, lt=1)


class EvolutionConfig(Section):
    population: int = Field(20, ge=2)  # P: archs kept alive
    sample: int = Field(5, ge=1)  # S: tournament size


class TPEConfig(Section):
    """Optuna's multivariate TPE (strategy: tpe)."""

    startup: int = Field(8, ge=1)  # random trials before the model is used
    candidates: int = Field(24, ge=1)  # candidates drawn from l(x) per suggestion (Optuna: n_ei_candidates)


class NSGA2Config(Section):
    """Optuna's NSGA-II over (accuracy, cost) with the reward target as a hard constraint (strategy: nsga2)."""

    population: int = Field(16, ge=2)  # archs per generation
    mutation: float | None = Field(None, gt=0, le=1)  # per-decision mutation probability (None: 1 / decisions)


REWARD_MODES = {"soft": (-0.07, -0.07), "hard": (0.0, -1.0)}


class RewardConfig(Section):
    metric: Literal["latency_ms", "macs", "params"] = "latency_ms"
    target: float = Field(1.0, gt=0)  # T, in the metric's unit (ms, MACs or parameters)
    mode: Literal["soft", "hard"] = "soft"
    alpha: float | None = None  # overrides the mode's exponent when M <= T
    beta: float | None = None  # overrides the mode's exponent when M > T

    def exponents(self) -> tuple[float, float]:
        a, b = REWARD_MODES[self.mode]
        return (a if self.alpha is None else self.alpha, b if self.beta is None else self.beta)


def _explain(exc: ValidationError, cls: type[BaseModel], where: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        model: Any = cls
        for part in err["loc"][:-1]:
            field = model.model_fields.get(str(part))
            model = field.annotation if field is not None else model
        fields = list(getattr(model, "model_fields", {}))
        key = str(err["loc"][-1])
        return f"unknown config key {where}{loc!r}{suggest(key, fields)}; allowed: {', '.join(fields)}"
    return f"bad config value {where}{loc}={err.get('input')!r}: {err['msg']}"


def validate(cls: type[M], data: dict | None, where: str = "") -> M:
    """Build a config model, turning pydantic's report into one clear line."""
    try:
        return cls.model_validate(data or {})
    except ValidationError as e:
        raise DistillnasError(_explain(e, cls, where)) from None


# ---------------------------------------------------------------------------------------
# Search


class TeacherSection(Section):
    spec: list[str] = []  # teacher specs (an ensemble when several); empty: train the ensemble below
    arch: str = "resnet8"  # members trained when spec is empty (cached in the run directory)
    seeds: list[int] = [0, 1, 2, 3, 4]
    epochs: float = Field(8, gt=0)


class SpaceConfig(Section):
    name: str = "mnasnet"  # mnasnet | resnet_depth (| addon)
    preset: str = "tiny"  # mnasnet base: tiny (28/32 px, small) | cifar | imagenet
    blocks: int | None = None  # mnasnet: number of blocks (default: the preset's 7)
    depths: list[int] = [1, 3, 5, 7]  # resnet_depth: blocks-per-stage choices
    backbone: str = "resnet20"  # addon: the backbone student (CIFAR ResNet or WRN)
    layers: list[int] | None = None  # addon: add-on layers after each stage (default one per stage)

    def options(self) -> dict:
        """The keyword arguments of the named space's constructor."""
        if self.name == "mnasnet":
            return {"preset": self.preset, "blocks": self.blocks}
        if self.name == "resnet_depth":
            return {"depths": self.depths}
        if self.name == "addon":
            return {"backbone": self.backbone, "layers": self.layers}
        return {}


class StrategyConfig(Section):
    name: str = "ppo"  # ppo | reinforce | evolution | tpe | nsga2 | random
    seed: int = 0
    ppo: PPOConfig = PPOConfig()
    tpe: TPEConfig = TPEConfig()
    nsga2: NSGA2Config = NSGA2Config()
    reinforce: ReinforceConfig = ReinforceConfig()
    evolution: EvolutionConfig = EvolutionConfig()


class ProxyConfig(Section):
    """AKD's proxy task: a few epochs of (KD) training on mini-train, top-1 on mini-val."""

    epochs: float = Field(5, gt=0)  # including warm-up (AKD: 5 with 1 warm-up epoch)
    warmup_epochs: float = Field(1, ge=0)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(0.1, gt=0)
    weight_decay: float = Field(4e-5, ge=0)
    loss: LossConfig = LossConfig(name="kd", temperature=1.0, kd_weight=0.9)  # AKD: T=1, w=0.9
    augment: Literal["none", "views", "random"] = "views"
    teacher_views: int = Field(2, ge=1)


class SupernetConfig(Section):
    """KDAS / ENAS weight sharing: shared-weight training alternates with controller updates."""

    epochs_per_batch: float = Field(1.0, gt=0)  # shared-weight training between controller updates
    batch_size: int = Field(128, ge=1)
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    grad_clip: float = Field(5.0, gt=0)  # ENAS bounds the child's gradient norm; unclipped, it collapsed
    loss: LossConfig = LossConfig(name="od", temperature=3.0, kd_weight=1.0)  # KDAS: T=3, lambda=0
    augment: Literal["none", "views", "random"] = "views"
    teacher_views: int = Field(2, ge=1)
    reward_batch: int = Field(256, ge=1)  # mini-val examples that score one sampled arch (a class-balanced window)
    controller_steps: int = Field(4, ge=0)  # extra controller updates after each shared-weight phase (ENAS: 50)
    controller_samples: int = Field(8, ge=1)  # archs per extra controller update (ENAS: 20)
    selection_samples: int = Field(64, ge=1)  # fresh samples of the final policy scored on all of mini-val
    selection_keep: int = Field(16, ge=0)  # plus the best archs the search scored (KDAS keeps candidates)
    memory_limit: float = Field(2.0, gt=0)  # params <= M: a multiple of the backbone's (<= 100) or absolute


class EvaluatorConfig(Section):
    name: str = "proxy"  # proxy | table | supernet
    proxy: ProxyConfig = ProxyConfig()
    supernet: SupernetConfig = SupernetConfig()
    table: str | None = None  # table evaluator: a file of 'code accuracy' lines (diswot_s1 format)


class CostConfig(Section):
    latency: str = "cpu"  # measurer: cpu (1 thread, pinned, batch 1) | none
    warmup: int = Field(5, ge=0)
    repeats: int = Field(20, ge=1)


class ExecutionConfig(Section):
    executor: str = "local"  # local | ray
    ray_address: str | None = None  # join an existing Ray cluster; None starts a local instance
    cpus_per_trial: float = Field(1, gt=0)
    gpus_per_trial: float = Field(0, ge=0)
    retries: int = Field(2, ge=0)  # re-runs of a trial whose worker died
    threads: int = Field(0, ge=0)  # torch threads for a local trial (0: leave as is)
    channels_last: Literal["auto", "on", "off"] = "auto"  # memory format of trials, supernet and teacher training


class LoopConfig(Section):
    trials: int = Field(40, ge=1)  # archs evaluated in all (paid: a repeat of a stored arch is free)
    batch_size: int = Field(8, ge=1)  # archs per controller update
    patience: int = Field(5, ge=1)  # batches in a row of repeats only: the policy has converged, the search ends
    max_repeats: float = Field(4.0, ge=0)  # free repeats allowed, as a multiple of `trials`, before it ends anyway
    top_k: int = Field(5, ge=1)  # best archs written to best.yaml


class FinalConfig(Section):
    """Retraining of the chosen students (`distillnas train --from-run`)."""

    optim: OptimConfig = OptimConfig(epochs=15)
    loss: LossConfig = LossConfig(name="kd", temperature=1.0, kd_weight=0.9)
    seeds: list[int] = [0, 1, 2]


class SearchConfig(Section):
    name: str = "akd_mnist5k"
    run_dir: str | None = None  # default: runs/<name>
    data: DataConfig = DataConfig()
    teacher: TeacherSection = TeacherSection()
    space: SpaceConfig = SpaceConfig()
    strategy: StrategyConfig = StrategyConfig()
    evaluator: EvaluatorConfig = EvaluatorConfig()
    reward: RewardConfig = RewardConfig()
    cost: CostConfig = CostConfig()
    execution: ExecutionConfig = ExecutionConfig()
    search: LoopConfig = LoopConfig()
    final: FinalConfig = FinalConfig()
