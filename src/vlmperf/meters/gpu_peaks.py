"""Peak dense throughput of common GPUs per data type, and their peak memory bandwidth: the roofs
of model FLOPs utilisation (MFU), memory-bandwidth utilisation (MBU) and the latency limits.

MFU = achieved FLOP/s ÷ the device's peak FLOP/s for the data type the matmuls ran in. The peaks
are the vendor's published figures *without* structured sparsity (datasheets print the sparse
figure, twice the dense one, with an asterisk; the dense one is what a dense model can reach), at
boost clock. A figure nobody published is not filled in: a device or data type missing from the
table gives None, never an estimate.

Memory bandwidth (`GpuPeak.memory_gb_s`) is the datasheet's "GPU memory bandwidth" of the board,
in GB/s (10⁹ bytes per second, as the datasheets print it), read from the same datasheet column as
the FLOP figures.

Data types (keys of `GpuPeak.tflops`):
- `fp32`: plain FP32 on the CUDA cores, which is what PyTorch matmuls in float32 run on unless
  TF32 is allowed (`torch.backends.cuda.matmul.allow_tf32`, off by default);
- `tf32`: float32 matmuls on tensor cores, when TF32 is allowed (Ampere and later);
- `fp16`, `bf16`: tensor cores with FP32 accumulation (what PyTorch uses);
- `int8`: tensor-core integer throughput in TOPS (dense), for int8 matmul kernels.

Device names are matched as torch (`torch.cuda.get_device_name`) and NVML report them, after
case-folding, dropping a leading "NVIDIA " or "Tesla " and treating "-" as a space. A MIG slice
("... MIG 1g.10gb") has a fraction of the peak and is deliberately not matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DTYPES = ("fp32", "tf32", "fp16", "bf16", "int8")


@dataclass(frozen=True)
class GpuPeak:
    """One GPU model's dense peaks in TFLOPS (TOPS for int8), its memory bandwidth in GB/s, and where
    they were published."""

    model: str
    tflops: dict[str, float]
    source: str
    memory_gb_s: float | None = None

    def memory_bytes_per_s(self) -> float | None:
        """Peak memory bandwidth in bytes per second, None where no figure was published."""
        return None if self.memory_gb_s is None else self.memory_gb_s * 1e9

    def peak_flops_per_s(self, dtype: str) -> float | None:
        """Peak FLOP/s for `dtype`, None where the GPU has no such unit or no figure was published."""
        value = self.tflops.get(_check_dtype(dtype))
        return None if value is None else value * 1e12


def _peak(model: str, source: str, memory_gb_s: float | None = None, **tflops: float) -> GpuPeak:
    return GpuPeak(model, tflops, source, memory_gb_s)


# Sparse datasheet figures are halved to dense ones; each row cites the datasheet it is read from.
# NVIDIA H100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h100), "H100 SXM" column:
# FP32 67, TF32 989*, BF16/FP16 1,979*, INT8 3,958* (* with sparsity); memory bandwidth 3.35 TB/s.
H100_SXM = _peak(
    "H100 SXM", "NVIDIA H100 datasheet, H100 SXM", 3350.0, fp32=67.0, tf32=494.5, fp16=989.5, bf16=989.5, int8=1979.0
)
# NVIDIA H100 Tensor Core GPU datasheet, 2022 edition, "H100 PCIe" column: FP32 51, TF32 756*, BF16/FP16 1,513*,
# INT8 3,026*; memory bandwidth 2 TB/s.
H100_PCIE = _peak(
    "H100 PCIe",
    "NVIDIA H100 datasheet (2022), H100 PCIe",
    2000.0,
    fp32=51.0,
    tf32=378.0,
    fp16=756.5,
    bf16=756.5,
    int8=1513.0,
)
# NVIDIA H100 Tensor Core GPU datasheet, "H100 NVL" column (94 GB, per GPU):
# FP32 60, TF32 835*, BF16/FP16 1,671*, INT8 3,341*; memory bandwidth 3.9 TB/s.
H100_NVL = _peak(
    "H100 NVL", "NVIDIA H100 datasheet, H100 NVL", 3900.0, fp32=60.0, tf32=417.5, fp16=835.5, bf16=835.5, int8=1670.5
)
# NVIDIA H200 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h200), "H200 SXM" column:
# FP32 67, TF32 989*, BF16/FP16 1,979*, INT8 3,958*; memory bandwidth 4.8 TB/s.
H200_SXM = _peak(
    "H200 SXM", "NVIDIA H200 datasheet, H200 SXM", 4800.0, fp32=67.0, tf32=494.5, fp16=989.5, bf16=989.5, int8=1979.0
)
# NVIDIA H200 Tensor Core GPU datasheet, "H200 NVL" column: FP32 60, TF32 835*, BF16/FP16 1,671*, INT8 3,341*;
# memory bandwidth 4.8 TB/s.
H200_NVL = _peak(
    "H200 NVL", "NVIDIA H200 datasheet, H200 NVL", 4800.0, fp32=60.0, tf32=417.5, fp16=835.5, bf16=835.5, int8=1670.5
)
# NVIDIA A100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/a100): the same peaks for the
# 40 GB and 80 GB, PCIe and SXM boards: FP32 19.5, TF32 156, BF16/FP16 312, INT8 624 TOPS (dense).
# Memory bandwidth differs by board: 40 GB 1,555 GB/s; 80 GB PCIe 1,935 GB/s; 80 GB SXM 2,039 GB/s.
_A100 = dict(fp32=19.5, tf32=156.0, fp16=312.0, bf16=312.0, int8=624.0)
A100_40GB = _peak("A100 40GB", "NVIDIA A100 datasheet, A100 40GB PCIe/SXM", 1555.0, **_A100)
A100_80GB_PCIE = _peak("A100 80GB PCIe", "NVIDIA A100 datasheet, A100 80GB PCIe", 1935.0, **_A100)
A100_80GB_SXM = _peak("A100 80GB SXM", "NVIDIA A100 datasheet, A100 80GB SXM", 2039.0, **_A100)
# NVIDIA L40S datasheet: FP32 91.6, TF32 183 (366*), BF16/FP16 362.05 (733*), INT8 733 (1,466*); memory 864 GB/s.
L40S = _peak("L40S", "NVIDIA L40S datasheet", 864.0, fp32=91.6, tf32=183.0, fp16=362.05, bf16=362.05, int8=733.0)
# NVIDIA L4 Tensor Core GPU datasheet: FP32 30.3, TF32 120*, BF16/FP16 242*, INT8 485*; memory 300 GB/s.
L4 = _peak("L4", "NVIDIA L4 datasheet", 300.0, fp32=30.3, tf32=60.0, fp16=121.0, bf16=121.0, int8=242.5)
# NVIDIA A10 Tensor Core GPU datasheet: FP32 31.2, TF32 62.5 (125*), BF16/FP16 125 (250*), INT8 250 (500*);
# memory 600 GB/s.
A10 = _peak("A10", "NVIDIA A10 datasheet", 600.0, fp32=31.2, tf32=62.5, fp16=125.0, bf16=125.0, int8=250.0)
# A10G (AWS G5 instances only): NVIDIA publishes no datasheet. FP32 35, TF32 35, BF16/FP16 70 (dense)
# as tabulated in Baseten's "NVIDIA A10 vs A10G for ML model inference"; they agree with the die:
# 80 SMs x 128 FP32 lanes x 2 x 1.71 GHz = 35 TFLOPS, and FP16 tensor at half the A10's per-SM rate
# with FP32 accumulation. No int8 figure is confirmed by both, so none is given.
A10G = _peak(
    "A10G",
    "no NVIDIA datasheet; baseten.co/blog/nvidia-a10-vs-a10g-for-ml-model-inference",
    600.0,  # the same article's memory bandwidth, equal to the A10's (same GA102, 24 GB GDDR6)
    fp32=35.0,
    tf32=35.0,
    fp16=70.0,
    bf16=70.0,
)
# NVIDIA T4 Tensor Core GPU datasheet: FP32 8.1, mixed precision FP16/FP32 65, INT8 130 TOPS; memory 320+ GB/s
# (320 taken). Turing has neither TF32 nor BF16.
T4 = _peak("T4", "NVIDIA T4 datasheet", 320.0, fp32=8.1, fp16=65.0, int8=130.0)
# NVIDIA Tesla V100 datasheet: SXM2 FP32 15.7, tensor (FP16) 125; PCIe FP32 14, tensor 112; both 900 GB/s;
# V100S PCIe FP32 16.4, tensor 130, 1,134 GB/s. Volta has neither TF32 nor BF16 and no int8 tensor figure.
V100_SXM2 = _peak("V100 SXM2", "NVIDIA Tesla V100 datasheet, SXM2", 900.0, fp32=15.7, fp16=125.0)
V100_PCIE = _peak("V100 PCIe", "NVIDIA Tesla V100 datasheet, PCIe", 900.0, fp32=14.0, fp16=112.0)
V100S_PCIE = _peak("V100S PCIe", "NVIDIA Tesla V100S datasheet", 1134.0, fp32=16.4, fp16=130.0)

DEVICE_NAMES: dict[str, GpuPeak] = {
    "NVIDIA H100 80GB HBM3": H100_SXM,
    "NVIDIA H100 PCIe": H100_PCIE,
    "NVIDIA H100 NVL": H100_NVL,
    "NVIDIA H200": H200_SXM,
    "NVIDIA H200 NVL": H200_NVL,
    "NVIDIA A100-SXM4-40GB": A100_40GB,
    "NVIDIA A100-SXM4-80GB": A100_80GB_SXM,
    "NVIDIA A100-PCIE-40GB": A100_40GB,
    "NVIDIA A100 80GB PCIe": A100_80GB_PCIE,
    "NVIDIA L40S": L40S,
    "NVIDIA L4": L4,
    "NVIDIA A10": A10,
    "NVIDIA A10G": A10G,
    "Tesla T4": T4,
    "Tesla V100-SXM2-16GB": V100_SXM2,
    "Tesla V100-SXM2-32GB": V100_SXM2,
    "Tesla V100-PCIE-16GB": V100_PCIE,
    "Tesla V100-PCIE-32GB": V100_PCIE,
    "Tesla V100S-PCIE-32GB": V100S_PCIE,
}
"""Device names exactly as torch and NVML report them -> the board's peaks."""


