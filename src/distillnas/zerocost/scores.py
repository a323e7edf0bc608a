"""Training-free (zero-cost) scores of a student at initialisation, from one mini-batch.

Every score is a function `score(model, probe) -> float` where higher means "predicted to train
(or distil) better"; the model is freshly initialised and may be modified (it is thrown away).
`Probe` carries the mini-batch and, for the teacher-aware score, what the teacher makes of it.

- diswot, diswot_semantic, diswot_relation: Dong, Li & Wei, "DisWOT: Student Architecture Search
  for Distillation WithOut Training", CVPR 2023 (arXiv:2303.15678), Sec. 3, as the "Core Code" of
  their released repository (lliai/DisWOT-CVPR2023, README) computes it; diswot_kk is our first
  reading of the text (a K x K class correlation), kept for comparison.
- grad_norm, snip, synflow: as zero-cost proxies in Abdelfattah et al., "Zero-Cost Proxies for
  Lightweight NAS", ICLR 2021; SNIP from Lee et al., ICLR 2019; SynFlow from Tanaka et al.,
  NeurIPS 2020.
- naswot: Mellor et al., "Neural Architecture Search without Training", ICML 2021.
- params, macs: the trivial baselines every zero-cost paper must beat.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from ..cost import count_macs, count_params
from ..distill.methods import batch_similarity
from ..errors import DistillnasError
from ..evalconfig import TEACHER_SCORES  # noqa: F401  (re-exported: the scores that need a teacher network)
from ..registry import Registry

Score = Callable[[nn.Module, "Probe"], float]
SCORES: Registry[Score] = Registry("zero-cost score")


@dataclass
class TeacherView:
    """One teacher network's DisWOT quantities on the probe batch (computed once per search)."""

    gradient: torch.Tensor  # (K, C_t) dCE/dW of the classifier: the per-class Grad-CAM channel weights
    semantic: torch.Tensor  # (K, K) class correlation of `gradient`, rows L2-normalised (diswot_kk)
    relation: torch.Tensor  # (B, B) sample Gram matrix of the last feature map, rows L2-normalised


@dataclass
class Probe:
    """The mini-batch every candidate is scored on (the same one for all, so scores compare)."""

    x: torch.Tensor  # normalised images (B, C, H, W)
    y: torch.Tensor  # labels (B,)
    num_classes: int
    teachers: list[TeacherView] = field(default_factory=list)  # one per ensemble member


@dataclass
class Forward:
    """What one forward pass exposes: the classifier's input, the logits, the last feature map."""

    features: torch.Tensor  # (B, C): the input of the last nn.Linear
    logits: torch.Tensor  # (B, K)
    feature_map: torch.Tensor  # (B, C', H', W'): the map that feeds the global pool (else the last 4-D output)


def inspect(model: nn.Module, x: torch.Tensor) -> Forward:
    """Run `model` on x and catch the penultimate features and the pre-pool map with hooks, so
    any classifier works (man-made families and every space), not only ours."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears or isinstance(model, torch.jit.ScriptModule):
        raise DistillnasError(f"{type(model).__name__} has no nn.Linear classifier that can be hooked "
                              "(a TorchScript teacher cannot give DisWOT its features)")
    seen: dict[str, torch.Tensor] = {}
    pooled = [False]  # a global pool has run: its (B, C, 1, 1) output and any container's are skipped

    def last_map(_m: nn.Module, inputs: tuple, out: object) -> None:
        if not isinstance(out, torch.Tensor) or out.dim() != 4:
            return
        inp = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
        if out.shape[-2:] != (1, 1):
            seen["map"], pooled[0] = out, False
        elif pooled[0]:
            return  # a container of the pool, or a 1x1 conv on its output (squeeze-excite)
        elif inp is not None and inp.dim() == 4 and inp.shape[-2:] != (1, 1):
            seen["map"], pooled[0] = inp, True  # the map that feeds a global pool (nn.AdaptiveAvgPool2d)
        else:
            seen["map"] = out

    def features(_m: nn.Module, inputs: tuple) -> None:
        seen["features"] = inputs[0]

    handles = [m.register_forward_hook(last_map) for m in model.modules() if m is not model]
    handles.append(linears[-1].register_forward_pre_hook(features))
    try:
        logits = model(x)
    finally:
        for h in handles:
            h.remove()
    if "map" not in seen:
        raise DistillnasError(f"{type(model).__name__} produced no 4-D feature map")
    return Forward(seen["features"].flatten(1), logits, seen["map"])


def _normalised_gram(a: torch.Tensor) -> torch.Tensor:
    """a a^T with each row scaled to unit L2 norm (DisWOT's matrices: SP's batch similarity), in float64."""
    return batch_similarity(a.double())


def classifier_gradient(fw: Forward, y: torch.Tensor) -> torch.Tensor:
    """dCE/dW of the last linear layer, (K, C): (softmax(z) - onehot(y))^T f / B. These are the
    per-class channel weights Grad-CAM uses, written out so no backward pass is needed."""
    p = torch.softmax(fw.logits.double(), dim=1)
    p[torch.arange(len(y)), y] -= 1.0
    return p.t() @ fw.features.double() / len(y)


def teacher_view(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> TeacherView:
    """The teacher's DisWOT quantities on the probe batch."""
    module.eval()
    with torch.no_grad():
        fw = inspect(module, x)
    grad = classifier_gradient(fw, y)
    return TeacherView(grad, _normalised_gram(grad), _normalised_gram(fw.feature_map))


