import math

import pytest
import torch
import torch.nn as nn

from distillnas.checkpoint import load_student
from distillnas.config import OptimConfig
from distillnas.data import TensorLoader
from distillnas.distill import build_loss
from distillnas.errors import DistillnasError
from distillnas.models import build_model
from distillnas.teachers import TeacherCache, load_teacher
from distillnas.training import fit, lr_lambda, train_student

from conftest import quick_cfg


def test_schedule_warmup_cosine_and_step():
    cfg = OptimConfig(epochs=10, warmup_epochs=2, warmup_start=0.1, schedule="cosine")
    f = lr_lambda(cfg, steps_per_epoch=10)
    assert f(0) == pytest.approx(0.1) and f(10) == pytest.approx(0.55) and f(20) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.5) and f(100) == pytest.approx(0.0, abs=1e-9)
    g = lr_lambda(OptimConfig(epochs=10, warmup_epochs=0, schedule="step", milestones=[0.5, 0.75]), 10)
    assert [g(49), g(50), g(75)] == pytest.approx([1.0, 0.1, 0.01])


def test_cosine_restarts_anneal_at_every_rung():
    """Warm restarts (multi-fidelity schedule "rung"): the lr falls to ~0 at each restart and
    begins again from the base lr; the warm-up stays in the first segment only."""
    cfg = OptimConfig(epochs=4, warmup_epochs=0.5, warmup_start=0.0, schedule="cosine")
    f = lr_lambda(cfg, steps_per_epoch=10, horizon=4, restarts=(1.0, 2.0))
    assert f(0) == 0.0 and f(5) == pytest.approx(1.0)  # warm-up, then the first cosine
    assert f(9) < 0.11 and f(10) == pytest.approx(1.0) and f(15) == pytest.approx(0.5)  # restart at epoch 1
    assert f(19) < 0.03 and f(20) == pytest.approx(1.0) and f(30) == pytest.approx(0.5) and f(39) < 0.01
    plain = lr_lambda(cfg, steps_per_epoch=10, horizon=4)
    assert plain(10) < 1.0 and plain(20) == pytest.approx(0.5 * (1 + math.cos(math.pi * 15 / 35)))


def test_ce_training_learns_the_synthetic_task(synth):
    ds, sp = synth
    run = train_student("resnet8-w0.25", quick_cfg(optim={"epochs": 4}), ds, sp, train_split="minitrain",
                        eval_splits=("minival", "test"))
    assert run.status == "ok" and run.metrics["test"] > 0.5 and run.params > 0


@pytest.mark.parametrize("augment", ["views", "random", "none"])
def test_kd_and_od_train_from_the_ensemble(teacher_dir, synth, tmp_path, augment):
    ds, sp = synth
    t = load_teacher(str(teacher_dir), ds)
    cache = TeacherCache(tmp_path / "cache")
    for loss in ("kd", "od"):
        cfg = quick_cfg(loss={"name": loss, "temperature": 3.0, "kd_weight": 0.9}, augment=augment, teacher_views=2)
        run = train_student("resnet8-w0.25", cfg, ds, sp, teacher=t, cache=cache, out_dir=tmp_path, seed=1)
        assert run.status == "ok" and run.metrics["test"] > 0.3
    ran_teacher = cache.teacher_batches
    assert (ran_teacher == 0) == (augment == "random")  # random augmentation runs the teacher online


def test_feature_loss_trains_a_projection(teacher_dir, synth):
    ds, sp = synth
    t = load_teacher(str(teacher_dir), ds)
    run = train_student("resnet8-w0.5", quick_cfg(loss={"name": "kd+0.5*feature_mse"}), ds, sp, teacher=t)
    assert run.status == "ok"


def test_checkpoint_rebuilds_the_trained_student(synth, tmp_path):
    ds, sp = synth
    run = train_student("resnet-1-1-2-w0.25", quick_cfg(optim={"epochs": 1}), ds, sp, out_dir=tmp_path, seed=4)
    model, meta = load_student(run.checkpoint)
    assert meta["arch"] == "resnet-1-1-2-w0.25" and meta["metrics"]["test"] == pytest.approx(run.metrics["test"])
    loader = TensorLoader(ds, sp.test, 1000)
    b = next(iter(loader))
    with torch.no_grad():
        acc = (model(b.x).argmax(-1) == b.y).float().mean().item()
    assert acc == pytest.approx(run.metrics["test"])


