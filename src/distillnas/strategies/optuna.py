"""Model-based and multi-objective search through Optuna's ask-and-tell interface (extra `optuna`).

`gp`: Gaussian-process Bayesian optimisation (Optuna's GPSampler: a Matern-5/2 kernel with
automatic relevance, log expected improvement maximised over the decisions; Snoek et al., 2012),
a model that shares what it learns between neighbouring numeric options and fits a few dozen
observations well - the regime of paid proxy trials.
`tpe`: the multivariate Tree-structured Parzen Estimator (Bergstra et al., 2011; Falkner et
al., 2018 for the multivariate kernel), which models p(x | good) / p(x | bad) over all
decisions jointly.
`nsga2`: NSGA-II (Deb et al., 2002) over two objectives, maximise accuracy and minimise the
cost metric, with the reward's target as a *hard constraint* (Deb's constrained domination:
a feasible arch beats any infeasible one). One search returns the whole accuracy-cost
Pareto front under the target, where the MnasNet reward needs one search per trade-off.

Each decision is one parameter `d<i>` over its tokens 0..size-1: strategies see tokens and
rewards only. An unordered decision (an op type) is categorical; an ordered one (a depth, a
kernel size: `Decision.ordered`) is an integer, so TPE's Parzen kernel over it is a discretised
Gaussian that lends a good depth 5 some of its mass to depths 3 and 7 (Bergstra et al., 2011
model numeric parameters this way), where a categorical kernel learns each option alone.
`ordinal: false` treats every decision as categorical.

A TPE proposal that repeats an arch already told (or out for evaluation) is replaced by the
untold arch nearest it (`arch.nearest_untold`: a one-step neighbour drawn uniformly, else the
next ring out): once the model has found its mode, the batch searches around it, the local
move of trust-region methods, where a repeat would teach nothing. Without it a model that
settles on one of several near-tied archs repeats it until the search ends (`repeat: keep`
restores that: repeats are free but idle). GP's proposals are deterministic given the data, so
one batch would be one arch eight times; for it a repeat of an arch proposed earlier in the
same batch moves too (`spread_batch`), and a batch is the model's best guess plus untold
neighbours of it. (For TPE, moving those too cost paid evaluations on diswot_s1.) The replaced
trial is told to Optuna as failed, and after the batch is told the study is rebuilt from the
history, so it holds exactly what a resumed one replays (TPE breaks ties between equal rewards
by trial order).

Our run store is the record, not Optuna's storage: the state is the list of (tokens, value)
told so far, replayed into a fresh in-memory study on resume (an arch asked before a kill and
told after it becomes a completed trial by `add_trial`), and the sampler is re-seeded from
(seed, trials told) before each batch, so a resumed search proposes what an uninterrupted
one would.
"""
from __future__ import annotations

import warnings
from abc import abstractmethod
from typing import Any, ClassVar, Literal, Sequence

import torch
from pydantic import Field

from ..arch import nearest_untold
from ..errors import DistillnasError
from ..section import Section
from .base import STRATEGIES, Arch, Strategy, StrategySection

Value = float | tuple[float, float]