def channel_maps(gradient: torch.Tensor, channels: int) -> torch.Tensor:
    """(K, channels, channels): each class's channel map of the classifier gradient, as DisWOT's
    released `channel_similarity` builds it - the class's gradient viewed as (channels, r), times
    its transpose, rows L2-normalised. For the student r = 1 (g g^T); a teacher of C_t = r x
    channels has its channels grouped r at a time, exactly the authors' `view(K, C_s, -1)`. Where
    C_t is not a multiple of the student's width (the authors' code fails there), the teacher's
    gradient is first resampled linearly to the next multiple, so any pair of widths compares."""
    k, c = gradient.shape
    r = -(-c // channels)
    if c != r * channels:
        gradient = F.interpolate(gradient[:, None, :], size=r * channels, mode="linear", align_corners=True)[:, 0]
    f = gradient.reshape(k, channels, r)
    return F.normalize(f @ f.transpose(1, 2), dim=2)


def channel_distance(teacher_grad: torch.Tensor, student_grad: torch.Tensor) -> float:
    """DisWOT's semantic M_s as its released code computes it: the squared Frobenius distance of
    the teacher's and student's per-class channel maps, summed over classes, over (C_s x K).
    One class at a time, so a wide head (C x C per class) never holds all K maps at once."""
    k, c = student_grad.shape
    total = 0.0
    for cls in range(k):
        t = channel_maps(teacher_grad[cls:cls + 1], c)
        s_ = channel_maps(student_grad[cls:cls + 1], c)
        total += float(((t - s_) ** 2).sum())
    return total / (c * k)


def _distances(model: nn.Module, probe: Probe) -> tuple[float, float, float]:
    """Mean over teacher members of (semantic distance, K x K semantic distance, relation distance).

    - semantic: DisWOT's M_s as in the authors' released code (`channel_distance`): per-class
      C x C channel maps of the classifier-weight gradients.
    - K x K semantic (`diswot_kk`, our earlier reading of the paper's text): the squared Frobenius
      distance of the K x K class correlations of those gradients over K^2, which compares
      networks of any width but measures a different thing (it ranked 10 models at Kendall tau
      0.07 against the authors' definition).
    - relation: M_r, the B x B Gram matrices of the pre-pool feature maps, rows normalised,
      squared Frobenius distance over B^2 - the same in the paper, the code and here."""
    if not probe.teachers:
        raise DistillnasError("the DisWOT score needs a teacher network (teacher.spec or teacher.arch)")
    model.train()  # batch statistics, as the first training step would see them
    with torch.no_grad():
        fw = inspect(model, probe.x)
    grad = classifier_gradient(fw, probe.y)
    sem_kk = _normalised_gram(grad)
    rel = _normalised_gram(fw.feature_map)
    k, b, n = sem_kk.shape[0], rel.shape[0], len(probe.teachers)
    ds = sum(channel_distance(t.gradient, grad) for t in probe.teachers) / n
    dk = sum(float(((t.semantic - sem_kk) ** 2).sum()) / (k * k) for t in probe.teachers) / n
    dr = sum(float(((t.relation - rel) ** 2).sum()) / (b * b) for t in probe.teachers) / n
    return ds, dk, dr


@SCORES.register("diswot", "-(M_s + M_r): DisWOT's search metric as the authors' code computes it")
def diswot(model: nn.Module, probe: Probe) -> float:
    """-(M_s + M_r), Dong et al. 2023, with M_s the per-class C x C channel maps of the classifier
    gradients (`channel_distance`) and M_r the batch relation: their search metric."""
    ds, _, dr = _distances(model, probe)
    return -(ds + dr)


@SCORES.register("diswot_semantic", "-M_s alone: per-class channel maps of the classifier gradients (DisWOT)")
def diswot_semantic(model: nn.Module, probe: Probe) -> float:
    """-M_s alone (`channel_distance`)."""
    return -_distances(model, probe)[0]


@SCORES.register("diswot_relation", "-M_r alone: distance between teacher's and student's batch Gram matrices")
def diswot_relation(model: nn.Module, probe: Probe) -> float:
    """-M_r alone: distance between teacher's and student's sample-relation (Gram) matrices."""
    return -_distances(model, probe)[2]


@SCORES.register("diswot_kk", "-(M_s^KxK + M_r): DisWOT with a K x K class-correlation semantic term (ours before)")
def diswot_kk(model: nn.Module, probe: Probe) -> float:
    """-(K x K semantic distance + M_r): distillnas's first reading of DisWOT, kept to compare.
    Its K x K class correlation of the gradients differs from the authors' per-class channel
    maps (see `_distances`)."""
    _, dk, dr = _distances(model, probe)
    return -(dk + dr)


def _ce_gradients(model: nn.Module, probe: Probe) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, gradient) of every conv and linear weight after one CE backward pass."""
    model.train()
    model.zero_grad()
    F.cross_entropy(model(probe.x), probe.y).backward()
    return [(m.weight, m.weight.grad) for m in model.modules()
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.grad is not None]


@SCORES.register("grad_norm", "sum over layers of the gradient norm ||dL/dW||_2 (Abdelfattah et al. 2021)")
def grad_norm(model: nn.Module, probe: Probe) -> float:
    """sum over layers of ||dL/dW||_2 (Abdelfattah et al. 2021)."""
    grads = _ce_gradients(model, probe)
    with torch.no_grad():
        return float(sum(g.norm() for _, g in grads))


@SCORES.register("snip", "sum |W * dL/dW|: connection sensitivity (Lee et al. 2019)")
def snip(model: nn.Module, probe: Probe) -> float:
    """sum |W * dL/dW|: connection sensitivity (Lee et al. 2019)."""
    grads = _ce_gradients(model, probe)
    with torch.no_grad():
        return float(sum((w * g).abs().sum() for w, g in grads))


@SCORES.register("synflow", "log of the synaptic flow of the |W| network on an all-ones input (Tanaka et al. 2020)")
def synflow(model: nn.Module, probe: Probe) -> float:
    """log of sum W * dR/dW with R = sum of the output of the |W| network on an all-ones input
    (Tanaka et al. 2020). Data-free; BN in eval mode at init is the identity, as the proxy
    papers remove it; float64 and the log keep deep networks' products finite.

    The sum runs over every parameter, BatchNorm's weights and biases included (47-49 % of
    the total on our spaces); zero-cost-nas's `compute_synflow_per_weight` sums only conv and
    linear weights. Ranks barely move (BN's scale is 1 at init), but values differ."""
    model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    model.zero_grad()
    model(torch.ones_like(probe.x[:1], dtype=torch.float64)).sum().backward()
    with torch.no_grad():
        total = sum(float((p * p.grad).sum()) for p in model.parameters() if p.grad is not None)
    return float(torch.tensor(total, dtype=torch.float64).clamp_min(1e-300).log())


class _ReluCodes(TorchFunctionMode):
    """Records the binary code (output > 0) of every ReLU a forward pass applies: nn.ReLU modules
    and the functional calls (torch.relu, F.relu, Tensor.relu and their in-place forms) that
    modules such as our ResNets make, which a module hook cannot see."""

    RELUS = {torch.relu, torch.relu_, F.relu, F.relu_, torch.Tensor.relu, torch.Tensor.relu_}

    def __init__(self) -> None:
        super().__init__()
        self.codes: list[torch.Tensor] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        out = func(*args, **(kwargs or {}))
        if func in self.RELUS and isinstance(out, torch.Tensor) and out.dim() >= 2:
            self.codes.append((out.detach().flatten(1) > 0).double())
        return out


def relu_codes(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Each ReLU layer's (B, units) binary codes for batch x, in the order the layers ran."""
    mode = _ReluCodes()
    with torch.no_grad(), mode:
        model(x)
    return mode.codes


@SCORES.register("naswot", "log|det K| of the kernel of ReLU activation codes on a batch (Mellor et al. 2021)")
def naswot(model: nn.Module, probe: Probe) -> float:
    """log|det K|, K = c c^T + (1 - c)(1 - c)^T over the binary codes c of every ReLU unit on the
    batch: how distinctly the untrained network separates its inputs (Mellor et al. 2021). The
    authors hook nn.ReLU modules; we catch every ReLU applied, functional ones included, so
    networks that call torch.relu are scored on all their layers (`relu_codes`)."""
    model.train()
    codes = relu_codes(model, probe.x)
    if not codes:
        raise DistillnasError(f"{type(model).__name__} applies no ReLU: naswot scores ReLU activation codes")
    c = torch.cat(codes, dim=1)
    k = c @ c.t() + (1 - c) @ (1 - c).t()
    return float(torch.linalg.slogdet(k).logabsdet)


@SCORES.register("params", 'parameter count (bigger is better)')
def params(model: nn.Module, probe: Probe) -> float:
    """The parameter count as a score (a strong baseline every zero-cost score must beat)."""
    return float(count_params(model))


@SCORES.register("macs", 'multiply-accumulates of one forward pass (bigger is better)')
def macs(model: nn.Module, probe: Probe) -> float:
    """The MAC count as a score (the other size baseline)."""
    return float(count_macs(model, (1, *probe.x.shape[1:])))


def check_scores(names: list[str], has_teacher_network: bool) -> None:
    """Refuse unknown scores, and teacher-aware ones without a teacher network, before any work."""
    for n in names:
        SCORES.get(n)
    needs = [n for n in names if n in TEACHER_SCORES]
    if needs and not has_teacher_network:
        raise DistillnasError(f"score {needs[0]!r} compares the student with a teacher network; give one "
                              "(teacher.spec of checkpoints or teacher.arch), not a logits file, or drop it")