def normalise_name(device_name: str) -> str:
    """Case-folded, without a leading "NVIDIA " / "Tesla ", "-" and "_" as spaces, spaces collapsed."""
    name = re.sub(r"[\s_-]+", " ", device_name).strip().casefold()
    return re.sub(r"^(nvidia|tesla) ", "", name)


_BY_NORMALISED = {normalise_name(name): peak for name, peak in DEVICE_NAMES.items()}


def _check_dtype(dtype: str) -> str:
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r} for a peak throughput; use one of {', '.join(DTYPES)}")
    return dtype


def lookup(device_name: str) -> GpuPeak | None:
    """The peaks of the GPU torch / NVML calls `device_name`, or None when it is not in the table."""
    return _BY_NORMALISED.get(normalise_name(device_name))


def peak_flops_per_s(device_name: str, dtype: str) -> float | None:
    """Peak dense FLOP/s of that GPU in that dtype; None for an unknown GPU or an unsupported dtype."""
    _check_dtype(dtype)
    peak = lookup(device_name)
    return None if peak is None else peak.peak_flops_per_s(dtype)


def peak_memory_bandwidth_bytes_per_s(device_name: str) -> float | None:
    """Peak memory bandwidth of that GPU in bytes per second; None for an unknown GPU."""
    peak = lookup(device_name)
    return None if peak is None else peak.memory_bytes_per_s()


def mfu(flops: float, seconds: float, device_name: str, dtype: str) -> float | None:
    """Model FLOPs utilisation: flops / seconds / peak FLOP/s; None where the peak is not known."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive to compute a rate (got {seconds})")
    peak = peak_flops_per_s(device_name, dtype)
    return None if peak is None else flops / seconds / peak
