"""Shared by the emulated-CPU tests: the texts, the emulators (QEMU user mode for x86 and
the arm64 Python of infra/cpu/arm64-python.sh), and running tests/cpu/probe.py natively or
under an emulator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina_tools.models import build
from lamina_tools.models.corpus import retrieval_corpus
from tests.conftest import ROOT

SAME_VECTORS = 0.9999  # between hosts, text by text (issue 12)
# 1 - cosine allowed between two CPU paths for the q4 model (fp32 activations): fp32
# rounding only. Measured <= 2e-13 (docs/performance.md, "multilingual-e5-small (q4) on
# every CPU"); activations rounded to 8 bits put the int8 MiniLM's arm64 vectors 2e-6
# (median) to 9e-4 (worst) from x86's, saturation further.
FP32_ROUNDING = 1e-9
E5_Q4 = ROOT / "build" / "models" / "multilingual-e5-small" / "q4"
ENSURE_QEMU = ROOT / "infra" / "cpu" / "ensure-qemu.sh"
ARM64_PYTHON = ROOT / "infra" / "cpu" / "arm64-python.sh"
# multilingual-e5-small under emulation: few, short texts (12 layers, every op emulated),
# two of them Korean; the prompts as the API prepends them. The cold-start check adds the
# manifest's 6 fidelity texts (Korean, English, Japanese, Russian, SQL, a long paragraph).
Q4_TEXTS = (
    "query: 김치찌개 맛있게 끓이는 법",
    "passage: 서울은 대한민국의 수도이며 인구는 약 천만 명이다.",
    "query: how do I make kimchi stew?",
    "passage: Der Zug nach Berlin fährt um sieben Uhr ab.",
)


@pytest.fixture(scope="session")
def texts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fidelity texts and the gate corpus' 6 longest texts (most accumulations)."""
    corpus = retrieval_corpus(2000)
    longest = sorted(corpus, key=len, reverse=True)[:6]
    path = tmp_path_factory.mktemp("texts") / "texts.json"
    path.write_text(json.dumps([*build.FIDELITY_TEXTS, *longest]), encoding="utf-8")
    return path


def cpu_flags(report: dict[str, Any]) -> list[str]:
    """The CPU features in a probe report's ``cpu`` (``machine model [FLAGS]; ...``)."""
    return str(report["cpu"]).partition("[")[2].partition("]")[0].split()