def _optuna():  # noqa: ANN202 - the module
    try:
        import optuna
    except ImportError:
        raise DistillnasError("strategies 'tpe' and 'nsga2' need Optuna: pip install 'distillnas[optuna]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


class _OptunaStrategy(Strategy):
    directions: list[str] = ["maximize"]
    repeat: str = "keep"  # a proposal of an arch already told: "keep" it, or ask its "neighbour" instead
    spread_batch = False  # with repeat "neighbour": also move a repeat of an arch asked earlier in the batch

    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None, seed: int,
                 ordered: Sequence[bool] | None = None) -> None:
        super().__init__(sizes, kinds, seed)
        self.ordered = [bool(o) for o in ordered] if ordered is not None else [False] * len(self.sizes)
        self.optuna = _optuna()
        self.history: list[tuple[Arch, Value, dict]] = []  # tokens, value, the sampler's system attrs
        self._new_study()

    @abstractmethod
    def sampler(self):  # noqa: ANN201 - an Optuna sampler, seeded by (seed, trials told)
        """The sampler for the next batch."""

    def _seed(self) -> int:
        return self.seed * 1_000_003 + len(self.history)

    def _new_study(self) -> None:
        o = self.optuna
        self.study = o.create_study(directions=self.directions, sampler=self.sampler())
        dist = o.distributions
        self.dists = {f"d{i}": dist.IntDistribution(0, s - 1) if ordered and s > 1 else
                      dist.CategoricalDistribution(list(range(s)))
                      for i, (s, ordered) in enumerate(zip(self.sizes, self.ordered))}
        self.pending: dict[Arch, list] = {}
        self.moved = False  # a proposal was replaced by a neighbour since the study was built
        for tokens, value, system in self.history:
            self._add(tokens, value, system)

    def _values(self, value: Value) -> list[float]:
        return [float(value)] if not isinstance(value, (tuple, list)) else [float(v) for v in value]

    def _attrs(self, value: Value) -> dict[str, Any]:
        """User attributes recorded with a told trial (NSGA-II: the constraint violation)."""
        return {}

    def _add(self, tokens: Arch, value: Value, system: dict | None = None) -> None:
        """A completed trial without ask(), with the sampler's bookkeeping of the original
        (NSGA-II's generation and parents) when there was one. Optuna's after_trial hook does
        not run for these, so the constraint it would compute is written as it stores it."""
        params = {f"d{i}": int(t) for i, t in enumerate(tokens)}
        attrs = self._attrs(value)
        system = dict(system or {})
        if "violation" in attrs:
            system["constraints"] = [attrs["violation"]]
        self.study.add_trial(self.optuna.trial.create_trial(params=params, distributions=self.dists,
                                                            values=self._values(value), user_attrs=attrs,
                                                            system_attrs=system))

    def ask(self, n: int) -> list[Arch]:
        self.study.sampler = self.sampler()
        taken = {t for t, _, _ in self.history} | {t for t, w in self.pending.items() if w}
        out = []
        for _ in range(n):
            trial = self.study.ask(self.dists)
            tokens = tuple(int(trial.params[f"d{i}"]) for i in range(len(self.sizes)))
            near = nearest_untold(tokens, self.sizes, self.ordered, taken, self.rng) \
                if self.repeat == "neighbour" and tokens in taken else None
            if near is not None:  # told to Optuna as failed; the neighbour is told by add_trial (tell())
                self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
                tokens = near
                self.moved = True
            else:
                self.pending.setdefault(tokens, []).append(trial)
            if self.spread_batch:
                taken.add(tokens)
            out.append(tokens)
        return out

    def rescore_repeats(self) -> None:
        self.repeat = "keep"

    def tell(self, archs: Sequence[Arch], rewards: Sequence[Value]) -> None:
        for a, r in zip(archs, rewards):
            tokens = tuple(int(t) for t in a)
            value = tuple(float(v) for v in r) if isinstance(r, (tuple, list)) else float(r)
            waiting = self.pending.get(tokens)
            if waiting:
                trial = waiting.pop(0)
                for k, v in self._attrs(value).items():
                    trial.set_user_attr(k, v)
                frozen = self.study.tell(trial, self._values(value))
                system = dict(frozen.system_attrs)
            else:  # asked before a resume (its trial object is gone), or a repeat's neighbour
                self._add(tokens, value)
                system = {}
            self.history.append((tokens, value, system))
        self.updates += 1
        if self.moved:  # the study as a resume would replay it: no failed trials, history's order
            self._new_study()

    def _state(self) -> dict[str, Any]:
        return {"history": [[list(t), list(v) if isinstance(v, tuple) else v, sys] for t, v, sys in self.history],
                "seed": self.seed}

    def _load(self, state: dict[str, Any]) -> None:
        self.history = [(tuple(int(x) for x in t), tuple(v) if isinstance(v, list) else float(v), dict(sys))
                        for t, v, sys in state["history"]]
        self.seed = int(state["seed"])
        self._new_study()


