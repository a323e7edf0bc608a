"""Rewards from stored trial results: pure functions, so a finished search can be re-scored.

MnasNet's weighted product:  R = ACC * (M / T) ** w,  w = alpha if M <= T else beta,
where M is the student's cost (latency_ms, macs or params) and T the target.
Soft (default): alpha = beta = -0.07.  Hard: alpha = 0, beta = -1.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .errors import DistillnasError
from .section import Section

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


def check_target(target: float) -> None:
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
    return mnas_reward(float(result["accuracy"]), float(result[cfg.metric] or 0.0), cfg.target, alpha, beta)


def trial_objectives(result: dict, cfg: RewardConfig) -> tuple[float, float]:
    """(accuracy, cost) of one stored trial, for multi-objective strategies. A failed trial
    scores 0 and a cost far above the target, so it is dominated and infeasible."""
    if result.get("status") != "ok" or result.get("accuracy") is None:
        return 0.0, 1e3 * cfg.target
    return float(result["accuracy"]), float(result[cfg.metric] or 0.0)


def meets_target(result: dict, cfg: RewardConfig) -> bool:
    return result.get("status") == "ok" and float(result[cfg.metric] or 0.0) <= cfg.target
