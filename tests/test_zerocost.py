"""Zero-cost scores: their formulas on networks small enough to check by hand, the study that
correlates them with tables, the training-free evaluator and the CLI."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from distillnas.analysis.zerocost import study
from distillnas.benchmarks import BenchmarkTable, write_benchmark
from distillnas.data import load_dataset, make_splits
from distillnas.errors import DistillnasError
from distillnas.evaluators.zerocost import unit
from distillnas.runconfig import load_search_config
from distillnas.search import run_search
from distillnas.spaces import build_space
from distillnas.teachers import load_teacher
from distillnas.zerocost import SCORES, Probe, make_probe, score_model
from distillnas.zerocost.scores import _distances, channel_distance, classifier_gradient, inspect, teacher_view

from conftest import tiny_overrides
from test_cli import run


class TinyNet(nn.Module):
    """conv -> ReLU -> pool -> linear, no BatchNorm: train and eval mode compute the same thing."""

    def __init__(self, width: int = 4, classes: int = 3) -> None:
        super().__init__()
        self.conv, self.act, self.fc = nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.act(self.conv(x)).mean((2, 3)))


def _probe(n: int = 8, classes: int = 3) -> Probe:
    g = torch.Generator().manual_seed(0)
    return Probe(torch.randn(n, 1, 6, 6, generator=g), torch.arange(n) % classes, classes)


def test_classifier_gradient_is_the_autograd_gradient_of_the_last_layer():
    torch.manual_seed(0)
    net, probe = TinyNet(), _probe()
    fw = inspect(net, probe.x)
    assert fw.feature_map.shape == (8, 4, 6, 6) and fw.features.shape == (8, 4)
    F.cross_entropy(net(probe.x), probe.y).backward()
    assert torch.allclose(classifier_gradient(fw, probe.y).float(), net.fc.weight.grad, atol=1e-6)


def test_diswot_is_zero_for_the_teacher_itself_and_negative_for_another_net():
    torch.manual_seed(0)
    teacher, probe = TinyNet(), _probe()
    probe.teachers = [teacher_view(teacher, probe.x, probe.y)]
    assert _distances(teacher, probe) == (0.0, 0.0, 0.0)
    torch.manual_seed(1)
    other = TinyNet(width=6)  # another width: the teacher's gradient is resampled to the student's channels
    ds, dk, dr = _distances(other, probe)
    assert ds > 0 and dk > 0 and dr > 0
    assert math.isclose(SCORES.get("diswot")(other, probe), -(ds + dr))
    assert math.isclose(SCORES.get("diswot_kk")(other, probe), -(dk + dr))
    with pytest.raises(DistillnasError, match="needs a teacher"):
        SCORES.get("diswot")(other, _probe())


def test_diswot_semantic_term_by_hand():
    """One class, two channels: teacher gradient (1, 0), student (1, 1). Channel maps g g^T with
    rows normalised: teacher [[1, 0], [0, 0]], student [[1, 1], [1, 1]] / sqrt 2. Squared
    distance (1 - 1/sqrt 2)^2 + 3/2 = 3 - sqrt 2, over C x K = 2."""
    assert math.isclose(channel_distance(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]])),
                        (3 - math.sqrt(2)) / 2, rel_tol=1e-6)


def _authors_channel_distance(f_t: np.ndarray, f_s: np.ndarray) -> float:
    """DisWOT's released `channel_similarity` written out with loops from its definition: per
    class, the student's gradient as (C, 1) and the teacher's as (C, C_t / C), each times its
    transpose, every row scaled to unit L2 norm; squared differences summed, over C x K."""
    k, c = f_s.shape
    total = 0.0
    for cls in range(k):
        mats = []
        for f in (f_t[cls].reshape(c, -1), f_s[cls].reshape(c, 1)):
            m = f @ f.T
            norms = np.maximum(np.sqrt((m ** 2).sum(axis=1, keepdims=True)), 1e-12)
            mats.append(m / norms)
        total += float(((mats[0] - mats[1]) ** 2).sum())
    return total / (c * k)


@pytest.mark.parametrize("teacher_width", [5, 10, 15])  # equal width, and teachers r = 2, 3 times wider
def test_channel_distance_matches_the_authors_definition(teacher_width):
    g = torch.Generator().manual_seed(teacher_width)
    t, s_ = torch.randn(4, teacher_width, generator=g), torch.randn(4, 5, generator=g)
    assert math.isclose(channel_distance(t, s_), _authors_channel_distance(t.numpy(), s_.numpy()), rel_tol=1e-6)


def test_channel_distance_resamples_a_teacher_of_another_width():
    g = torch.Generator().manual_seed(0)
    s_ = torch.randn(3, 4, generator=g)
    assert channel_distance(s_, s_) == 0.0
    t = torch.randn(3, 7, generator=g)  # 7 channels against 4: resampled to 8, then grouped 2 at a time
    resampled = F.interpolate(t[:, None, :], size=8, mode="linear", align_corners=True)[:, 0]
    assert math.isclose(channel_distance(t, s_), _authors_channel_distance(resampled.numpy(), s_.numpy()),
                        rel_tol=1e-6)


def test_synflow_of_one_linear_layer_is_the_sum_of_its_absolute_weights():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(36, 3))
    expected = float(net[1].weight.detach().abs().sum() + net[1].bias.detach().abs().sum())
    # R = sum_k (|W| 1 + |b|)_k, so sum theta * dR/dtheta = sum |W| + sum |b|
    assert math.isclose(SCORES.get("synflow")(net, _probe()), math.log(expected), rel_tol=1e-9)


def test_naswot_falls_when_the_network_cannot_tell_inputs_apart():
    torch.manual_seed(0)
    probe = _probe()
    distinct = SCORES.get("naswot")(TinyNet(width=16), probe)
    same = Probe(probe.x[:1].repeat(8, 1, 1, 1), probe.y, 3)
    torch.manual_seed(0)
    assert math.isfinite(distinct) and SCORES.get("naswot")(TinyNet(width=16), same) < distinct


def test_every_score_is_finite_and_repeatable_on_a_space_arch():
    ds = load_dataset("synthetic")
    splits = make_splits(ds, 0.1, 0.2, seed=0)
    space = build_space("mnasnet", blocks=2)
    tokens = space.sample(np.random.default_rng(0))
    torch.manual_seed(5)
    teacher = build_space("mnasnet", blocks=2).build(tokens, ds.num_classes, ds.in_channels, ds.input_size)
    from distillnas.teachers import ModuleTeacher
    probe = make_probe(ds, splits, ModuleTeacher(teacher, "t", "t", ds.num_classes), 16, 0)
    build = lambda: space.build(tokens, ds.num_classes, ds.in_channels, ds.input_size)  # noqa: E731
    first = score_model(build, SCORES.names(), probe, seed=3)
    assert set(first) == set(SCORES.names()) and all(math.isfinite(v) for v in first.values())
    assert score_model(build, SCORES.names(), probe, seed=3) == first
    assert score_model(build, ["grad_norm"], probe, seed=4)["grad_norm"] != first["grad_norm"]


def test_unit_keeps_the_order_of_scores():
    values = [-1e6, -3.0, -0.1, 0.0, 0.5, 700.0, 701.0, 1e9]
    units = [unit(v) for v in values]
    assert all(0 < u < 1 for u in units) and units == sorted(units) and len(set(units)) == len(units)


def _table(tmp_path, name: str, rows: dict[str, list[float]], space: dict) -> str:
    meta = {"space": space, "dataset": "synthetic", "input": "3x16x16", "classes": 10,
            "columns": "accuracy acc_seed0 acc_seed1"}
    return str(write_benchmark(tmp_path / f"{name}.txt", BenchmarkTable(meta, ["accuracy", "acc_seed0", "acc_seed1"],
                                                                        rows)))


def test_study_correlates_scores_with_each_column(tmp_path, capsys, teacher_dir):
    space_cfg = {"name": "resnet_depth", "depths": [1, 2], "width": 0.25}
    space = build_space(**space_cfg)
    keys = [space.table_key(t) for t in [(a, b, c) for a in range(2) for b in range(2) for c in range(2)]]
    depth = {k: sum(int(ch) for ch in k) for k in keys}
    up = _table(tmp_path, "deeper", {k: [50 + depth[k], 50 + depth[k], 50 + depth[k]] for k in keys}, space_cfg)
    down = _table(tmp_path, "shallower", {k: [60 - depth[k], 61 - depth[k], 60 - depth[k]] for k in keys}, space_cfg)
    st = study([up, down], ["params", "diswot", "naswot"], [str(teacher_dir)], batch_size=16)
    assert st.keys == sorted(keys) and st.noise_floor["deeper"] == pytest.approx(1.0)
    # params grow with depth: they rank the 'deeper' column positively, the other negatively
    assert st.tau["params", "deeper"] > 0.7 and st.tau["params", "shallower"] < -0.7
    assert all(math.isfinite(st.tau[n, c]) for n in st.scores for c in st.columns)
    out = tmp_path / "zc.json"
    code, _, err = run(capsys, "zerocost", up, down, "--scores", "params,macs", "--no-progress", "--out", str(out))
    assert code == 0, err
    saved = json.loads(out.read_text())
    assert saved["tau"]["params|deeper"] == pytest.approx(st.tau["params", "deeper"])
    assert len(saved["archs"]) == 8


def test_zerocost_cli_refuses_bad_input_in_one_line(tmp_path, capsys, teacher_dir):
    space_cfg = {"name": "resnet_depth", "depths": [1, 2], "width": 0.25}
    t = _table(tmp_path, "t", {"111": [1, 1, 1], "112": [2, 2, 2], "121": [3, 3, 3]}, space_cfg)
    cases = [(["--scores", "synflw"], "unknown zero-cost score 'synflw'"),
             (["--scores", "diswot"], "compares the student with a teacher network"),
             (["--scores", "params", "--space", "{bad"], "--space is not valid JSON")]
    for args, msg in cases:
        code, _, err = run(capsys, "zerocost", t, "--no-progress", *args)
        err = err.strip()
        assert code == 2 and msg in err and len(err.splitlines()) == 1, err
    logits = tmp_path / "logits.npy"
    np.save(logits, np.zeros((600, 10), np.float32))
    with pytest.raises(DistillnasError, match="logits file"):
        study([t], ["diswot"], [str(logits)])


def test_zerocost_evaluator_searches_without_training(tmp_path, teacher_dir):
    run = tmp_path / "run"
    cfg = load_search_config(None, tiny_overrides(run, teacher_dir, trials=4, batch=2, extra=[
        "--evaluator.name=zerocost", "--evaluator.zerocost.batch_size=16", "--reward.mode=hard"]))
    out = run_search(cfg, progress=False)
    assert out.trials == 4 and out.best
    import sqlite3
    with sqlite3.connect(run / "trials.sqlite") as db:
        stored = db.execute("SELECT status, accuracy, extra FROM trials").fetchall()
    for status, acc, extra in stored:
        score = json.loads(extra)["zerocost"]["diswot"]
        assert status == "ok" and score < 0 and acc == pytest.approx(unit(score))


def test_zerocost_evaluator_refuses_a_logits_teacher_before_any_work(tmp_path):
    ds = load_dataset("synthetic")
    logits = tmp_path / "logits.npy"
    np.save(logits, np.zeros((len(ds), 10), np.float32))
    cfg = load_search_config(None, [f"--run_dir={tmp_path / 'run'}", "--data.name=synthetic",
                                    f"--teacher.spec={logits}", "--evaluator.name=zerocost", "--space.blocks=2"])
    with pytest.raises(DistillnasError, match="logits-file teacher has none"):
        run_search(cfg, progress=False)
    assert not (tmp_path / "run").exists()
    assert load_teacher([str(logits)], ds).has_features is False


def test_a_teacher_score_screen_needs_a_distilling_proxy(tmp_path, teacher_dir):
    cfg = load_search_config(None, tiny_overrides(tmp_path / "s", teacher_dir, extra=[
        "--evaluator.proxy.loss.name=ce", "--evaluator.proxy.screen.score=diswot"]))
    with pytest.raises(DistillnasError, match="screen.score='diswot' compares students with the teacher"):
        run_search(cfg, progress=False)
    assert not (tmp_path / "s").exists()
    cfg = load_search_config(None, tiny_overrides(tmp_path / "s", teacher_dir, extra=[
        "--evaluator.proxy.screen.score=synflw"]))
    with pytest.raises(DistillnasError, match="unknown zero-cost score 'synflw'"):
        run_search(cfg, progress=False)


@pytest.mark.parametrize("arch,layers", [("resnet8", 7), ("resnet20", 19), ("wrn-16-2", 13), ("mobilenetv2-w0.5", 35)])
def test_naswot_sees_every_relu_of_each_family_functional_ones_included(arch, layers):
    from distillnas.models import build_model
    from distillnas.zerocost.scores import relu_codes
    model = build_model(arch, 10, 1, 28).train()
    modules = sum(isinstance(m, nn.ReLU) for m in model.modules())
    codes = relu_codes(model, torch.randn(4, 1, 28, 28))
    assert len(codes) == layers >= modules  # resnets call torch.relu: a module hook saw 7 of 19 / 1 of 13
    assert all(c.shape[0] == 4 and set(c.unique().tolist()) <= {0.0, 1.0} for c in codes)


@pytest.mark.parametrize("space", ["mnasnet", "addon", "resnet_depth"])
def test_naswot_sees_at_least_every_relu_module_of_each_space(space):
    from distillnas.zerocost.scores import relu_codes
    s = build_space(space, blocks=3) if space == "mnasnet" else build_space(space)
    model = s.build(s.sample(np.random.default_rng(0)), 10, 1, 28).train()
    assert len(relu_codes(model, torch.randn(4, 1, 28, 28))) >= sum(isinstance(m, nn.ReLU) for m in model.modules()) > 0


class PoolNet(nn.Module):
    """A classifier that pools with a module (as torchvision's): conv -> ReLU -> AdaptiveAvgPool2d -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 5, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).flatten(1))


def test_inspect_takes_the_map_that_feeds_a_pooling_module_not_its_1x1_output():
    model = PoolNet()
    x = torch.randn(4, 1, 6, 6)
    fw = inspect(model, x)
    expected = model.body[1](model.body[0](x))
    assert fw.feature_map.shape == (4, 5, 6, 6) and torch.allclose(fw.feature_map, expected)
    assert torch.allclose(fw.features, expected.mean((2, 3)), atol=1e-6)
    # a functionally pooled net keeps its last 4-D module output, as before
    assert inspect(TinyNet(), x).feature_map.shape == (4, 4, 6, 6)
