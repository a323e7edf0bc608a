"""The modern distillation losses: their defining properties on hand-made inputs, and that
each trains a student end to end through the normal loss spec."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from distillnas.distill import (TeacherOutput, build_loss, cc_loss, dist_loss, dkd_loss, parse_loss_spec, pkt_loss,
                                rkd_loss, sp_loss)
from distillnas.distill.losses import kd_loss



def _logits(seed: int, b: int = 16, c: int = 5) -> torch.Tensor:
    return torch.randn(b, c, generator=torch.Generator().manual_seed(seed))


def test_dkd_without_its_terms_is_ce_and_vanishes_beyond_ce_when_student_is_teacher():
    s, t, y = _logits(0), _logits(1), torch.arange(16) % 5
    ce = F.cross_entropy(s, y)
    assert dkd_loss(s, t, y, 4.0, 0.0, 0.0) == pytest.approx(float(ce))  # no KD term: CE alone
    assert dkd_loss(t, t, y, 4.0, 1.0, 8.0) == pytest.approx(float(F.cross_entropy(t, y)), abs=1e-5)  # s == t
    assert dkd_loss(s, t, y) > ce


def test_dkd_parts_add_up_to_kl_as_the_paper_decomposes_it():
    s, t, y = _logits(2), _logits(3), torch.arange(16) % 5
    T = 2.0
    full = kd_loss(s, t, y, T, 1.0)  # T^2 KL alone
    p_t = F.softmax(t / T, -1)[torch.arange(16), y]
    tckd = dkd_loss(s, t, y, T, 1.0, 0.0) - F.cross_entropy(s, y)
    # DKD's Eq. 4: KL = TCKD + (1 - p_t^target) NCKD, exact per example
    for i in range(4):
        si, ti, yi = s[i:i + 1], t[i:i + 1], y[i:i + 1]
        kl = kd_loss(si, ti, yi, T, 1.0)
        tc = dkd_loss(si, ti, yi, T, 1.0, 0.0) - F.cross_entropy(si, yi)
        nc = dkd_loss(si, ti, yi, T, 0.0, 1.0) - F.cross_entropy(si, yi)
        assert float(kl) == pytest.approx(float(tc + (1 - p_t[i]) * nc), rel=1e-4)
    assert float(tckd) >= 0 and float(full) > 0


def test_dist_is_zero_for_a_perfect_match_up_to_scale_and_shift():
    s, y = _logits(4), torch.arange(16) % 5
    ce = float(F.cross_entropy(s, y))
    assert float(dist_loss(s, s, y)) == pytest.approx(ce, abs=1e-5)
    assert float(dist_loss(s, _logits(5), y)) > ce + 0.1


def test_relation_losses_vanish_on_identical_embeddings_and_ignore_width():
    f = torch.randn(12, 8, generator=torch.Generator().manual_seed(6))
    g = torch.randn(12, 20, generator=torch.Generator().manual_seed(7))
    for fn in (cc_loss, rkd_loss, pkt_loss, sp_loss):
        assert float(fn(f, f)) == pytest.approx(0.0, abs=1e-6), fn.__name__
        assert float(fn(f, g)) > 0, fn.__name__  # different widths compare: relations are B x B
    # RKD is invariant to scaling the student's embedding (distances are normalised by their mean)
    assert float(rkd_loss(3.0 * f, f)) == pytest.approx(0.0, abs=1e-6)
    # SP and CC compare normalised similarities: also blind to a global scale of the embedding
    assert float(sp_loss(2.0 * f, f)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("spec", ["dkd", "dist", "kd+1*cc", "kd+1*rkd", "kd+1*pkt", "kd+1*sp"])
def test_each_method_trains_a_student_and_lowers_its_loss(spec):
    torch.manual_seed(0)
    terms = [n for _, n in parse_loss_spec(spec)]
    loss = build_loss(spec, 4.0, 0.9, student_dim=6, teacher_dim=10)
    assert loss.needs_teacher and loss.needs_features == any(n in ("cc", "rkd", "pkt", "sp") for n in terms)
    x, y = torch.randn(32, 12), torch.arange(32) % 4
    teacher = TeacherOutput(torch.randn(2, 32, 4), torch.randn(2, 32, 10))
    body, head = torch.nn.Linear(12, 6), torch.nn.Linear(6, 4)
    opt = torch.optim.SGD([*body.parameters(), *head.parameters()], lr=0.1)
    first = None
    for _ in range(30):
        f = body(x)
        value = loss(head(f), y, teacher, f)
        first = value.item() if first is None else first
        opt.zero_grad()
        value.backward()
        opt.step()
    assert math.isfinite(value.item()) and value.item() < first


@pytest.mark.parametrize("spec", ["kd+1*rkd", "kd+1*sp"])
def test_a_relation_loss_with_a_logits_teacher_is_one_line_exit_2(tmp_path, capsys, spec):
    import numpy as np

    from distillnas.data import load_dataset
    from test_cli import run

    logits = tmp_path / "logits.npy"
    np.save(logits, np.zeros((len(load_dataset("synthetic")), 10), np.float32))
    code, _, err = run(capsys, "train", "--arch", "resnet8-w0.25", "--teacher", str(logits), "--loss", spec,
                       "--dataset", "synthetic", "--epochs", "1", "--seeds", "0", "--out", str(tmp_path / "o"))
    assert code == 2 and "is a logits file: it has no features" in err and len(err.strip().splitlines()) == 1, err


def _dkd_float64(s, t, y, temperature, alpha=1.0, beta=8.0):
    """DKD from its definition in float64, binary terms by logsumexp (the exact reference)."""
    s, t = s.double(), t.double()
    mask = F.one_hot(y, s.shape[-1]).bool()

    def binary(z):
        z = z / temperature
        whole, rest = torch.logsumexp(z, -1), torch.logsumexp(z.masked_fill(mask, -math.inf), -1)
        return torch.stack([z[mask] - whole, rest - whole], -1)
    ls, lt = binary(s), binary(t)
    tckd = (lt.exp() * (lt - ls)).sum(-1)
    qs = F.log_softmax((s / temperature).masked_fill(mask, -math.inf), -1)
    qt = F.log_softmax((t / temperature).masked_fill(mask, -math.inf), -1)
    nckd = (qt.exp() * (qt - qs)).masked_fill(mask, 0).sum(-1)
    return (F.cross_entropy(s, y, reduction="none") + temperature ** 2 * (alpha * tckd + beta * nckd)).mean()


@pytest.mark.parametrize("scale,temperature", [(1, 1), (10, 1), (30, 1), (1, 4), (10, 4), (30, 4)])
def test_dkd_gradient_matches_float64_when_the_student_is_saturated(scale, temperature):
    g = torch.Generator().manual_seed(scale * 10 + temperature)
    s, t = torch.randn(64, 10, generator=g) * scale, torch.randn(64, 10, generator=g) * scale
    y = torch.randint(0, 10, (64,), generator=g)
    s[torch.arange(64), y] += 2 * scale  # the student is sure of the target: 1 - p underflows in float32
    ref = s.double().requires_grad_()
    _dkd_float64(ref, t, y, temperature).backward()
    x = s.clone().requires_grad_()
    value = dkd_loss(x, t, y, temperature)
    value.backward()
    assert float(value.detach()) == pytest.approx(float(_dkd_float64(s, t, y, temperature)), rel=1e-5)
    assert float((x.grad.double() - ref.grad).norm() / ref.grad.norm()) < 1e-5


def test_rkd_matches_the_authors_distance_with_a_zero_diagonal_at_batch_64():
    g = torch.Generator().manual_seed(0)
    fs, ft = torch.randn(64, 32, generator=g) * 3, torch.randn(64, 48, generator=g) * 3

    def ref(a, b):
        def dist(f):
            f = f.double()
            eye = torch.eye(len(f), dtype=torch.bool)
            d = torch.where(eye, 0.0, ((f[:, None] - f[None]) ** 2).sum(-1).clamp_min(1e-30).sqrt())
            return d / d[d > 0].mean()

        def ang(f):
            e = F.normalize(f.double()[None] - f.double()[:, None], p=2, dim=2)
            return torch.bmm(e, e.transpose(1, 2)).flatten()
        return F.smooth_l1_loss(dist(a), dist(b)) + 2 * F.smooth_l1_loss(ang(a), ang(b))
    r = fs.double().requires_grad_()
    expected = ref(r, ft)
    expected.backward()
    x = fs.clone().requires_grad_()
    got = rkd_loss(x, ft)
    got.backward()
    assert float(got.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    assert float((x.grad.double() - r.grad).norm() / r.grad.norm()) < 1e-5
