"""Rewards from stored trial results: pure functions, so a finished search can be re-scored.

MnasNet's weighted product:  R = ACC * (M / T) ** w,  w = alpha if M <= T else beta,
where M is the student's cost (latency_ms, macs or params) and T the target.
Soft (default): alpha = beta = -0.07.  Hard: alpha = 0, beta = -1.

A target can be absolute (T = `target`, in the metric's unit) or relative to a reference
model measured on the same host in the same way (T = `target` x the reference's cost): a
latency in milliseconds is a property of one machine, a ratio to a reference travels.
"""
from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from .errors import DistillnasError
from .section import Section

REWARD_MODES = {"soft": (-0.07, -0.07), "hard": (0.0, -1.0), "none": (0.0, 0.0)}  # none: reward = accuracy


class RewardConfig(Section):
    """The reward: accuracy against a cost target (MnasNet's soft or hard form), on latency,
    MACs or params, with the target absolute or relative to a reference network."""
    metric: Literal["latency_ms", "macs", "params"] = "latency_ms"
    target: float = Field(1.0, gt=0, le=1e15)  # T in the metric's unit; with `reference`, a multiple of the reference's cost
    # a man-made model (e.g. resnet8) measured like every candidate, on this host, at the search's start
    reference: str | None = None
    reference_cost: float | None = Field(None, gt=0)  # the reference's measured cost, recorded by the search
    # soft / hard: MnasNet's exponents; none: no cost term, reward = accuracy (KDAS, whose limit is
    # the supernet evaluator's memory limit), every student within "the target"
    mode: Literal["soft", "hard", "none"] = "soft"
    alpha: float | None = Field(None, ge=-10, le=10)  # overrides the mode's exponent when M <= T
    beta: float | None = Field(None, ge=-10, le=10)  # overrides the mode's exponent when M > T

    def exponents(self) -> tuple[float, float]:
        """(alpha, beta): the exponents under and over the target for this mode."""
        a, b = REWARD_MODES[self.mode]
        return (a if self.alpha is None else self.alpha, b if self.beta is None else self.beta)

    @property
    def limit(self) -> float:
        """T in the metric's unit: the target itself, or the target times the reference's cost
        (infinite under mode none: no cost target)."""
        if self.mode == "none":
            return math.inf
        if self.reference is None:
            return self.target
        if self.reference_cost is None:
            raise DistillnasError(f"reward.target is relative to {self.reference!r}, whose cost has not been "
                                  "measured yet (the search measures it when it starts)")
        return self.target * self.reference_cost

    def describe(self) -> str:
        if self.mode == "none":
            return "none (reward = accuracy)"
        if self.reference is None:
            return f"{self.metric} <= {self.target:g}"
        cost = f" = {self.limit:.4g}" if self.reference_cost is not None else ""
        return f"{self.metric} <= {self.target:g} x {self.reference}{cost}"


def check_target(target: float) -> None:
    """Refuse a target that is not a finite positive number."""
    if not target > 0:
        raise DistillnasError(f"reward target must be > 0, got {target}")


def mnas_reward(accuracy: float, cost: float, target: float, alpha: float = -0.07, beta: float = -0.07) -> float:
    """ACC * (cost / target) ** (alpha if cost <= target else beta)."""
    check_target(target)
    if cost <= 0:
        return accuracy
    w = alpha if cost <= target else beta
    return accuracy * (cost / target) ** w


def trial_reward(result: dict, cfg: RewardConfig) -> float:
    """Reward of one stored trial (a dict with status, accuracy and the cost metrics).

    A failed or diverged trial earns 0, so the controller learns to avoid it.
    """
    if result.get("status") != "ok" or result.get("accuracy") is None:
        return 0.0
    alpha, beta = cfg.exponents()
    return mnas_reward(float(result["accuracy"]), float(result[cfg.metric] or 0.0), cfg.limit, alpha, beta)


def trial_objectives(result: dict, cfg: RewardConfig) -> tuple[float, float]:
    """(accuracy, cost) of one stored trial, for multi-objective strategies. A failed trial
    scores 0 and a cost far above the target, so it is dominated and infeasible."""
    if result.get("status") != "ok" or result.get("accuracy") is None:
        return 0.0, 1e3 * cfg.limit
    return float(result["accuracy"]), float(result[cfg.metric] or 0.0)


def meets_target(result: dict, cfg: RewardConfig) -> bool:
    """Whether a successful trial's cost is within the target."""
    return result.get("status") == "ok" and float(result[cfg.metric] or 0.0) <= cfg.limit