class TPESettings(Section):
    """Optuna's multivariate TPE (strategy: tpe)."""

    startup: int = Field(8, ge=1, le=100_000)  # random trials before the model is used
    candidates: int = Field(24, ge=1, le=10_000)  # candidates drawn from l(x) per suggestion (Optuna: n_ei_candidates)
    ordinal: bool = True  # ordered decisions as integers (a numeric kernel); false: all categorical
    # On: the asks of one batch see each other as bad results, so a batch spreads out (Optuna
    # 5's default). Off (Optuna 3-4's default, pinned here so an upgrade changes nothing): a
    # batch may repeat an arch, which costs no evaluation but leaves a worker idle; on
    # diswot_s1 it reaches the best in fewer paid evaluations (bench/strategies_diswot.py).
    constant_liar: bool = False
    # A proposal that repeats an arch already told: replaced by the nearest untold arch
    # ("neighbour": the batch searches around the model's mode), or kept as a free repeat
    # ("keep"; a model settled on one of several near-tied archs then ends the search there).
    repeat: Literal["neighbour", "keep"] = "neighbour"


class TPEConfig(StrategySection):
    """The `tpe` strategy's section."""
    name: Literal["tpe"] = "tpe"
    tpe: TPESettings = TPESettings()


class TPEStrategy(_OptunaStrategy):
    """Optuna's multivariate TPE over the space's decisions."""
    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None = None, seed: int = 0,
                 startup: int = 8, candidates: int = 24, ordered: Sequence[bool] | None = None,
                 constant_liar: bool = False, repeat: str = "neighbour") -> None:
        self.startup, self.candidates, self.constant_liar, self.repeat = startup, candidates, constant_liar, repeat
        super().__init__(sizes, kinds, seed, ordered)

    def sampler(self):  # noqa: ANN201
        return self.optuna.samplers.TPESampler(n_startup_trials=self.startup, n_ei_candidates=self.candidates,
                                               multivariate=True, constant_liar=self.constant_liar,
                                               seed=self._seed())


class GPSettings(Section):
    """Optuna's Gaussian-process sampler (strategy: gp; Optuna >= 4.0)."""

    startup: int = Field(8, ge=1)  # random trials before the model is used
    ordinal: bool = True  # ordered decisions as integers (a distance between depths); false: all categorical
    # True: rewards are exact (a lookup table), the GP fits them without observation noise.
    # False (default): proxy accuracies carry seed noise; the GP learns a noise level.
    deterministic: bool = False
    repeat: Literal["neighbour", "keep"] = "neighbour"  # as tpe.repeat, and within a batch too


class GPConfig(StrategySection):
    """The `gp` strategy's section."""
    name: Literal["gp"] = "gp"
    gp: GPSettings = GPSettings()


