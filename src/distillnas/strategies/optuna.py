"""Model-based search through Optuna's ask-and-tell interface (optional extra `optuna`).

`tpe`: the multivariate Tree-structured Parzen Estimator (Bergstra et al., 2011; Falkner et
al., 2018 for the multivariate kernel), which models p(x | good) / p(x | bad) over all
decisions jointly. Each decision is one categorical parameter `d<i>` with choices
0..size-1; the strategy never sees modules, only tokens and rewards, like every other.

Our run store is the record, not Optuna's storage: the state is the list of (tokens,
reward) told so far, replayed into a fresh in-memory study on resume. An arch asked before a
kill and told after it becomes a completed trial by `add_trial`, so nothing is lost.
"""
from __future__ import annotations

from typing import Any, Sequence

from ..errors import DistillnasError
from .base import Strategy, Tokens


def _optuna():  # noqa: ANN202 - the module
    try:
        import optuna
    except ImportError:
        raise DistillnasError("strategy 'tpe' needs Optuna: pip install 'distillnas[optuna]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


class TPEStrategy(Strategy):
    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None = None, seed: int = 0,
                 startup: int = 8, candidates: int = 24) -> None:
        super().__init__(sizes, kinds, seed)
        self.optuna = _optuna()
        self.startup, self.candidates = startup, candidates
        self.history: list[tuple[Tokens, float]] = []
        self._new_study()

    def _sampler(self):  # noqa: ANN202 - an Optuna sampler
        """A sampler seeded by (seed, trials told): a resumed search proposes what the
        uninterrupted one would have, whatever the sampler's random state was at the kill."""
        return self.optuna.samplers.TPESampler(n_startup_trials=self.startup, n_ei_candidates=self.candidates,
                                               multivariate=True, seed=self.seed * 1_000_003 + len(self.history))

    def _new_study(self) -> None:
        o = self.optuna
        self.study = o.create_study(direction="maximize", sampler=self._sampler())
        self.dists = {f"d{i}": o.distributions.CategoricalDistribution(list(range(s))) for i, s in enumerate(self.sizes)}
        self.pending: dict[Tokens, list] = {}
        for tokens, reward in self.history:
            self._add(tokens, reward)

    def _add(self, tokens: Tokens, reward: float) -> None:
        params = {f"d{i}": int(t) for i, t in enumerate(tokens)}
        self.study.add_trial(self.optuna.trial.create_trial(params=params, distributions=self.dists, value=reward))

    def ask(self, n: int) -> list[Tokens]:
        self.study.sampler = self._sampler()
        out = []
        for _ in range(n):
            trial = self.study.ask(self.dists)
            tokens = tuple(int(trial.params[f"d{i}"]) for i in range(len(self.sizes)))
            self.pending.setdefault(tokens, []).append(trial)
            out.append(tokens)
        return out

    def tell(self, archs: Sequence[Tokens], rewards: Sequence[float]) -> None:
        for a, r in zip(archs, rewards):
            tokens, reward = tuple(int(t) for t in a), float(r)
            waiting = self.pending.get(tokens)
            if waiting:
                self.study.tell(waiting.pop(0), reward)
            else:  # asked before a resume: its trial object is gone
                self._add(tokens, reward)
            self.history.append((tokens, reward))
        self.updates += 1

    def _state(self) -> dict[str, Any]:
        return {"history": [[list(t), r] for t, r in self.history], "seed": self.seed}

    def _load(self, state: dict[str, Any]) -> None:
        self.history = [(tuple(int(x) for x in t), float(r)) for t, r in state["history"]]
        self.seed = int(state["seed"])
        self._new_study()
