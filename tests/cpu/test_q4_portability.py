"""multilingual-e5-small's q4 graph on an AVX2-only x86 CPU: the vectors of this machine.

Every projection of the graph is a MatMulNBits (4-bit weights, blocks of 32, fp32
activations: accuracy_level 0, MLAS's SQNBIT_CompFp32). ONNX Runtime picks its QNBitGemm
dispatch and its fp32 GEMM kernel by CPU: this machine (AVX-512 with VNNI) takes the
AVX512VNNI dispatch and the AVX-512F GEMM kernel; an AVX2-only CPU the AVX2 dispatch and
the FMA3 GEMM kernel. QEMU user mode's ``-cpu Haswell`` (AVX2 + FMA, no AVX-512; QEMU 7.2's
TCG cannot execute AVX-512 at all) runs the same wheel on that path.

What holds (docs/performance.md, "multilingual-e5-small (q4) on every CPU"): both paths
dequantize the weights to the same floats ((q - 8) x scale, one rounding) and both GEMM
kernels add each output's products in K order with FMA: MatMulNBits gives the same bits.
Softmax sums with the vector width, so it differs in the last bit (the control: proof that
the emulated process ran other kernels), and without int8 activations nothing amplifies
that: the model's vectors agree to fp32 rounding (1 - cosine ~1e-13), and the cold-start
fidelity check, through lamina's own loader, passes.

Slow (every ONNX run is emulated): four short texts plus the 6 fidelity texts, ~25 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.cpu.conftest import (
    FP32_ROUNDING,
    assert_matmulnbits_exact,
    assert_within_fp32_rounding,
    cpu_flags,
    differing,
    probe,
    run_q4_ops,
)

EMULATED_CPU = "Haswell"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(
    qemu_x86_64: str,
    e5_q4_dir: Path,
    q4_texts: Path,
    q4_native: tuple[dict[str, Any], np.ndarray],
    q4_ops: tuple[Path, dict[str, np.ndarray]],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("q4-haswell")
    runner = [qemu_x86_64, "-cpu", EMULATED_CPU]
    emulated, vectors = probe(tmp / "haswell.npz", q4_texts, [e5_q4_dir], runner)
    work, native_ops = q4_ops
    ops = differing(run_q4_ops(work, tmp / "ops.npz", runner), native_ops)
    native, native_vectors = q4_native
    return {
        "native": native,
        "emulated": emulated,
        "vectors": (native_vectors, vectors[0]),
        "ops": ops,
    }


def test_emulated_cpu_takes_the_avx2_q4_path(runs: dict[str, Any]) -> None:
    emulated, native = runs["emulated"], runs["native"]
    flags = cpu_flags(emulated)
    assert "AVX2" in flags, emulated
    assert "AVX512F" not in flags, emulated
    assert emulated["q4_kernel"] == "AVX2 dispatch: AVX2 4-bit dequant + FMA3 fp32 GEMM"
    if "AVX512F" in cpu_flags(native):
        # This machine takes the other path (an AVX-512 GEMM) ...
        assert native["q4_kernel"].endswith("AVX-512F fp32 GEMM"), native
        # ... and the emulated process really ran other fp32 kernels: Softmax's last bits.
        assert runs["ops"]["softmax"] > 0, runs["ops"]
    else:
        # An AVX2-only machine takes the AVX2 path itself (the comparison below is then
        # between two runs of the same kernels, and the AVX-512 side is proven on the
        # AVX-512 hosts that run this suite): the same kernel, the same bits.
        assert native["q4_kernel"] == emulated["q4_kernel"], (native, emulated)
        assert runs["ops"]["softmax"] == 0, runs["ops"]


def test_matmulnbits_computes_the_same_bits_on_avx2(runs: dict[str, Any]) -> None:
    assert_matmulnbits_exact(runs["ops"])


def test_q4_vectors_agree_on_avx2_to_fp32_rounding(runs: dict[str, Any]) -> None:
    native, emulated = runs["vectors"]
    label = f"{runs['emulated']['q4_kernel']} vs {runs['native']['q4_kernel']}"
    assert_within_fp32_rounding(emulated, native, label)


def test_fidelity_check_passes_on_avx2(runs: dict[str, Any]) -> None:
    for name in ("native", "emulated"):
        report = runs[name]
        assert report["checks"] == [None], report
        # against the build host's vectors (an AVX-512 host): fp32 rounding apart at most
        fidelity = np.array(report["fidelity_cosines"][0])
        assert 1 - fidelity.min() <= FP32_ROUNDING, (name, (1 - fidelity).tolist())
