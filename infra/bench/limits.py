"""How far from the machine's limit, and what a Lambda memory size buys.

**FLOPs.** A BERT-style encoder of ``layers`` layers, width ``hidden`` and feed-forward
width ``ffn`` spends, per token and layer, ``4 * hidden^2`` multiply-adds in the Q, K, V and
output projections, ``2 * hidden * ffn`` in the feed-forward block, and ``2 * seq * hidden``
in attention (scores and the weighted sum over a padded row of ``seq`` tokens). A
multiply-add is 2 FLOPs. Everything else (layer norm, GELU, softmax, pooling) is a few
FLOPs per element and left out. The tokens a model really computes are the padded ones:
``padded_tokens`` replays the batches each contender runs.

**Peak.** cores x clock x FLOPs per cycle per core. The per-cycle figures are the vector
units' (``PEAK_PER_CYCLE``): AMD Zen 4 executes AVX-512 on two 256-bit FMA pipes, 32 fp32
FLOPs per cycle (2 pipes x 8 lanes x 2), and ``vpdpbusd`` (AVX512-VNNI) 4 int8 multiply-adds
per 32-bit lane, 128 int8 ops per cycle. The clock is the one /proc/cpuinfo reports (no turbo
assumed).

**Memory-size guide.** Lambda gives CPU in proportion to memory: one vCPU at 1,769 MB, up to
6 at 10,240 MB (AWS documentation). Time per embedding is measured here with 1 and 2
threads; a share below one vCPU is assumed to stretch the 1-thread time by 1 / share; above
one vCPU, throughput is assumed to grow with the share at the 2-thread efficiency measured
here (this machine has 2 CPUs, so beyond 2 vCPUs it is an extrapolation, marked as such).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

FULL_VCPU_MB = 1769
MAX_VCPUS = 6
GUIDE_MEMORY_MB = (1024, 1769, 3008, 10240)
PRICE_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}  # us-east-1, first tier
PRICE_REQUEST = 0.20 / 1e6
# fp32 FLOPs and int8 ops per cycle per core of the vector units, by CPU family.
PEAK_PER_CYCLE = {"zen4": {"fp32": 32.0, "int8": 128.0}, "avx512": {"fp32": 64.0, "int8": 256.0}}


@dataclass(frozen=True)
class ModelShape:
    layers: int
    hidden: int
    ffn: int

    @classmethod
    def of_config(cls, config: dict[str, object]) -> ModelShape:
        return cls(
            layers=int(str(config["num_hidden_layers"])),
            hidden=int(str(config["hidden_size"])),
            ffn=int(str(config["intermediate_size"])),
        )

    def flops_per_token(self, seq: float) -> float:
        """FLOPs of one token in a padded row of ``seq`` tokens."""
        macs = self.layers * (
            4 * self.hidden**2 + 2 * self.hidden * self.ffn + 2 * seq * self.hidden
        )
        return 2.0 * macs


def padded_tokens(batches: Sequence[Sequence[int]]) -> tuple[int, float]:
    """(tokens computed, FLOPs-weighted mean row width) of ``batches`` of token lengths."""
    tokens = sum(len(b) * max(b) for b in batches)
    width = sum(len(b) * max(b) ** 2 for b in batches) / tokens
    return tokens, width


def sorted_batches(lengths: Sequence[int], size: int) -> list[list[int]]:
    """sentence-transformers' batching: sort by length (longest first), cut every ``size``."""
    ordered = sorted(lengths, reverse=True)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


@dataclass(frozen=True)
class CpuPeak:
    family: str
    cores: int
    ghz: float

    def gflops(self, kind: str) -> float:
        return self.cores * self.ghz * PEAK_PER_CYCLE[self.family][kind]


def cpu_peak(cores: int) -> CpuPeak:
    """The cores' clock and vector family, from /proc/cpuinfo."""
    text = Path("/proc/cpuinfo").read_text()
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    mhz = float(fields.get("cpu MHz", "0") or 0)
    amd_zen4 = fields.get("vendor_id") == "AuthenticAMD" and fields.get("cpu family") == "25"
    return CpuPeak("zen4" if amd_zen4 else "avx512", cores, mhz / 1000)


@dataclass(frozen=True)
class SizeRow:
    memory_mb: int
    vcpus: float
    threads: int
    per_s: float  # embeddings per second per function instance
    extrapolated: bool  # more vCPUs than measured here
    cost: dict[str, float]  # arch -> dollars per million embeddings


def size_guide(
    one_thread_per_s: float, two_threads_per_s: float, texts_per_invocation: int = 1000
) -> list[SizeRow]:
    """Throughput and cost per million embeddings at each of GUIDE_MEMORY_MB."""
    efficiency = two_threads_per_s / (2 * one_thread_per_s)
    rows = []
    for memory in GUIDE_MEMORY_MB:
        share = min(MAX_VCPUS, memory / FULL_VCPU_MB)
        per_s = one_thread_per_s * (share if share <= 1 else share * efficiency)
        seconds = 1e6 / per_s
        requests = 1e6 / texts_per_invocation * PRICE_REQUEST
        cost = {
            arch: seconds * memory / 1024 * price + requests for arch, price in PRICE_GB_S.items()
        }
        rows.append(SizeRow(memory, share, math.ceil(share), per_s, share > 2, cost))
    return rows


def gemm_ceiling(threads: int, kind: str, n: int = 1024, repeats: int = 10) -> float:
    """GFLOP/s (int8: GOP/s) of one large ONNX Runtime matrix product on this machine.

    The same MLAS kernels the model's MatMuls run, on an ``n`` x ``n`` x ``n`` product that
    fits nothing but the kernel's own blocking: what these cores really sustain, whatever
    their boost clock. fp32: ``MatMul``; int8: ``MatMulInteger`` (uint8 x int8, as the
    int8 variant's dynamically quantized MatMuls).
    """
    import time

    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    a: np.ndarray
    b: np.ndarray
    if kind == "int8":
        a = rng.integers(0, 255, (n, n), dtype=np.uint8)
        b = rng.integers(-127, 127, (n, n), dtype=np.int8)
        node = helper.make_node("MatMulInteger", ["A", "B"], ["C"])
        types = (TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32)
    else:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        node = helper.make_node("MatMul", ["A", "B"], ["C"])
        types = (TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.FLOAT)
    graph = helper.make_graph(
        [node],
        "gemm",
        [helper.make_tensor_value_info("A", types[0], [n, n])],
        [helper.make_tensor_value_info("C", types[2], [n, n])],
        [helper.make_tensor("B", types[1], [n, n], b.tobytes(), raw=True)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    session.run(None, {"A": a})
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, {"A": a})
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best / 1e9
