"""The `evaluator` section of a search config: every evaluator's own section and their union,
torch-free so a run's config can be read (report, dashboard, `distillnas list`) without
importing evaluation or training code. What differs between evaluators and a reader of a run
needs (the metric's label, the loss trials train with, the last fidelity, ...) is declared on
the sections; the evaluators themselves (evaluators/) hold the code."""
from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Field, field_validator, model_validator

from .recipe import LossConfig, OptimConfig, SGDConfig, TrainConfig
from .section import MAX_EPOCHS, MAX_SEEDS, MAX_VIEWS, Section

# zero-cost scores that compare the student with a teacher network (distillnas.zerocost)
TEACHER_SCORES = ("diswot", "diswot_semantic", "diswot_relation", "diswot_kk")


class EvaluatorSection(Section):
    """What every evaluator's config holds: its name (the union's tag) and its own section."""

    name: str  # each variant narrows it to its Literal tag
    # what a trial's `accuracy` is: a top-1 accuracy in [0, 1] (printed in %), or a training-free
    # score mapped into (0, 1) (zerocost), printed as it is
    reports_accuracy: ClassVar[bool] = True
    # trials are scored with weights shared across them (a supernet), not trained each on its own
    shares_weights: ClassVar[bool] = False

    def metric_label(self) -> str:
        """The column title of a trial's `accuracy` in tables and reports."""
        return "top-1 (%)"

    def training_loss(self) -> Any:
        """The loss config each trial trains with (a `LossConfig`), or None when trials do not train
        one by one (tables, scores, shared weights)."""
        return None

    def seeds(self) -> list[int]:
        """The seeds each arch is trained with (one accuracy column each); [] for one."""
        return []

    def source_table(self) -> str | None:
        """The benchmark table trials are looked up in, or None when they are computed."""
        return None

    def loss_spec(self) -> tuple[str, str]:
        """(the loss spec candidates train with, the config key that sets it); 'ce' needs no
        teacher. The one place that decides whether a search needs a teacher."""
        return "ce", ""

    def top_fidelity(self) -> float | None:
        """The last rung's fidelity (epochs) of a multi-fidelity run: a trial stored at a lower one
        stopped early. None: one fidelity."""
        return None


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
    continues from its saved state; the lr schedule spans the last rung's epochs, so continuing
    to a rung is the same run (bit for bit) as training to it from the start."""

    epochs: list[int] | None = Field(None, max_length=20)  # the rungs, e.g. [1, 3, 9]; None: one fidelity (proxy.epochs)
    # the best 1/eta of a rung go on; 1: no halving - every arch runs every rung and each rung's
    # score is stored (a table run then yields a column per rung for the cost of the evaluations:
    # `table export --fidelity`)
    eta: int = Field(3, ge=1, le=100)
    # sh: every batch starts at the first rung, rung by rung; asha: the same bracket with
    # promotions as results arrive (no worker waits for a rung; Ray); hyperband: batches cycle
    # through Hyperband's brackets (start at rung s, with proportionally fewer archs), hedging
    # against a first rung too short to rank archs
    mode: Literal["sh", "asha", "hyperband"] = "sh"
    # what the strategy is told for each arch: its reward at the highest rung it reached, or at
    # the first rung (one fidelity for every arch)
    # two objectives (nsga2): how a rung ranks the students it promotes. front: constrained Pareto
    # fronts (NSGA-II); strata: the best by accuracy within each of k equal-count cost strata
    # (k = the number promoted), which takes out a short rung's bias toward large students
    # (bench/mo_fidelity.py: on held-out seeds it reached the full search's front in 45 of 60
    # seeds against 32, 37 against 25 within 3/4 of its cost). Runs made before this setting
    # existed promoted by front, and resume so.
    promote: Literal["front", "strata"] = Field("strata", json_schema_extra={"legacy": "front"})
    tell: Literal["highest", "first"] = "highest"
    # horizon: one cosine over the last rung, so a lower rung is scored mid-schedule at a high lr
    # (on Fashion-MNIST such rungs ranked at chance: Kendall tau 0.13 between 1 and 2 epochs over
    # 243 archs; -0.11 / 0.03 / 0.25 for rungs 1 / 2 / 3 against rung 5 over 24 students);
    # rung: the cosine restarts at every rung and falls to zero at its end (SGDR's warm restarts),
    # so every rung scores an annealed model - still one run, continued rung to rung
    schedule: Literal["horizon", "rung"] = "horizon"
    # a rung below the top is scored after re-estimating the student's batch-norm statistics on
    # this many training batches (0: as trained). A student stopped after an epoch or so carries
    # running statistics that lag its weights (training.loop.recalibrated); the top rung, the
    # saved state and every continuation are unchanged, so only the promotions can differ.
    # Measured (bench/recalibrate_rung.py, mnist5k216): 5 batches lift the 1-epoch rung's Kendall
    # tau with the 9-epoch score from 0.26-0.35 to 0.34-0.42 for 0.04 epochs of forward passes (a
    # 3-epoch rung's is unchanged), and on held-out search seeds [1, 9] halving reached the full
    # search's front within half its cost in 6 of 20 seeds against 4, [1, 3, 9] in 7 against 3
    # (bench/ledger_wave3.md). Runs made before it existed resume at 0.
    recalibrate: int = Field(5, ge=0, le=1000, json_schema_extra={"legacy": 0})

    @field_validator("epochs")
    @classmethod
    def _increasing(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (len(v) < 2 or any(not 1 <= e <= MAX_EPOCHS for e in v) or any(b <= a for a, b in zip(v, v[1:]))):
            raise ValueError(f"fidelity.epochs must be two or more increasing whole epochs in 1..{MAX_EPOCHS}, got {v}")
        return v


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
    """AKD's proxy evaluator: each candidate trained briefly (`proxy`), scored on mini-val."""
    name: Literal["proxy"] = "proxy"
    proxy: ProxyConfig = ProxyConfig()

    def training_loss(self) -> Any:
        return self.proxy.loss

    def metric_label(self) -> str:
        return "proxy top-1 (%)"  # a short proxy run's accuracy on mini-val, not a final accuracy

    def seeds(self) -> list[int]:
        return list(self.proxy.seeds or [])

    def loss_spec(self) -> tuple[str, str]:
        return self.proxy.loss.name, "evaluator.proxy.loss.name"

    def top_fidelity(self) -> float | None:
        epochs = self.proxy.fidelity.epochs
        return float(epochs[-1]) if epochs else None