class GPStrategy(_OptunaStrategy):
    """Optuna's Gaussian-process sampler over the space's decisions."""
    spread_batch = True

    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None = None, seed: int = 0,
                 startup: int = 8, ordered: Sequence[bool] | None = None, deterministic: bool = False,
                 repeat: str = "neighbour") -> None:
        self.startup, self.deterministic, self.repeat = startup, deterministic, repeat
        super().__init__(sizes, kinds, seed, ordered)

    def ask(self, n: int) -> list[Arch]:
        """Optuna's GP runs on torch with tiny matrices: one thread, or OpenMP's hand-offs
        dominate (a 48-trial search took 393 s with 2 threads on 2 busy cores, 24 s with 1)."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return super().ask(n)
        finally:
            torch.set_num_threads(threads)

    def sampler(self):  # noqa: ANN201
        samplers = self.optuna.samplers
        if not hasattr(samplers, "GPSampler") or int(self.optuna.__version__.split(".")[0]) < 4:
            raise DistillnasError(f"strategy 'gp' needs Optuna >= 4.0 (found {self.optuna.__version__}): "
                                  "pip install -U 'optuna>=4'")
        return samplers.GPSampler(n_startup_trials=self.startup, seed=self._seed(),
                                  deterministic_objective=self.deterministic)


class NSGA2Settings(Section):
    """Optuna's NSGA-II over (accuracy, cost) with the reward target as a hard constraint (strategy: nsga2)."""

    population: int = Field(16, ge=2, le=10_000)  # archs per generation
    mutation: float | None = Field(None, gt=0, le=1)  # per-decision mutation probability (None: 1 / decisions)
    ordinal: bool = True  # ordered decisions as integers; false: all categorical


class NSGA2Config(StrategySection):
    """The `nsga2` strategy's section (two objectives: accuracy up, cost down)."""
    name: Literal["nsga2"] = "nsga2"
    nsga2: NSGA2Settings = NSGA2Settings()
    objectives: ClassVar[int] = 2


class NSGA2Strategy(_OptunaStrategy):
    """Told (accuracy, cost) per arch; cost above `target` violates the constraint."""

    directions = ["maximize", "minimize"]
    objectives = 2  # the search loop tells this strategy (accuracy, cost), not a scalar reward

    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None = None, seed: int = 0,
                 target: float = 1.0, population: int = 16, mutation: float | None = None,
                 ordered: Sequence[bool] | None = None) -> None:
        self.target, self.population, self.mutation = target, population, mutation
        super().__init__(sizes, kinds, seed, ordered)

    def sampler(self):  # noqa: ANN201
        with warnings.catch_warnings():  # constraints_func: deprecated in Optuna 5, still what drives
            warnings.simplefilter("ignore", FutureWarning)  # constrained domination there (kept until 7)
            return self.optuna.samplers.NSGAIISampler(
                population_size=self.population, mutation_prob=self.mutation, seed=self._seed(),
                constraints_func=lambda t: [t.user_attrs.get("violation", 0.0)])

    def _attrs(self, value: Value) -> dict[str, Any]:
        return {"violation": float(value[1]) - self.target}  # <= 0: feasible


@STRATEGIES.register("tpe", "Optuna's multivariate TPE (Bayesian, tree-structured Parzen estimators)")
def _build_tpe(sizes: list[int], kinds: list[str], cfg: TPEConfig, target: float,
                sources: list[int | None], ordered: list[bool]) -> TPEStrategy:
    return TPEStrategy(sizes, kinds, cfg.seed, cfg.tpe.startup, cfg.tpe.candidates,
                       ordered if cfg.tpe.ordinal else None, cfg.tpe.constant_liar, cfg.tpe.repeat)


@STRATEGIES.register("gp", "Optuna's Gaussian-process Bayesian optimisation (Optuna >= 4)")
def _build_gp(sizes: list[int], kinds: list[str], cfg: GPConfig, target: float,
               sources: list[int | None], ordered: list[bool]) -> GPStrategy:
    return GPStrategy(sizes, kinds, cfg.seed, cfg.gp.startup, ordered if cfg.gp.ordinal else None,
                      cfg.gp.deterministic, cfg.gp.repeat)


@STRATEGIES.register("nsga2", "Optuna's NSGA-II: the accuracy-cost Pareto front under the target")
def _build_nsga2(sizes: list[int], kinds: list[str], cfg: NSGA2Config, target: float,
                  sources: list[int | None], ordered: list[bool]) -> NSGA2Strategy:
    return NSGA2Strategy(sizes, kinds, cfg.seed, target, cfg.nsga2.population, cfg.nsga2.mutation,
                         ordered if cfg.nsga2.ordinal else None)
