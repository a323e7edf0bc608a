"""Training schemes beyond one loss: TA-KD, RCO (with the teacher's route) and DML."""
import torch
import torch.nn.functional as F

from distillnas.checkpoint import load_student
from distillnas.config import DataConfig
from distillnas.teachers import load_teacher
from distillnas.training import SchemeConfig, check_scheme, route_checkpoints, train_teachers, train_with_scheme
from distillnas.training.cohort import MutualLoss

from conftest import quick_cfg


def test_teacher_route_keeps_anchors_and_trains_the_same_member(tmp_path):
    cfg = quick_cfg(augment="random", optim={"epochs": 2})
    train_teachers("resnet8-w0.25", [0], DataConfig(name="synthetic"), cfg, tmp_path / "plain")
    runs, _ = train_teachers("resnet8-w0.25", [0], DataConfig(name="synthetic"), cfg, tmp_path / "routed", route=2)
    anchors = route_checkpoints(tmp_path / "routed" / "route" / "seed0")
    assert [a.name for a in anchors] == ["e1.pt", "e2.pt"]
    assert not list((tmp_path / "routed" / "route" / "seed0").glob("*.state"))  # stage states are cleaned up
    assert len(list((tmp_path / "routed").glob("*.pt"))) == 1  # the member directory stays an ensemble of one
    plain, _ = load_student(next((tmp_path / "plain").glob("*.pt")))
    routed, _ = load_student(runs[0].checkpoint)
    final, _ = load_student(anchors[-1])
    early, _ = load_student(anchors[0])
    for (name, a), b, c, d in zip(plain.state_dict().items(), routed.state_dict().values(),
                                  final.state_dict().values(), early.state_dict().values()):
        assert torch.equal(a, b) and torch.equal(b, c), name  # continued stages = one plain run, bit for bit
    assert any(not torch.equal(a, d) for a, d in zip(plain.state_dict().values(), early.state_dict().values()))


