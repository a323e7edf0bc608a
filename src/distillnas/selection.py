"""Which archs a finished search hands on: pure functions of stored trials and the reward."""
from __future__ import annotations

from typing import Any

from .reward import RewardConfig, meets_target, trial_reward


def _entry(t: dict[str, Any], reward: float, meets: bool) -> dict[str, Any]:
    return {"arch": t["arch"], "tokens": t["tokens"], "reward": reward, "accuracy": t["accuracy"],
            "latency_ms": t["latency_ms"], "macs": t["macs"], "params": t["params"], "meets_target": meets,
            "trial": t["id"]}


def select_best(trials: list[dict[str, Any]], reward: RewardConfig, top_k: int) -> list[dict[str, Any]]:
    """Top-k distinct archs by reward among the ok trials that meet the target (all, if none does)."""
    ok = [t for t in trials if t["status"] == "ok"]
    pool = [t for t in ok if meets_target(t, reward)] or ok
    best: dict[str, dict[str, Any]] = {}
    for t in pool:
        r = trial_reward(t, reward)
        if t["arch"] not in best or r > best[t["arch"]]["reward"]:
            best[t["arch"]] = _entry(t, r, meets_target(t, reward))
    return sorted(best.values(), key=lambda d: -d["reward"])[:top_k]


def most_accurate(trials: list[dict[str, Any]], reward: RewardConfig, top_k: int) -> list[dict[str, Any]]:
    """Top-k distinct archs by accuracy among the ok trials that meet the target: what a user
    means by "the best student under my budget". The reward (the papers' definition, which the
    search optimises) also pays a bonus for staying well under the target, so its ranking can
    put a less accurate, cheaper student first."""
    best: dict[str, dict[str, Any]] = {}
    for t in trials:
        if t["status"] == "ok" and meets_target(t, reward) and (
                t["arch"] not in best or t["accuracy"] > best[t["arch"]]["accuracy"]):
            best[t["arch"]] = _entry(t, trial_reward(t, reward), True)
    return sorted(best.values(), key=lambda d: -d["accuracy"])[:top_k]


def promotion_order(results: dict[int, dict[str, Any]], reward: RewardConfig, objectives: int = 1,
                    strata: int = 0) -> list[int]:
    """The ok slots of a rung, best first, as successive halving promotes them.

    One objective: by reward. Two (accuracy up, cost down, as nsga2 is told), with `strata` 0:
    Deb et al.'s constrained non-dominated sorting (NSGA-II, 2002) - students within the target
    before those over it (these by how far over), then by Pareto front, each front by reward - so
    a promotion keeps the trade-off the strategy searches, not one scalar of it. With `strata`
    k > 0 (`fidelity.promote: strata`, k = the number the rung promotes): the students within the
    target are cut into k strata of equal count by cost and each is ranked by accuracy, the best
    of every stratum first - see `_stratified`. Ties: the earlier slot; deterministic, so a
    resumed bracket promotes the same students."""
    ok = [s for s, r in results.items() if r["status"] == "ok"]
    rew = {s: trial_reward(results[s], reward) for s in ok}
    if objectives == 1:
        return sorted(ok, key=lambda s: (-rew[s], s))
    metric = reward.metric
    over = {s: max(0.0, float(results[s][metric] or 0.0) - reward.limit) for s in ok}
    within = [s for s in ok if over[s] == 0.0]
    rank = _stratified(results, within, metric, strata) if strata > 0 else _fronts(results, within, metric)
    return sorted(ok, key=lambda s: (over[s], rank.get(s, 0), -rew[s], s))


def _fronts(results: dict[int, dict[str, Any]], slots: list[int], metric: str) -> dict[int, int]:
    """Each slot's Pareto front (0: non-dominated) among `slots`."""
    front, left, level = {}, list(slots), 0
    while left:
        layer = [s for s in left if not any(_dominates(results[o], results[s], metric) for o in left if o != s)]
        for s in layer:
            front[s] = level
        left, level = [s for s in left if s not in front], level + 1
    return front


def _stratified(results: dict[int, dict[str, Any]], slots: list[int], metric: str, k: int) -> dict[int, int]:
    """Each slot's accuracy rank within its cost stratum: `slots` sorted by cost and cut into k
    runs of equal count. Why: a short rung favours large students (on the mnist5k216 ladder
    Spearman of accuracy with MACs is 0.54-0.61 at 3 epochs against 0.46-0.47 at 9), so a rung's
    Pareto front over-rates its expensive end; comparing a student only with others of about its
    cost takes that out, and spreads the promotions along the cost axis as a front needs
    (the aim of NSGA-II's crowding distance, met here by construction)."""
    by_cost = sorted(slots, key=lambda s: (float(results[s][metric] or 0.0), s))
    rank: dict[int, int] = {}
    for i in range(k):
        stratum = by_cost[i * len(by_cost) // k:(i + 1) * len(by_cost) // k]
        for j, s in enumerate(sorted(stratum, key=lambda s: (-results[s]["accuracy"], s))):
            rank[s] = j
    return rank


def _dominates(a: dict[str, Any], b: dict[str, Any], metric: str) -> bool:
    ca, cb = float(a[metric] or 0.0), float(b[metric] or 0.0)
    return a["accuracy"] >= b["accuracy"] and ca <= cb and (a["accuracy"] > b["accuracy"] or ca < cb)


def pareto_front(trials: list[dict[str, Any]], reward: RewardConfig) -> list[dict[str, Any]]:
    """Distinct archs within the target that no other one beats in both accuracy and cost,
    by accuracy (a multi-objective search returns the front, not a top-k)."""
    metric = reward.metric
    pts = list({t["arch"]: t for t in trials if t["status"] == "ok" and meets_target(t, reward)}.values())

    def dominated(t: dict[str, Any]) -> bool:
        return any(o["accuracy"] >= t["accuracy"] and o[metric] <= t[metric]
                   and (o["accuracy"] > t["accuracy"] or o[metric] < t[metric]) for o in pts)

    front = sorted((t for t in pts if not dominated(t)), key=lambda t: -t["accuracy"])
    return [_entry(t, trial_reward(t, reward), True) for t in front]
