import math

import pytest
import torch

from distillnas.distill import (FeatureMSE, TeacherOutput, build_loss, ce_loss, kd_loss, od_loss,
                                oracle_teacher_logits, parse_loss_spec)
from distillnas.errors import DistillnasError


def softmax(v, t=1.0):
    e = [math.exp(x / t) for x in v]
    return [x / sum(e) for x in e]


def ce_hand(s, y):
    return -math.log(softmax(s)[y])


def kl_hand(s, t, temp):
    p, q = softmax(t, temp), softmax(s, temp)
    return temp * temp * sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def test_ce_matches_hand_value():
    assert ce_loss(torch.tensor([[2.0, 0.0]]), torch.tensor([0])).item() == pytest.approx(math.log(1 + math.exp(-2)))


def test_kd_matches_hand_value():
    s, t, y, temp, w = [1.0, -0.5, 0.2], [2.0, 0.5, -1.0], 2, 2.0, 0.7
    want = (1 - w) * ce_hand(s, y) + w * kl_hand(s, t, temp)
    got = kd_loss(torch.tensor([s]), torch.tensor([t]), torch.tensor([y]), temp, w)
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_kd_batch_mean_and_limits():
    s = torch.tensor([[1.0, 0.0, -1.0], [0.3, 0.2, 0.1]])
    t = torch.tensor([[3.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    y = torch.tensor([0, 1])
    per = [0.1 * ce_hand(s[i].tolist(), int(y[i])) + 0.9 * kl_hand(s[i].tolist(), t[i].tolist(), 4.0) for i in range(2)]
    assert kd_loss(s, t, y, 4.0, 0.9).item() == pytest.approx(sum(per) / 2, rel=1e-5)
    assert kd_loss(s, t, y, 4.0, 0.0).item() == pytest.approx(ce_loss(s, y).item())  # w=0 is plain CE
    assert kd_loss(s, s, y, 3.0, 1.0).item() == pytest.approx(0.0, abs=1e-7)  # same logits: zero KL


def test_od_with_zero_one_and_all_members_right():
    # 3 members, 3 examples, 3 classes. Labels: 0, 1, 2.
    m = torch.tensor([
        [[0.0, 2.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0]],  # member 0: wrong, right, right
        [[0.0, 0.0, 2.0], [2.0, 0.0, 0.0], [0.0, 0.0, 2.0]],  # member 1: wrong, wrong, right
        [[0.0, 1.0, 3.0], [0.0, 0.0, 1.0], [1.0, 0.0, 4.0]],  # member 2: wrong, wrong, right
    ])
    y = torch.tensor([0, 1, 2])
    s = torch.tensor([[0.5, 0.1, -0.2], [0.0, 0.4, 0.3], [-0.3, 0.2, 0.6]])
    temp, w = 3.0, 0.8
    ex0 = ce_hand(s[0].tolist(), 0)  # nobody right: plain CE
    ex1 = (1 - w) * ce_hand(s[1].tolist(), 1) + w * kl_hand(s[1].tolist(), [0.0, 3.0, 0.0], temp)  # member 0 only
    mean_all = ((m[0, 2] + m[1, 2] + m[2, 2]) / 3).tolist()  # all right: the plain mean
    ex2 = (1 - w) * ce_hand(s[2].tolist(), 2) + w * kl_hand(s[2].tolist(), mean_all, temp)
    assert od_loss(s, m, y, temp, w).item() == pytest.approx((ex0 + ex1 + ex2) / 3, rel=1e-5)
    logits, count = oracle_teacher_logits(m, y)
    assert count.tolist() == [0, 1, 3]
    assert torch.allclose(logits[1], m[0, 1]) and torch.allclose(logits[2], torch.tensor(mean_all))


def test_od_equals_kd_when_every_member_is_right():
    m = torch.tensor([[[3.0, 0.0]], [[1.0, 0.5]]])
    s, y = torch.tensor([[0.2, 0.1]]), torch.tensor([0])
    assert od_loss(s, m, y, 3.0, 1.0).item() == pytest.approx(kd_loss(s, m.mean(0), y, 3.0, 1.0).item())


def test_feature_mse_identity_and_projection():
    f_s = torch.tensor([[1.0, 2.0]])
    same = FeatureMSE(2, 2)
    assert same(None, None, TeacherOutput(torch.zeros(1, 1, 3), torch.zeros(1, 1, 2)), f_s).item() == pytest.approx(2.5)
    # an ensemble's members side by side: (0, 0 | 2, 2), matched through a projection 2 -> 4
    proj = FeatureMSE(2, 4)
    assert sum(p.numel() for p in proj.parameters()) == 8
    with torch.no_grad():
        proj.proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]))
    f_t = torch.tensor([[[0.0, 0.0]], [[2.0, 2.0]]])  # (members, batch, dim)
    assert proj(None, None, TeacherOutput(torch.zeros(2, 1, 3), f_t), f_s).item() == pytest.approx(6.0 / 4)


def test_loss_specs_compose_by_name():
    assert parse_loss_spec("kd+0.5*feature_mse") == [(1.0, "kd"), (0.5, "feature_mse")]
    loss = build_loss("0.5*ce+kd", temperature=2.0, kd_weight=1.0)
    assert loss.needs_teacher and not loss.needs_features
    s, t, y = torch.tensor([[0.3, 0.1]]), torch.tensor([[[1.0, 0.0]]]), torch.tensor([1])
    want = 0.5 * ce_loss(s, y) + kd_loss(s, t[0], y, 2.0, 1.0)
    assert loss(s, y, TeacherOutput(t)).item() == pytest.approx(want.item())
    with pytest.raises(DistillnasError, match="unknown loss 'kdd'.*did you mean 'kd'"):
        parse_loss_spec("kdd")
    with pytest.raises(DistillnasError, match="bad loss term"):
        parse_loss_spec("kd+*2")
