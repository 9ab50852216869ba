"""The data-parallel helpers with two CPU processes (gloo): ranks start from rank 0's
weights and average their gradients, missing gradients counting as zero."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from faceedit_gui.training.distributed import DistInfo, all_reduce_grads, any_rank, broadcast_module


def _worker(rank: int, world: int, init_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        info = DistInfo(rank=rank, world_size=world, local_rank=rank, device=torch.device("cpu"))
        torch.manual_seed(100 + rank)  # different initial weights per rank
        net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
        broadcast_module(net, info)
        torch.manual_seed(100)
        ref = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
        for a, b in zip(net.parameters(), ref.parameters()):
            assert torch.equal(a, b), "broadcast did not give rank 0's weights"
        # rank r's gradient: r + 1 everywhere, except that rank 1 has none for the last bias
        for p in net.parameters():
            p.grad = torch.full_like(p, rank + 1.0)
        if rank == 1:
            net[1].bias.grad = None
        all_reduce_grads(net.parameters(), info)
        for name, p in net.named_parameters():
            expected = 0.5 if name == "1.bias" else 1.5  # (1 + 0) / 2 and (1 + 2) / 2
            assert torch.allclose(p.grad, torch.full_like(p, expected)), (rank, name, p.grad)
        assert any_rank(rank == 1, info, torch.device("cpu")) is True
        assert any_rank(False, info, torch.device("cpu")) is False
    finally:
        dist.destroy_process_group()


def test_two_ranks_share_weights_and_average_gradients(tmp_path: Path, monkeypatch):
    init_file = str(tmp_path / "rendezvous")
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", os.environ.get("GLOO_SOCKET_IFNAME", "lo"))
    mp.spawn(_worker, args=(2, init_file), nprocs=2, join=True)
