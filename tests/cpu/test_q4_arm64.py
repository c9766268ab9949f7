"""multilingual-e5-small's q4 graph on arm64 (AWS Graviton2's CPU, emulated): ``qemu-aarch64
-cpu neoverse-n1`` runs Debian's arm64 Python with the aarch64 ONNX Runtime wheel of the
version the project uses (``infra/cpu/arm64-python.sh``).

Every projection is a MatMulNBits with fp32 activations (accuracy_level 0: MLAS's
SQNBIT_CompFp32). On arm64 that is one path whatever the CPU's extensions (dotprod, i8mm
and KleidiAI only serve int8 activations, CompInt8): NEON dequantizes each 32-column slice
of the 4-bit weights ((q - 8) x scale, one rounding: the same floats as on x86) and the
NEON fp32 GEMM kernel multiplies in K order: the same bits as x86's MatMulNBits. Softmax
and LayerNormalization sum in another order than on x86, so the model's vectors differ by
fp32 rounding (1 - cosine ~1e-13): far inside the fidelity check's other-architecture
tolerance (0.995), which must pass.

``LAMINA_Q4_ARM64_CPUS`` (default ``neoverse-n1``) names the QEMU CPU models to run, e.g.
``"neoverse-n1 cortex-a57 max"`` (about 35 s each on an idle machine).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.cpu.conftest import (
    FP32_ROUNDING,
    arm64,
    assert_matmulnbits_exact,
    assert_within_fp32_rounding,
    cpu_flags,
    differing,
    probe,
    run_q4_ops,
)

ARM_CPUS = os.environ.get("LAMINA_Q4_ARM64_CPUS", "neoverse-n1").split()
# what lamina.inference.cpu shows of each model (numpy's CPUID view, I8MM from HWCAP2)
EXPECTED_FLAGS = {
    "neoverse-n1": ["ASIMD", "ASIMDDP"],
    "cortex-a57": ["ASIMD"],
    "max": ["ASIMD", "ASIMDDP", "SVE", "I8MM"],
}
OTHER_ARCHITECTURE = 0.995  # FidelityCheck.min_cosine_other_machine
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=ARM_CPUS)
def runs(
    request: pytest.FixtureRequest,
    arm64_python: Path,
    e5_q4_dir: Path,
    q4_texts: Path,
    q4_native: tuple[dict[str, Any], np.ndarray],
    q4_ops: tuple[Path, dict[str, np.ndarray]],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    cpu = request.param
    tmp = tmp_path_factory.mktemp(f"q4-{cpu}")
    guest = arm64(arm64_python, cpu)
    arm, vectors = probe(tmp / "arm64.npz", q4_texts, [e5_q4_dir], **guest)
    work, native_ops = q4_ops
    ops = differing(run_q4_ops(work, tmp / "ops.npz", **guest), native_ops)
    native, native_vectors = q4_native
    return {
        "cpu": cpu,
        "native": native,
        "arm64": arm,
        "vectors": (native_vectors, vectors[0]),
        "ops": ops,
    }


def test_the_guest_is_arm64_on_the_neon_q4_path(runs: dict[str, Any]) -> None:
    arm = runs["arm64"]
    assert arm["cpu"].startswith("aarch64"), arm
    expected = EXPECTED_FLAGS.get(runs["cpu"])
    if expected is not None:
        assert cpu_flags(arm) == expected, arm
    assert arm["q4_kernel"].startswith("NEON dispatch"), arm
    assert runs["native"]["cpu"].startswith("x86_64"), runs["native"]
    assert runs["ops"]["softmax"] > 0, runs["ops"]  # arm64's own fp32 kernels ran


def test_matmulnbits_computes_the_same_bits_on_arm64(runs: dict[str, Any]) -> None:
    assert_matmulnbits_exact(runs["ops"])


def test_q4_on_arm64_agrees_with_x86_to_fp32_rounding(runs: dict[str, Any]) -> None:
    x86, arm = runs["vectors"]
    assert_within_fp32_rounding(arm, x86, f"-cpu {runs['cpu']} vs {runs['native']['cpu']}")


def test_fidelity_check_passes_on_arm64(runs: dict[str, Any]) -> None:
    arm = runs["arm64"]
    assert arm["checks"] == [None], arm
    fidelity = np.array(arm["fidelity_cosines"][0])
    assert fidelity.min() >= OTHER_ARCHITECTURE, fidelity.tolist()
    assert 1 - fidelity.min() <= FP32_ROUNDING, (1 - fidelity).tolist()
