import numpy as np
import pytest
import torch

from distillnas.config import StrategyConfig
from distillnas.strategies import build_strategy

SIZES, KINDS = [4, 2, 3, 4, 2, 3], ["op", "k", "w", "op", "k", "w"]


def reward(arch):
    # a known optimum: every decision's last option
    return sum(t == s - 1 for t, s in zip(arch, SIZES)) / len(SIZES)


@pytest.mark.parametrize("name", ["ppo", "reinforce", "evolution", "random"])
def test_strategies_ask_valid_archs_and_round_trip_their_state(name):
    s = build_strategy(StrategyConfig(name=name, seed=3), SIZES, KINDS)
    archs = s.ask(6)
    assert len(archs) == 6 and all(len(a) == len(SIZES) and all(0 <= t < n for t, n in zip(a, SIZES)) for a in archs)
    s.tell(archs, [reward(a) for a in archs])
    state = s.state_dict()
    twin = build_strategy(StrategyConfig(name=name, seed=99), SIZES, KINDS)
    twin.load_state_dict(state)
    assert twin.ask(5) == s.ask(5) and twin.updates == 1


def test_strategies_are_seeded():
    a = build_strategy(StrategyConfig(name="ppo", seed=1), SIZES, KINDS).ask(4)
    assert a == build_strategy(StrategyConfig(name="ppo", seed=1), SIZES, KINDS).ask(4)
    assert a != build_strategy(StrategyConfig(name="ppo", seed=2), SIZES, KINDS).ask(4)


@pytest.mark.parametrize("name", ["ppo", "reinforce", "evolution"])
def test_learning_strategies_beat_random_on_a_known_optimum(name):
    def final_mean(strategy_name, seed):
        s = build_strategy(StrategyConfig(name=strategy_name, seed=seed), SIZES, KINDS)
        for _ in range(25):
            archs = s.ask(8)
            s.tell(archs, [reward(a) for a in archs])
        return max(r for _, r in s.population) if strategy_name == "evolution" else \
            np.mean([reward(a) for a in s.ask(32)])
    learned = np.mean([final_mean(name, seed) for seed in range(3)])
    rand = np.mean([reward(a) for a in build_strategy(StrategyConfig(name="random"), SIZES, KINDS).ask(200)])
    assert learned > rand + 0.25, (learned, rand)


def test_ppo_update_moves_probability_toward_rewarded_choices():
    s = build_strategy(StrategyConfig(name="ppo", seed=0), [3], ["op"])
    before = s.probabilities()[0][2]
    for _ in range(10):
        archs = s.ask(8)
        s.tell(archs, [1.0 if a[0] == 2 else 0.0 for a in archs])
    assert s.probabilities()[0][2] > before + 0.2
    assert torch.isfinite(torch.tensor(s.probabilities())).all()


def test_reinforce_pulls_wiring_toward_the_target_density():
    from distillnas.config import ReinforceConfig

    cfg = StrategyConfig(name="reinforce", seed=0, reinforce=ReinforceConfig(lr=0.05))
    s = build_strategy(cfg, [2, 2, 2], ["wire", "wire", "wire"])
    for _ in range(60):
        archs = s.ask(8)
        s.tell(archs, [0.5] * 8)  # rewards say nothing: only the density penalty acts
    density = np.mean([np.mean(a) for a in s.ask(400)])
    assert abs(density - 0.4) < 0.08
