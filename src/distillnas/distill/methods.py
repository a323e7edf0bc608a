"""The modern standard set of distillation losses, registered beside ce / kd / od / feature_mse.

Logit losses (complete objectives, cross-entropy with the labels included, like `kd`):
  dkd   Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022
  dist  Huang et al., "Knowledge Distillation from A Stronger Teacher", NeurIPS 2022
Relation losses on penultimate embeddings (pure terms: add them to a logit loss, e.g.
`kd+1*rkd`; every one compares batch-relation matrices, so teacher and student widths may
differ; with an ensemble the loss is averaged over members, whose embedding spaces differ):
  cc    Peng et al., "Correlation Congruence for Knowledge Distillation", ICCV 2019
  rkd   Park et al., "Relational Knowledge Distillation", CVPR 2019
  pkt   Passalis & Tefas, "Learning Deep Representations with Probabilistic Knowledge
        Transfer", ECCV 2018
  sp    Tung & Mori, "Similarity-Preserving Knowledge Distillation", ICCV 2019
The temperature is the loss section's; the other constants are fixed at the values below.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import DistillnasError
from .losses import LOSSES

EPS = 1e-8


def _binary_log_probs(z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log (p_target, 1 - p_target) of softmax(z), both from logsumexps: `1 - p` in float32
    rounds to 0 for a saturated softmax and then loses the target-class gradient."""
    whole = torch.logsumexp(z, -1)
    big = torch.finfo(z.dtype).max / 4
    rest = torch.logsumexp(z - mask * big, -1)  # the non-target classes only
    return torch.stack([z[mask] - whole, rest - whole], -1)


def dkd_loss(s: torch.Tensor, t: torch.Tensor, y: torch.Tensor, temperature: float = 4.0, alpha: float = 1.0,
             beta: float = 8.0) -> torch.Tensor:
    """CE + alpha TCKD + beta NCKD (T^2-scaled). TCKD = KL(b_t || b_s) over the binary
    (target, rest) probabilities; NCKD = KL over the non-target classes renormalised. Our
    defaults alpha = 1, beta = 8, T = 4 are DKD's CIFAR-100 setting.

    Against the authors' code (mdistiller, `distillers/DKD.py`): the same loss, but the binary
    probabilities are taken in log space (logsumexp of the non-target logits) where mdistiller
    sums softmax entries and takes their log: at logit scale 10-40 its `1 - p` underflows and
    the target-class gradient is 10 % off, ours matches a float64 reference. mdistiller also
    ramps the KD terms in over its first 20 epochs (`warmup`); ours has no ramp: the loss
    section's schedule warm-up (optim.warmup_epochs) is the only warm-up."""
    mask = F.one_hot(y, s.shape[-1]).bool()
    zs, zt = s / temperature, t / temperature
    log_b_s, log_b_t = _binary_log_probs(zs, mask), _binary_log_probs(zt, mask)
    tckd = (log_b_t.exp() * (log_b_t - log_b_s)).sum(-1)
    big = torch.finfo(s.dtype).max / 4  # the target class removed from the non-target softmax
    log_q_s = F.log_softmax(zs - mask * big, -1)
    log_q_t = F.log_softmax(zt - mask * big, -1)
    nckd = (log_q_t.exp() * (log_q_t - log_q_s)).masked_fill(mask, 0.0).sum(-1)
    return (F.cross_entropy(s, y, reduction="none") + temperature ** 2 * (alpha * tckd + beta * nckd)).mean()


def _pearson_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a - a.mean(-1, keepdim=True), b - b.mean(-1, keepdim=True)
    return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1) + EPS)


def dist_loss(s: torch.Tensor, t: torch.Tensor, y: torch.Tensor, temperature: float = 1.0, beta: float = 1.0,
              gamma: float = 1.0) -> torch.Tensor:
    """CE + tau^2 (beta L_inter + gamma L_intra): L_inter = 1 - mean over examples of the
    Pearson correlation of the class-probability rows (relations between classes), L_intra =
    1 - mean over classes of the correlation of the probability columns across the batch
    (relations between examples). Our defaults beta = gamma = 1.

    Against the authors' code (DIST_KD, `dist_kd.py`): the same terms, but the temperature is
    the loss section's (`loss.temperature`, default 4 for every logit loss in distillnas)
    where the authors default to tau = 1: set `--loss.temperature=1` to match them."""
    p_s, p_t = F.softmax(s / temperature, -1), F.softmax(t / temperature, -1)
    inter = 1 - _pearson_rows(p_s, p_t).mean()
    intra = 1 - _pearson_rows(p_s.t(), p_t.t()).mean()
    return F.cross_entropy(s, y) + temperature ** 2 * (beta * inter + gamma * intra)


def cc_loss(fs: torch.Tensor, ft: torch.Tensor, gamma: float = 0.4, order: int = 2) -> torch.Tensor:
    """||C_t - C_s||^2 / B^2, C_ij = k(f_i, f_j) the Gaussian RBF exp(-gamma ||f_i - f_j||^2) of
    L2-normalised embeddings, by its Taylor expansion to `order`:
    sum_p exp(-2 gamma) (2 gamma)^p / p! (f_i . f_j)^p (our defaults gamma = 0.4, order 2).

    The difference of the correlation matrices is squared, as the paper's Eq. 6 writes it;
    RepDistiller's `Correlation` differs (it compares the embeddings' own correlation, without
    the kernel), so we match the paper, not that code."""
    def corr(f: torch.Tensor) -> torch.Tensor:
        f = F.normalize(f, dim=-1)
        dot = f @ f.t()
        return sum(math.exp(-2 * gamma) * (2 * gamma) ** p / math.factorial(p) * dot ** p for p in range(order + 1))
    return ((corr(ft) - corr(fs)) ** 2).mean()


