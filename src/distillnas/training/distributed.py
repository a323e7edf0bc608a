"""Data-parallel training across processes (`torchrun --nproc-per-node N distillnas train ...`).

Every rank builds the same model from the same seed, draws the same order and augmentation
of each global batch and trains on its contiguous slice (`TensorLoader(shard=...)`); after
each backward the gradients are averaged over ranks, and batch norm normalises with the
statistics of the whole global batch (`GlobalBatchNorm`). One step of N processes is then
the step one process takes on the global batch, up to float summation order - what
`tests/test_distributed.py` checks with the gloo backend on CPU.

Why not `torch.nn.parallel.DistributedDataParallel` itself: its gradient hooks fire only
for `forward()`, while feature losses (CC, RKD, ...) call `forward_features`/`classifier`,
DML steps a cohort and BSS adds a second forward on adversarial images. Averaging the
flattened gradients once after backward (one all_reduce per step) is DDP's arithmetic for
every one of those paths; it gives up DDP's overlap of communication with backward, which
matters little for the small students this trains. And `torch.nn.SyncBatchNorm` refuses CPU
tensors, so CPU ranks could not share batch statistics with it.

Losses over relations between the examples of a batch (CC, RKD, PKT, SP, DIST's inter-class
term) are computed over each rank's share of the batch, as any data-parallel KD does
without gathering features, so for them N processes train close to, not exactly, what one
process trains; pointwise losses (CE, KD, OD, DKD, feature MSE) are exact.

The teacher cache is filled in parts, each rank running the teacher on its contiguous share
of the split, and every rank reads all parts by index (teachers/cache.py, ShardedOutputs);
every rank evaluates the same weights; rank 0 alone
reports and writes checkpoints.
"""
from __future__ import annotations

import os
import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
import torch.nn as nn

from ..ranks import Ranks, ranks


def launched_world() -> int:
    """The number of processes torchrun started (WORLD_SIZE), before joining their group."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env(device: torch.device | None = None) -> Ranks:
    """Join the process group torchrun describes (WORLD_SIZE > 1 in the environment): NCCL on
    CUDA, gloo on CPU. A no-op for a single process."""
    if launched_world() > 1 and not dist.is_initialized():
        cuda = device is not None and device.type == "cuda"
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    return ranks()


def average_gradients(params: list[nn.Parameter], world: int) -> None:
    """Gradients averaged over ranks, in one all_reduce of their flattened concatenation."""
    grads = [p.grad for p in params if p.grad is not None]
    if world == 1 or not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


class GlobalBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch across ranks
    (sum and sum of squares all-reduced, differentiably); a plain BatchNorm2d otherwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        local = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)),
                           x.new_full((1,), x.numel() / c)])
        total = dist_fn.all_reduce(local)
        n = total[-1]
        mean = total[:c] / n
        var = (total[c:2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                self.running_mean.mul_(1 - m).add_(m * mean)
                self.running_var.mul_(1 - m).add_(m * var * n / (n - 1).clamp_min(1))
                self.num_batches_tracked.add_(1)
        y = (x - mean.view(1, c, 1, 1)) * torch.rsqrt(var.view(1, c, 1, 1) + self.eps)
        return y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1) if self.affine else y


def global_batch_norm(model: nn.Module) -> nn.Module:
    """`model` with every BatchNorm2d swapped for a GlobalBatchNorm holding the same state."""
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            bn = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                 child.track_running_stats)
            bn.load_state_dict(child.state_dict())
            setattr(model, name, bn)
        else:
            global_batch_norm(child)
    return model


__all__ = ["GlobalBatchNorm", "Ranks", "average_gradients", "global_batch_norm", "init_from_env", "launched_world", "ranks"]