def test_divergence_ends_the_run_with_a_status(synth):
    ds, sp = synth

    class Exploding(nn.Module):
        needs_features = False

        def forward(self, logits, targets, teacher=None, features=None):
            return logits.sum() * math.inf

    model = build_model("resnet8-w0.25", 10, 3, 16)
    res = fit(model, Exploding(), TensorLoader(ds, sp.minitrain, 32), OptimConfig(epochs=1))
    assert res.status == "diverged" and "loss became" in res.error and res.steps == 0 and res.metrics == {}


def test_od_needs_an_ensemble_and_kd_a_teacher(teacher_dir, synth):
    ds, sp = synth
    single = load_teacher(str(sorted(teacher_dir.glob("*.pt"))[0]), ds)
    with pytest.raises(DistillnasError, match="oracle KD\\) needs an ensemble"):
        train_student("resnet8", quick_cfg(loss={"name": "od"}), ds, sp, teacher=single)
    with pytest.raises(DistillnasError, match="distils from a teacher"):
        train_student("resnet8", quick_cfg(loss={"name": "kd"}), ds, sp)
    with pytest.raises(DistillnasError, match="unknown config key 'optim.lrr' \\(did you mean 'lr'\\?\\)"):
        quick_cfg(optim={"lrr": 0.1})


class _OverflowingLoss(nn.Module):
    """CE plus a learned offset whose gradient is 1: a finite loss whose update can overflow."""

    needs_teacher = needs_features = False

    def __init__(self) -> None:
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(()))

    def forward(self, logits, y, t=None, feats=None):
        return nn.functional.cross_entropy(logits, y) + self.offset


@pytest.mark.parametrize("lr", [3e38, 1e300])
def test_an_overflowing_update_is_diverged_not_ok(synth, lr):
    """One step with a finite loss whose update leaves inf weights (3e38), or that torch refuses
    to apply (1e300): both end the run as diverged, never ok with broken weights."""
    ds, sp = synth
    loader = TensorLoader(ds, sp.minitrain[:64], 64)
    res = fit(build_model("resnet8-w0.25", 10, 3, 16), _OverflowingLoss(), loader,
              OptimConfig(epochs=1, lr=lr, warmup_epochs=0, weight_decay=0))
    assert res.status == "diverged" and res.metrics == {}
    assert ("'loss.offset' is not finite" in res.error) if lr == 3e38 else ("overflowed" in res.error)


@pytest.mark.parametrize("arch,unsafe", [("resnet8-w0.25", True), ("resnet8-w0.5", False), ("resnet20", False),
                                         ("mobilenetv2-w0.5", False)])
def test_channels_last_is_never_used_where_onednn_hangs(arch, unsafe):
    """resnet8-w0.25's shortcut Conv2d(4, 8, 1, stride=2) hangs oneDNN's channels-last backward."""
    from distillnas.models.layout import channels_last_hazard
    from distillnas.training import use_channels_last

    model = build_model(arch, 10, 3, 16)
    assert (channels_last_hazard(model) is not None) == unsafe
    cpu = torch.device("cpu")
    assert use_channels_last("auto", cpu, model) is (not unsafe)
    assert use_channels_last("on", cpu, model) is (not unsafe)
    assert use_channels_last("off", cpu, model) is False


def test_fit_turns_channels_last_off_for_an_unsafe_model(synth):
    ds, sp = synth
    loader = TensorLoader(ds, sp.minitrain[:64], 32, channels_last=True)
    model = build_model("resnet8-w0.25", 10, 3, 16)
    res = fit(model, build_loss("ce"), loader, OptimConfig(epochs=1, warmup_epochs=0), channels_last=True)
    assert res.status == "ok"
    assert all(p.is_contiguous() for p in model.parameters())