def test_rco_distils_along_the_route(synth, tmp_path):
    ds, splits = synth
    cfg = quick_cfg(augment="random", optim={"epochs": 6})  # anchors at epochs 3 (~0.4 top-1) and 6
    train_teachers("resnet8-w0.5", [0], DataConfig(name="synthetic"), cfg, tmp_path / "t", route=2)
    scheme = SchemeConfig(name="rco", route=str(tmp_path / "t" / "route" / "seed0"))
    student_cfg = quick_cfg(loss={"name": "kd"}, optim={"epochs": 4})
    check_scheme(scheme, "resnet8-w0.25", ds, None, "kd")
    run = train_with_scheme("resnet8-w0.25", student_cfg, ds, splits, scheme, seed=0, out_dir=tmp_path / "s")
    assert run.status == "ok" and run.loss == "rco:kd" and run.metrics["test"] > 0.3
    assert run.checkpoint.endswith("rco_kd-seed0.pt") and not list((tmp_path / "s").glob("rco_state*"))
    plain = train_with_scheme("resnet8-w0.25", student_cfg, ds, splits, SchemeConfig(), seed=0,
                              teacher=load_teacher(str(tmp_path / "t" / "route" / "seed0" / "e6.pt"), ds),
                              out_dir=tmp_path / "s")
    assert plain.checkpoint != run.checkpoint  # both kept side by side
    a, _ = load_student(run.checkpoint)
    b, _ = load_student(plain.checkpoint)
    assert any(not torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_takd_trains_an_assistant_then_the_student(synth, tmp_path):
    ds, splits = synth
    train_teachers("resnet8-w0.5", [0], DataConfig(name="synthetic"), quick_cfg(augment="random"), tmp_path / "t")
    teacher = load_teacher(str(tmp_path / "t"), ds)  # 19,954 params; assistant 11,000-odd; student 5,214
    scheme = SchemeConfig(name="takd", assistant="resnet8-w0.375")
    check_scheme(scheme, "resnet8-w0.25", ds, teacher, "kd")
    cfg = quick_cfg(loss={"name": "kd"})
    run = train_with_scheme("resnet8-w0.25", cfg, ds, splits, scheme, teacher=teacher, seed=0, out_dir=tmp_path / "s")
    assert run.status == "ok" and run.loss == "takd:kd" and run.metrics["test"] > 0.3
    assistants = list((tmp_path / "s" / "assistants").glob("*.pt"))
    assert len(assistants) == 1 and "resnet8-w0.375" in assistants[0].name


def test_dml_trains_peers_mutually_and_saves_the_first(synth, tmp_path):
    ds, splits = synth
    run = train_with_scheme("resnet8-w0.25", quick_cfg(), ds, splits, SchemeConfig(name="dml", peers=3), seed=0,
                            out_dir=tmp_path)
    assert run.status == "ok" and run.loss == "dml:ce" and run.metrics["test"] > 0.3
    model, meta = load_student(run.checkpoint)
    assert meta["arch"] == "resnet8-w0.25" and sum(p.numel() for p in model.parameters()) == run.params


def test_mutual_loss_pulls_each_peer_toward_the_others():
    from distillnas.distill import build_loss

    base = build_loss("ce")
    y = torch.tensor([0, 1])
    same = torch.tensor([[2.0, 0.0], [0.0, 2.0]]).expand(2, 2, 2).clone()
    assert torch.isclose(MutualLoss(base)(same, y), 2 * F.cross_entropy(same[0], y))  # agreeing peers: CE only
    peers = torch.tensor([[[3.0, 0.0], [0.0, 3.0]], [[0.0, 0.0], [0.0, 0.0]]], requires_grad=True)
    MutualLoss(base)(peers, y).backward()
    # the undecided peer is pulled toward its confident partner beyond what CE alone asks
    ce_only = torch.autograd.grad(F.cross_entropy(peers[1], y), peers)[0][1]
    assert (peers.grad[1] - ce_only)[0, 0] < 0 and (peers.grad[1] - ce_only)[1, 1] < 0


def test_bss_moves_images_across_the_teacher_boundary_and_trains(synth, tmp_path):
    from distillnas.training.schemes import BoundarySupport

    ds, splits = synth
    train_teachers("resnet8-w0.5", [0], DataConfig(name="synthetic"), quick_cfg(augment="random"), tmp_path / "t")
    teacher = load_teacher(str(tmp_path / "t"), ds)
    term = BoundarySupport([teacher.module], 4.0, 2.0, 0.75, steps=20, step_size=0.05, samples=64)
    from distillnas.data import Normalizer

    x = Normalizer(ds)(ds.images[splits.test[:64]])
    y = ds.labels[splits.test[:64]]
    with torch.no_grad():
        z = teacher.module(x)
    right = z.argmax(1) == y
    adv = term.attack(x, y)
    assert len(adv) == int(right.sum()) > 10
    capped = BoundarySupport([teacher.module], 4.0, 2.0, 0.75, steps=2, step_size=0.05, samples=8).attack(x, y)
    assert len(capped) == 8  # bss_samples bounds the images attacked
    with torch.no_grad():
        za = teacher.module(adv)
    moved = (za.argmax(1) != y[right]).float().mean()
    assert moved > 0.8  # most samples end across (or on) the boundary
    assert (adv - x[right]).flatten(1).norm(dim=1).max() > 0
    assert term(torch.nn.Linear(1, 1), x, y, done=0.8).item() == 0.0  # beta has decayed to 0 after 75%
    cfg = quick_cfg(loss={"name": "kd"})
    scheme = SchemeConfig(name="bss")
    check_scheme(scheme, "resnet8-w0.25", ds, teacher, "kd")
    run = train_with_scheme("resnet8-w0.25", cfg, ds, splits, scheme, teacher=teacher, seed=0, out_dir=tmp_path / "s")
    assert run.status == "ok" and run.loss == "bss:kd" and run.metrics["test"] > 0.3