def run(
    module: str,
    args: list[str],
    runner: list[str],
    python: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """``python -m MODULE ARGS`` in the repository (``runner`` in front: an emulator, or
    nothing); its stdout. Fails the test with its stderr if it fails."""
    proc = subprocess.run(
        [*runner, *([sys.executable] if python is None else python), "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def probe(
    out: Path,
    texts: Path,
    dirs: list[Path],
    runner: list[str],
    python: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Run ``tests.cpu.probe`` (with ``runner`` in front: an emulator, or nothing): its
    report (CPU, int8 and q4 kernels, each directory's fidelity check and cosines) and each
    directory's vectors."""
    args = [str(out), str(texts), *map(str, dirs), "--check"]
    stdout = run("tests.cpu.probe", args, runner, python, env)
    report = json.loads(stdout.strip().splitlines()[-1])
    with np.load(out) as data:
        vectors = [data[str(i)] for i in range(len(dirs))]
    return report, vectors


@pytest.fixture(scope="session")
def e5_q4_dir() -> Path:
    """multilingual-e5-small's q4 variant (MatMulNBits 4-bit, fp32 activations)."""
    if not (E5_Q4 / "manifest.json").is_file():
        pytest.fail(
            f"no built multilingual-e5-small q4 model at {E5_Q4}: run "
            "`.venv/bin/lamina models build --model multilingual-e5-small` first",
            pytrace=False,
        )
    return E5_Q4


@pytest.fixture(scope="session")
def q4_texts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("q4-texts") / "texts.json"
    path.write_text(json.dumps(list(Q4_TEXTS), ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def q4_native(
    e5_q4_dir: Path, q4_texts: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], np.ndarray]:
    """The q4 model on this machine: the probe's report and the texts' vectors."""
    out = tmp_path_factory.mktemp("q4-native") / "native.npz"
    report, vectors = probe(out, q4_texts, [e5_q4_dir], [])
    return report, vectors[0]


@pytest.fixture(scope="session")
def q4_ops(
    e5_q4_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, np.ndarray]]:
    """One-node graphs of the q4 model (tests/cpu/q4_ops.py) and their outputs here."""
    work = tmp_path_factory.mktemp("q4-ops")
    run("tests.cpu.q4_ops", ["build", str(e5_q4_dir), str(work)], [])
    return work, run_q4_ops(work, work / "native.npz", [])


def run_q4_ops(
    work: Path,
    out: Path,
    runner: list[str],
    python: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, np.ndarray]:
    run("tests.cpu.q4_ops", ["run", str(work), str(out)], runner, python, env)
    with np.load(out) as data:
        return {name: data[name] for name in data.files}


def differing(outputs: dict[str, np.ndarray], native: dict[str, np.ndarray]) -> dict[str, int]:
    """How many values of each op's output differ in their bits from this machine's."""
    return {name: int(np.sum(outputs[name] != native[name])) for name in native}


@pytest.fixture(scope="session")
def qemu_x86_64() -> str:
    """qemu-x86_64, installed by infra/cpu/ensure-qemu.sh (apt) when missing."""
    found = shutil.which("qemu-x86_64")
    if found is None:
        proc = subprocess.run(
            ["bash", str(ENSURE_QEMU)], capture_output=True, text=True, check=False
        )
        found = shutil.which("qemu-x86_64")
        if found is None:
            pytest.fail(
                f"qemu-x86_64 is needed to run x86 code paths this CPU does not take and could "
                f"not be installed ({ENSURE_QEMU}: {proc.stderr.strip()[-500:]}); install "
                "Debian's qemu-user",
                pytrace=False,
            )
    return found


@pytest.fixture(scope="session")
def arm64_python() -> Path:
    """infra/cpu/arm64-python.sh, its arm64 root fs set up (idempotent; ~3 min the first
    time). ``arm64(script, cpu)`` gives the arguments that run a module there."""
    proc = subprocess.run(
        ["bash", str(ARM64_PYTHON), "setup"],
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"could not set up the arm64 Python ({ARM64_PYTHON} setup exited "
            f"{proc.returncode}): {proc.stderr.strip()[-1500:]}",
            pytrace=False,
        )
    return ARM64_PYTHON


def arm64(script: Path, cpu: str) -> dict[str, Any]:
    """``runner``, ``python`` and ``env`` for ``probe``/``run``: the arm64 Python under
    ``qemu-aarch64 -cpu CPU``, with the repository and lamina on its path."""
    guest_path = f"{ROOT}:{ROOT / 'layers' / 'lamina' / 'python'}"
    return {
        "runner": ["bash", str(script), "run", "--cpu", cpu, "--"],
        "python": [],  # the script's `run` starts the guest's python3
        "env": {"LAMINA_ARM64_PYTHONPATH": guest_path},
    }


def assert_matmulnbits_exact(ops: dict[str, Any]) -> None:
    """MatMulNBits alone gives the same bits on the other CPU as on this one."""
    assert ops["matmulnbits_q"] == 0, ops
    assert ops["matmulnbits_ffn_down"] == 0, ops


def assert_within_fp32_rounding(other: np.ndarray, here: np.ndarray, label: str) -> None:
    """The q4 model's vectors on the other CPU are this host's up to fp32 rounding."""
    from lamina.inference.pooling import row_cosines

    cosines = row_cosines(other.astype(np.float64), here.astype(np.float64))
    assert 1 - cosines.min() <= FP32_ROUNDING, (
        f"{label}: 1 - cosine {(1 - cosines).tolist()} (text {int(np.argmin(cosines))})"
    )