class TableFidelity(Section):
    """Successive halving over tables of one space measured at increasing fidelity (e.g. the
    same protocol stopped after 1 epoch, then the full 3): every batch is looked up in the
    cheapest table first, the best 1/eta go on to the next, the last is `table` itself. A study
    of early stopping at the cost of lookups (`bench/mo_fidelity.py`)."""

    tables: list[str] = Field(..., min_length=1, max_length=19)  # lower-fidelity tables, cheapest first
    epochs: list[float] = Field(..., min_length=2, max_length=20)  # each table's fidelity, then the main table's
    eta: int = Field(3, ge=2, le=100)
    # sh: every batch starts at the first table; hyperband: batches cycle through Hyperband's
    # brackets (start at rung s, with proportionally fewer archs), so some archs are scored at
    # the top fidelity without passing a low rung that would have dropped them
    mode: Literal["sh", "hyperband"] = "sh"
    # two objectives (nsga2): how a rung ranks the students it promotes. front: constrained Pareto
    # fronts (NSGA-II); strata: the best by accuracy within each of k equal-count cost strata
    # (k = the number promoted), which takes out a short rung's bias toward large students
    # (bench/mo_fidelity.py: on held-out seeds it reached the full search's front in 45 of 60
    # seeds against 32, 37 against 25 within 3/4 of its cost). Runs made before this setting
    # existed promoted by front, and resume so.
    promote: Literal["front", "strata"] = Field("strata", json_schema_extra={"legacy": "front"})

    @model_validator(mode="after")
    def _rungs(self) -> "TableFidelity":
        if len(self.epochs) != len(self.tables) + 1 or any(not 0 < e <= MAX_EPOCHS for e in self.epochs) \
                or any(b <= a for a, b in zip(self.epochs, self.epochs[1:])):
            raise ValueError(f"fidelity.epochs must be {len(self.tables) + 1} increasing fidelities in "
                             f"(0, {MAX_EPOCHS}] (one per low-fidelity table, then the main table's), got {self.epochs}")
        return self


class TableEvaluatorConfig(EvaluatorSection):
    """A benchmark table as the evaluator: accuracies looked up, not trained."""
    name: Literal["table"] = "table"
    table: str | None = None  # a file of 'code accuracy' lines (diswot_s1 format) or a packaged table name
    fidelity: TableFidelity | None = None  # lower-fidelity tables for successive halving; None: one fidelity

    def source_table(self) -> str | None:
        return self.table

    def top_fidelity(self) -> float | None:
        return float(self.fidelity.epochs[-1]) if self.fidelity else None

    def table_at(self, fidelity: float | None) -> str | None:
        """The table a rung at `fidelity` looks its accuracies up in."""
        if self.fidelity is None or fidelity is None or fidelity >= self.fidelity.epochs[-1]:
            return self.table
        return self.fidelity.tables[self.fidelity.epochs.index(fidelity)]

    def metric_label(self) -> str:
        return "table top-1 (%)"


