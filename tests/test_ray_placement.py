"""What a Ray task asks for and which GPU `cuda:N` means on a worker: the logic of the GPU paths, on CPU."""

from __future__ import annotations

import pytest

from vlmperf.config.loader import load_run_spec
from vlmperf.runner.executors.messages import _on_worker
from vlmperf.runner.executors.placement import device_on_worker
from vlmperf.runner.executors.ray_tasks import GIB, resources
from vlmperf.runner.plan import expand


@pytest.mark.parametrize(
    ("device", "gpu_ids", "expected"),
    [
        ("cuda", ["3"], "cuda:0"),  # the task's one GPU, whatever its number on the node
        ("cuda:0", ["3"], "cuda:0"),
        ("cuda:1", ["3", "5"], "cuda:1"),  # the task's second GPU (node GPU 5)
        ("cpu", ["3"], "cpu"),
        ("cuda:2", [], "cuda:2"),  # no GPUs from Ray (not on a worker): unchanged
    ],
)
def test_cuda_n_is_the_tasks_nth_gpu(device, gpu_ids, expected):
    assert device_on_worker(device, gpu_ids) == expected


def test_a_gpu_beyond_those_ray_gave_says_what_to_set():
    with pytest.raises(ValueError, match="set executor.gpus to at least 3"):
        device_on_worker("cuda:2", ["3"])


def _job(*overrides):
    spec = load_run_spec(None, ["executor.kind=ray", *overrides])
    cells = expand(spec)
    return spec.executor, type("Job", (), {"cells": cells})()


def test_a_task_asks_for_a_gpu_for_a_cuda_target_and_none_otherwise():
    settings, job = _job("target.device=cuda")
    assert resources(job, settings) == {"num_cpus": 1.0, "num_gpus": 1}
    settings, job = _job("target.device=cpu", "executor.cpus=4", "executor.memory_gb=1.5")
    assert resources(job, settings) == {"num_cpus": 4.0, "num_gpus": 0, "memory": int(1.5 * GIB)}
    settings, job = _job("target.device=cuda:1", "executor.gpus=2")
    assert resources(job, settings)["num_gpus"] == 2


def test_cells_keep_their_ids_when_their_device_is_read_on_a_worker():
    _, job = _job("target.device=cuda", "sweep.grid.scenario.batch_size=[1, 2]")
    moved = _on_worker(job.cells, {"gpu_ids": ["6"]})
    assert [c.id for c in moved] == [c.id for c in job.cells]
    assert [c.spec.target.device for c in moved] == ["cuda:0", "cuda:0"]
    assert [c.spec.target.device for c in job.cells] == ["cuda", "cuda"], "the plan's cells are left as they were"
