"""Where a group of cells runs: recorded in each of its cells' info as `executor`.

On a Ray worker the node's id and address and the GPUs Ray gave the task are named, and
`cuda:N` in a target is read as the task's N-th assigned GPU (Ray shows a task only its own GPUs,
renumbered from 0), so a config written for one machine runs unchanged on a cluster.
"""

from __future__ import annotations

import os
import socket
from typing import Any


def placement(kind: str) -> dict[str, Any]:
    """The executor kind, host, process id, visible CUDA devices and, on a Ray worker, its node and GPUs."""
    where: dict[str, Any] = {
        "kind": kind,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    if kind == "ray":
        import ray

        node_id = ray.get_runtime_context().get_node_id()
        # the address the node registered with (ray.util.get_node_ip_address guesses from routes instead)
        node_ip = next((n["NodeManagerAddress"] for n in ray.nodes() if n["NodeID"] == node_id), None)
        where.update(node_id=node_id, node_ip=node_ip, gpu_ids=[str(g) for g in ray.get_gpu_ids()])
    return where


def device_on_worker(device: str, gpu_ids: list[str]) -> str:
    """`cuda:N` as the N-th GPU Ray assigned (renumbered from 0 on the worker); other devices unchanged.

    A task given one GPU sees it as cuda:0 whatever its number on the node, so `cuda` and `cuda:0`
    both name it; asking for cuda:N with fewer than N + 1 assigned GPUs is a config mistake.
    """
    if not gpu_ids or not device.startswith("cuda"):
        return device
    index = int(device.partition(":")[2] or 0)
    if index >= len(gpu_ids):
        raise ValueError(
            f"target.device {device} names GPU {index}, but Ray gave this task {len(gpu_ids)} GPU(s): "
            f"set executor.gpus to at least {index + 1} or use cuda"
        )
    return f"cuda:{index}"