def rkd_loss(fs: torch.Tensor, ft: torch.Tensor, w_distance: float = 1.0, w_angle: float = 2.0) -> torch.Tensor:
    """w_D Huber(psi_D) + w_A Huber(psi_A): pairwise distances normalised by their mean, and the
    cosines of the angles every triplet forms (the paper's lambda_D = 1, lambda_A = 2).

    As the authors' `pdist` (lenscloth/RelationalKnowledgeDistillation), the distance matrix's
    diagonal is exactly 0 and the mean is taken over the positive entries."""
    def distances(f: torch.Tensor) -> torch.Tensor:
        d = torch.cdist(f, f)  # its diagonal is not exactly 0 for batches over 25 (a matmul path)
        d = d.masked_fill(torch.eye(len(f), dtype=torch.bool, device=f.device), 0.0)  # as the authors' pdist
        return d / d[d > 0].mean().clamp_min(EPS)

    def angles(f: torch.Tensor) -> torch.Tensor:
        e = F.normalize(f.unsqueeze(0) - f.unsqueeze(1), p=2, dim=2)  # e[j, i] = (f_i - f_j) / ||.||
        return torch.bmm(e, e.transpose(1, 2)).flatten()
    with torch.no_grad():
        dt, at = distances(ft), angles(ft)
    return w_distance * F.smooth_l1_loss(distances(fs), dt) + w_angle * F.smooth_l1_loss(angles(fs), at)


def pkt_loss(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """KL(P_t || P_s) of the conditional probabilities P_ij = K(f_i, f_j) / sum_j K(f_i, f_j)
    under the cosine kernel K = (cos + 1) / 2, summed over j and averaged over i.

    RepDistiller's `PKT` takes the mean over all B x B entries, so its loss is ours / B: ours is
    the KL divergence per example, which keeps the term's size independent of the batch size
    (with B = 64, `kd+0.01*pkt` here is `kd+0.64*pkt` there)."""
    def cond(f: torch.Tensor) -> torch.Tensor:
        f = F.normalize(f, dim=-1)
        k = (f @ f.t() + 1.0) / 2.0
        return k / k.sum(1, keepdim=True)
    p_s, p_t = cond(fs), cond(ft)
    return (p_t * ((p_t + EPS).log() - (p_s + EPS).log())).sum(1).mean()


def batch_similarity(f: torch.Tensor) -> torch.Tensor:
    """G = F F^T over the batch (any trailing shape flattened), each row scaled to unit L2 norm:
    SP's similarity matrix, and DisWOT's relation matrix (distillnas.zerocost)."""
    f = f.flatten(1)
    return F.normalize(f @ f.t(), dim=1)


def sp_loss(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """||G_t - G_s||_F^2 / B^2 with G the batch similarity matrix."""
    return ((batch_similarity(ft) - batch_similarity(fs)) ** 2).sum() / fs.shape[0] ** 2


class LogitLoss(nn.Module):
    """A complete logit objective against the (member-averaged) teacher logits."""

    needs_teacher = True
    needs_features = False

    def __init__(self, fn, temperature: float) -> None:  # noqa: ANN001
        super().__init__()
        self.fn, self.temperature = fn, temperature

    def forward(self, logits, targets, teacher, features=None):  # noqa: ANN001, ANN201
        return self.fn(logits, teacher.logits.mean(0), targets, self.temperature)


class RelationLoss(nn.Module):
    """A relation term on penultimate embeddings, averaged over the teacher's members."""

    needs_teacher = True
    needs_features = True

    def __init__(self, fn, name: str) -> None:  # noqa: ANN001
        super().__init__()
        self.fn, self.name = fn, name

    def forward(self, logits, targets, teacher, features):  # noqa: ANN001, ANN201
        if teacher.features is None:
            raise DistillnasError(f"{self.name} needs teacher features, but the teacher gave none")
        fs = features.float()
        return sum(self.fn(fs, ft.float()) for ft in teacher.features) / len(teacher.features)


LOSSES.register("dkd", "decoupled KD (Zhao et al. 2022): target and non-target class terms")(
    lambda cfg, student_dim, teacher_dim: LogitLoss(dkd_loss, cfg.temperature))
LOSSES.register("dist", "DIST (Huang et al. 2022): inter- and intra-class Pearson relations")(
    lambda cfg, student_dim, teacher_dim: LogitLoss(dist_loss, cfg.temperature))
LOSSES.register("cc", "correlation congruence (Peng et al. 2019) between embeddings")(
    lambda cfg, student_dim, teacher_dim: RelationLoss(cc_loss, "cc"))
LOSSES.register("rkd", "relational KD (Park et al. 2019): distances and angles between samples")(
    lambda cfg, student_dim, teacher_dim: RelationLoss(rkd_loss, "rkd"))
LOSSES.register("pkt", "probabilistic knowledge transfer (Passalis & Tefas 2018)")(
    lambda cfg, student_dim, teacher_dim: RelationLoss(pkt_loss, "pkt"))
LOSSES.register("sp", "similarity-preserving KD (Tung & Mori 2019): batch Gram matrices")(
    lambda cfg, student_dim, teacher_dim: RelationLoss(sp_loss, "sp"))
