"""One int8 model, one set of vectors, whatever x86 CPU runs it (issue 12).

ONNX Runtime's CPU kernels (MLAS) choose their u8 x s8 GEMM by CPU feature. This machine
may have AVX-512 VNNI (int32 accumulation); Lambda's and other x86 hosts may have only
AVX2, whose kernel (``vpmaddubsw``) adds two u8 x s8 products into a *saturating* int16
lane. QEMU user-mode emulation (``qemu-x86_64 -cpu Haswell``) presents an AVX2 CPU without
AVX-512, so the same ONNX Runtime wheel takes its AVX2 kernels there. Each test says which
kernel ran (``lamina.inference.cpu``, from CPUID as the emulated process sees it) and
proves the kernel really changed with a control graph that saturates (8-bit weights, the
scheme before issue 12): its vectors drift under emulation and its fidelity check refuses
it. The production int8 graph (7-bit weights: pair sums within int16) must give the same
vectors natively and emulated (cosine >= 0.9999 text by text) and stay within the quality
gate's min cosine of fp32.

Slow (every ONNX run is emulated): the text set is small.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.inference.pooling import row_cosines
from lamina.models.manifest import file_entry, read_manifest, write_manifest
from lamina_tools.models import build
from lamina_tools.models.corpus import calibration_texts
from tests.conftest import ROOT
from tests.cpu.conftest import SAME_VECTORS, probe

# Haswell: AVX2 + FMA, no AVX-512, no VNNI (QEMU 7.2's TCG emulates AVX2).
EMULATED_CPU = "Haswell"
INSTALL = ROOT / "infra" / "cpu" / "ensure-qemu.sh"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def qemu() -> str:
    """qemu-x86_64, installed by infra/cpu/ensure-qemu.sh (apt) when missing."""
    found = shutil.which("qemu-x86_64")
    if found is None:
        proc = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, check=False)
        found = shutil.which("qemu-x86_64")
        if found is None:
            pytest.fail(
                f"qemu-x86_64 is needed to run the AVX2 code path and could not be installed "
                f"({INSTALL}: {proc.stderr.strip()[-500:]}); install Debian's qemu-user",
                pytrace=False,
            )
    return found


@pytest.fixture(scope="module")
def saturating_int8(int8_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The control: the same recipe with full-range 8-bit weights (what shipped before
    issue 12), rounded to nearest, its fidelity vectors taken on this machine."""
    work = tmp_path_factory.mktemp("w8")
    # a copy: onnx.load refuses weights with several hard links (other tests make some)
    fp32 = Path(shutil.copytree(int8_dir.parent / "fp32", work / "fp32"))
    target = work / "int8-w8"
    target.mkdir()
    calibration = build.calibrate(
        fp32 / "model.onnx", fp32 / "tokenizer.json", 256, calibration_texts(32)
    )
    graph = work / "graph.onnx"
    eight_bit = build.IntScheme(weight_bits=8)
    assert not eight_bit.exact_on_saturating_kernels()
    build.quantize_int8(fp32 / "model.onnx", graph, calibration, scheme=eight_bit, gptq=False)
    build.write_with_external_data(graph, target / "model.onnx")
    shutil.copyfile(fp32 / "tokenizer.json", target / "tokenizer.json")
    manifest = read_manifest(int8_dir).model_copy(update={"fidelity": None})
    manifest = manifest.model_copy(
        update={"files": [file_entry(target, p.name) for p in sorted(target.iterdir())]}
    )
    manifest = manifest.model_copy(update={"fidelity": build.fidelity_check(target, manifest)})
    write_manifest(target, manifest)
    return target


@pytest.fixture(scope="module")
def runs(
    qemu: str,
    texts: Path,
    int8_dir: Path,
    fp32_dir: Path,
    saturating_int8: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("runs")
    dirs = [int8_dir, saturating_int8]
    native, native_vectors = probe(tmp / "native.npz", texts, [*dirs, fp32_dir], [])
    emulated, emulated_vectors = probe(
        tmp / "emulated.npz", texts, dirs, [qemu, "-cpu", EMULATED_CPU]
    )
    return {
        "native": native,
        "emulated": emulated,
        "int8": (native_vectors[0], emulated_vectors[0]),
        "w8": (native_vectors[1], emulated_vectors[1]),
        "fp32": native_vectors[2],
    }


def test_emulated_cpu_takes_the_saturating_avx2_kernel(runs: dict[str, Any]) -> None:
    emulated = runs["emulated"]
    assert "AVX512F" not in emulated["cpu"], emulated
    assert emulated["int8_kernel"] == "AVX2 vpmaddubsw (saturating int16 pair sums)", emulated
    # ... and it really ran: 8-bit weights overflow the int16 pair sums there, not here.
    native, emulated_w8 = runs["w8"]
    cosines = row_cosines(emulated_w8, native)
    assert cosines.min() < 0.999, (
        f"the control graph gave the same vectors under {EMULATED_CPU} (min cosine "
        f"{cosines.min():.6f}): the emulated run did not take the saturating kernel "
        f"({emulated['cpu']} vs native {runs['native']['cpu']})"
    )


def test_production_int8_gives_the_same_vectors_on_avx2(runs: dict[str, Any]) -> None:
    native, emulated = runs["int8"]
    # the same bits: exact integers, and fp32 ops that sum in one order on every x86 CPU
    differ = [i for i in range(len(native)) if not np.array_equal(native[i], emulated[i])]
    assert differ == [], f"texts {differ} differ in their bits between the two CPUs"
    cosines = row_cosines(emulated, native)
    assert cosines.min() >= SAME_VECTORS, (
        f"int8 under {runs['emulated']['int8_kernel']} vs {runs['native']['int8_kernel']}: "
        f"min cosine {cosines.min():.7f} < {SAME_VECTORS} (text {int(np.argmin(cosines))})"
    )
    # and stays as close to fp32 as the quality gate demands
    versus_fp32 = row_cosines(emulated, runs["fp32"])
    assert versus_fp32.min() >= build.GATE.min_cosine, versus_fp32


def test_fidelity_check_passes_on_avx2_for_the_production_model(runs: dict[str, Any]) -> None:
    assert runs["native"]["checks"][0] is None, runs["native"]
    assert runs["emulated"]["checks"][0] is None, runs["emulated"]


def test_fidelity_check_refuses_the_saturating_graph_on_avx2(runs: dict[str, Any]) -> None:
    assert runs["native"]["checks"][1] is None, runs["native"]  # its own build host
    refused = runs["emulated"]["checks"][1]
    assert refused is not None, "a saturating int8 graph passed the fidelity check on AVX2"
    assert "computes different vectors on this CPU than on its build host" in refused
    assert "AVX2 vpmaddubsw" in refused  # the message names this host's kernel