class SupernetConfig(SGDConfig):
    """KDAS / ENAS weight sharing: shared-weight training alternates with controller updates."""

    epochs_per_batch: float = Field(1.0, gt=0, le=1000)  # shared-weight training between controller updates
    lr: float = Field(0.05, gt=0)
    grad_clip: float = Field(5.0, gt=0)  # ENAS bounds the child's gradient norm; unclipped, it collapsed
    loss: LossConfig = LossConfig(name="od", temperature=3.0, kd_weight=1.0)  # KDAS: T=3, lambda=0
    augment: Literal["none", "views", "random"] = "views"
    teacher_views: int = Field(2, ge=1, le=MAX_VIEWS)
    reward_batch: int = Field(64, ge=1, le=65536)  # mini-val examples that score one sampled arch (a class-balanced window)
    # extra controller updates after each shared-weight phase (ENAS: 50 of 20 samples, each on
    # one val minibatch). Many steps on small windows beat few on large ones at equal cost: on
    # kdas_mnist5k, 4 steps x 200 images left the policy uniform, 20 x 50 learnt (bench/kdas_controller.py)
    controller_steps: int = Field(20, ge=0, le=1_000_000)
    controller_samples: int = Field(8, ge=1, le=10_000)  # archs per extra controller update (ENAS: 20)
    selection_samples: int = Field(64, ge=1, le=100_000)  # fresh samples of the final policy scored on all of mini-val
    selection_keep: int = Field(16, ge=0, le=10_000)  # plus the best archs the search scored (KDAS keeps candidates)
    memory_limit: float = Field(2.0, gt=0, le=100)  # M: params <= this multiple of the backbone's (KDAS: 2)
    memory_limit_params: int | None = Field(None, gt=0)  # or an absolute parameter count (overrides the multiple)

    @model_validator(mode="before")
    @classmethod
    def _absolute_limit(cls, data: Any) -> Any:
        """Configs before 0.3 wrote an absolute count into memory_limit (any value > 100)."""
        if isinstance(data, dict) and isinstance(data.get("memory_limit"), (int, float)) \
                and data["memory_limit"] > 100 and data.get("memory_limit_params") is None:
            data = {**data, "memory_limit_params": int(data["memory_limit"]), "memory_limit": 2.0}
        return data


class SupernetEvaluatorConfig(EvaluatorSection):
    """KDAS / ENAS weight sharing: candidates scored with one supernet's trained weights."""
    name: Literal["supernet"] = "supernet"
    supernet: SupernetConfig = SupernetConfig()
    shares_weights: ClassVar[bool] = True

    def loss_spec(self) -> tuple[str, str]:
        return self.supernet.loss.name, "evaluator.supernet.loss.name"

    def metric_label(self) -> str:
        return "shared-weight top-1 (%)"  # scored with the supernet's weights on a small window


class ZeroCostConfig(Section):
    """A zero-cost score at initialisation: which score, its probe batch and the seeds averaged."""
    score: str = "diswot"  # one of distillnas.zerocost.SCORES
    batch_size: int = Field(64, ge=2, le=4096)  # images in the probe batch (DisWOT: one mini-batch)
    data_seed: int = Field(0, ge=0)  # which training images form the probe batch (the same for every arch)
    seeds: list[int] = Field([0], min_length=1, max_length=MAX_SEEDS)  # initialisations averaged per arch


class ZeroCostEvaluatorConfig(EvaluatorSection):
    """A training-free evaluator: each candidate scored at initialisation (`zerocost`)."""
    name: Literal["zerocost"] = "zerocost"
    zerocost: ZeroCostConfig = ZeroCostConfig()
    reports_accuracy: ClassVar[bool] = False

    def metric_label(self) -> str:
        return f"{self.zerocost.score} (unit)"

    def loss_spec(self) -> tuple[str, str]:
        """DisWOT compares with the teacher: 'kd' makes the setup load (or train) and check one."""
        return ("kd" if self.zerocost.score in TEACHER_SCORES else "ce"), "evaluator.zerocost.score"


# The `evaluator` section of a search config: one variant per evaluator, chosen by `name`.
EvaluatorConfig = Annotated[Union[ProxyEvaluatorConfig, TableEvaluatorConfig, SupernetEvaluatorConfig,
                                     ZeroCostEvaluatorConfig],
                            Field(discriminator="name")]
