"""Data parallelism without wrappers: the same training script under `torchrun`.

`torchrun --nproc_per_node=K` sets WORLD_SIZE/RANK/LOCAL_RANK; with WORLD_SIZE > 1 the
process group starts (NCCL on CUDA, gloo on CPU) and each rank trains on its share of
every batch. GAN training has several forward/backward phases per step with parameters
switching `requires_grad`, which `DistributedDataParallel` handles poorly; instead each
phase averages its gradients with one flat all-reduce (`all_reduce_grads`) before the
optimiser step, and ranks start from rank 0's weights (`broadcast_module`). Only rank 0
writes files. A single process (WORLD_SIZE unset or 1) does none of this.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int  # global rank, 0 writes files
    world_size: int  # number of processes
    local_rank: int  # rank on this machine: picks the GPU
    device: torch.device  # this process's training device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None) -> DistInfo:
    """Start the process group when launched by torchrun; pick this rank's device.

    `device`: "cuda", "cpu" or None (CUDA when available).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    kind = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if kind.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
        dev = torch.device("cuda", local_rank if world > 1 else (torch.device(kind).index or 0))
        torch.cuda.set_device(dev)
    else:
        dev = torch.device(kind)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def broadcast_module(module: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not info.enabled:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def all_reduce_grads(params: Iterable[nn.Parameter], info: DistInfo) -> None:
    """Average the gradients of `params` over ranks in one flat all-reduce.

    A parameter without a gradient on this rank counts as zero (and receives the average).
    """
    if not info.enabled:
        return
    params = [p for p in params if p.requires_grad]
    if not params:
        return
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat.div_(info.world_size)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p)
        offset += n


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when `flag` is true on any rank (a synchronising all-reduce)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
