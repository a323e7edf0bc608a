import pytest
import torch.nn as nn

from distillnas.config import RewardConfig
from distillnas.cost import Latency, LatencyCache, count_macs, idle_core, measure_cpu_latency
from distillnas.errors import DistillnasError
from distillnas.reward import mnas_reward, meets_target, trial_reward


def test_soft_and_hard_rewards_by_hand():
    assert mnas_reward(0.8, 2.0, 1.0) == pytest.approx(0.8 * 2.0 ** -0.07)
    assert mnas_reward(0.8, 0.5, 1.0) == pytest.approx(0.8 * 0.5 ** -0.07)  # soft: faster is rewarded too
    assert mnas_reward(0.8, 0.5, 1.0, 0.0, -1.0) == pytest.approx(0.8)  # hard: no bonus under the target
    assert mnas_reward(0.8, 4.0, 2.0, 0.0, -1.0) == pytest.approx(0.4)  # hard: 2x over -> halved
    with pytest.raises(DistillnasError, match="target must be > 0"):
        mnas_reward(0.8, 1.0, 0.0)


def test_trial_reward_rescoring_from_stored_results():
    trial = {"status": "ok", "accuracy": 0.9, "latency_ms": 3.0, "macs": 2e6, "params": 1000}
    soft = RewardConfig(metric="latency_ms", target=1.5)
    hard_macs = RewardConfig(metric="macs", target=4e6, mode="hard")
    assert trial_reward(trial, soft) == pytest.approx(0.9 * 2.0 ** -0.07)
    assert trial_reward(trial, hard_macs) == pytest.approx(0.9)
    assert meets_target(trial, hard_macs) and not meets_target(trial, soft)
    assert trial_reward({**trial, "status": "failed"}, soft) == 0.0


def test_macs_of_a_conv_by_hand():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert count_macs(conv, (1, 3, 10, 10)) == 8 * 10 * 10 * 3 * 3 * 3


def test_latency_is_measured_once_per_arch(tmp_path):
    calls = []
    cache = LatencyCache(lambda m, s: calls.append(1) or Latency(1.5, 0.1), tmp_path / "lat.json")
    model = nn.Linear(4, 2)
    assert cache.get("a", model, (1, 4)) == Latency(1.5, 0.1) == cache.get("a", model, (1, 4)) and len(calls) == 1
    assert LatencyCache(lambda m, s: Latency(9.9, 0), tmp_path / "lat.json").get("a", model, (1, 4)) == \
        Latency(1.5, 0.1)  # persisted, spread included
    (tmp_path / "old.json").write_text('{"a": 2.5}')  # a file from before spreads were kept
    assert LatencyCache(lambda m, s: Latency(9.9, 0), tmp_path / "old.json").get("a", model, (1, 4)).median_ms == 2.5
    assert measure_cpu_latency(nn.Conv2d(1, 4, 3), (1, 1, 8, 8), warmup=1, repeats=3) > 0


def test_a_noisy_latency_is_measured_again_and_the_steadiest_kept(monkeypatch):
    from distillnas.cost import latency

    seen = iter([Latency(1.0, 0.5), Latency(1.1, 0.3), Latency(1.2, 0.05)])
    repeats = []
    monkeypatch.setattr(latency, "time_forward", lambda m, s, w, r: repeats.append(r) or next(seen))
    assert latency.measure_cpu_latency_stats(nn.Linear(2, 2), (1, 2), 1, 10) == Latency(1.2, 0.05)
    assert repeats == [10, 20, 40]  # twice the repeats each time
    steady = iter([Latency(1.0, 0.01)])
    monkeypatch.setattr(latency, "time_forward", lambda m, s, w, r: next(steady))
    assert latency.measure_cpu_latency_stats(nn.Linear(2, 2), (1, 2), 1, 10) == Latency(1.0, 0.01)  # once


def test_latency_is_pinned_to_an_allowed_core():
    import os

    allowed = os.sched_getaffinity(0)
    assert idle_core(set(allowed)) in allowed and idle_core({min(allowed)}) == min(allowed)


def test_reward_mode_none_is_accuracy_with_no_target():
    from distillnas.reward import RewardConfig, meets_target, trial_reward

    cfg = RewardConfig(metric="params", mode="none")
    t = {"status": "ok", "accuracy": 0.8, "params": 10 ** 9, "macs": 1, "latency_ms": 1.0}
    assert trial_reward(t, cfg) == 0.8 and meets_target(t, cfg) and cfg.describe() == "none (reward = accuracy)"
