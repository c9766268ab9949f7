"""The int8 model on arm64 (AWS Graviton2's kernels), emulated: ``qemu-aarch64 -cpu
neoverse-n1`` runs Debian's arm64 Python with the aarch64 ONNX Runtime wheel of the version
the project uses (``infra/cpu/arm64-python.sh``: a root fs under /var/tmp, made once,
about 3 minutes). ONNX Runtime there takes its dotprod (``udot``) int8 kernel.

What holds (docs/performance.md, "Same vectors on every CPU"): the integer products are
exact on arm64 too, but its fp32 kernels sum in another order than x86's and int8 rounding
carries the last-bit differences along, so arm64 vectors are within the fidelity check's
other-architecture tolerance (0.995) of the x86 build host's, not bit-identical; fp32
agrees to ~1e-13. The fidelity check must pass there: a correct model is not refused on
Graviton.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.inference.pooling import row_cosines
from tests.conftest import ROOT
from tests.cpu.conftest import probe

SCRIPT = ROOT / "infra" / "cpu" / "arm64-python.sh"
ARM_CPU = "neoverse-n1"
OTHER_ARCHITECTURE = 0.995  # FidelityCheck.min_cosine_other_machine
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def arm64() -> list[str]:
    """The command prefix that runs the arm64 Python (set up by the project's script)."""
    proc = subprocess.run(
        ["bash", str(SCRIPT), "setup"], capture_output=True, text=True, timeout=1500, check=False
    )
    if proc.returncode != 0:
        pytest.fail(
            f"could not set up the arm64 Python ({SCRIPT} setup exited {proc.returncode}): "
            f"{proc.stderr.strip()[-1500:]}",
            pytrace=False,
        )
    return ["bash", str(SCRIPT), "run", "--cpu", ARM_CPU, "--"]


@pytest.fixture(scope="module")
def runs(
    arm64: list[str],
    texts: Path,
    int8_dir: Path,
    fp32_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("arm64")
    dirs = [int8_dir, fp32_dir]
    native, native_vectors = probe(tmp / "native.npz", texts, dirs, [])
    guest_path = f"{ROOT}:{ROOT / 'layers' / 'lamina' / 'python'}"
    emulated, emulated_vectors = probe(
        tmp / "arm64.npz",
        texts,
        dirs,
        arm64,
        python=[],  # the script's `run` starts the guest's python3
        env={"LAMINA_ARM64_PYTHONPATH": guest_path},
    )
    return {"native": native, "arm64": emulated, "x86": native_vectors, "arm": emulated_vectors}


def test_the_guest_is_arm64_with_the_dotprod_kernel(runs: dict[str, Any]) -> None:
    assert runs["arm64"]["cpu"].startswith("aarch64"), runs["arm64"]
    assert runs["arm64"]["int8_kernel"] == "arm64 dotprod udot (int32 accumulation)"


def test_int8_on_arm64_is_within_the_other_architecture_tolerance(runs: dict[str, Any]) -> None:
    cosines = row_cosines(runs["arm"][0], runs["x86"][0])
    assert cosines.min() >= OTHER_ARCHITECTURE, np.round(cosines, 6)
    fp32 = row_cosines(runs["arm"][1], runs["x86"][1])
    assert fp32.min() >= 1 - 1e-9, fp32  # fp32: last-bit differences only


def test_fidelity_check_passes_on_arm64(runs: dict[str, Any]) -> None:
    assert runs["arm64"]["checks"] == [None, None], runs["arm64"]["checks"]
