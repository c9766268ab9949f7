"""Embed texts with one or more model directories and report the CPU: run natively or
under an emulator (``qemu-x86_64 -cpu Haswell python -m tests.cpu.probe ...``).

    python -m tests.cpu.probe OUT.npz TEXTS.json DIR [DIR ...] [--check]

Writes each directory's unit vectors to OUT.npz (key = the directory's index) and prints
one JSON line: the CPU as this process sees it (``lamina.inference.cpu``), the MLAS path a
4-bit MatMulNBits with fp32 activations takes on it (``q4_kernel``) and, with ``--check``,
each directory's cold-start fidelity check (``checks``: ``null`` = passed, else the error
message) with the cosine of each fidelity text with the build host's vector
(``fidelity_cosines``, float64; ``null`` for a manifest without fidelity vectors).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import ModelFidelityError
from lamina.inference.cpu import CpuInfo, cpu_info
from lamina.inference.embedder import OnnxEmbedder


def q4_kernel(info: CpuInfo) -> str:
    """MLAS's path for MatMulNBits bits=4, accuracy_level 0 (fp32 activations: the
    SQNBIT_CompFp32 variant), as onnxruntime/core/mlas/lib/platform.cpp picks its
    QNBitGemm dispatch and fp32 GEMM kernel from the CPU. With more than one row (every
    text: [CLS] ... [SEP]) each 32-column slice of B is dequantized to fp32, then the
    platform's fp32 GEMM kernel multiplies (qnbitgemm.cpp, SQ4BitGemm_CompFp32)."""
    features = set(info.features)
    if info.machine.lower() in ("aarch64", "arm64"):
        return "NEON dispatch: NEON 4-bit dequant + NEON fp32 GEMM (MlasSgemmKernelZero)"
    if "AVX512F" in features and "AVX512BW" in features:
        dispatch = "AVX512VNNI" if "AVX512VNNI" in features else "AVX512"
        return f"{dispatch} dispatch: AVX2 4-bit dequant + AVX-512F fp32 GEMM"
    if "AVX2" in features:
        dispatch = "AVX2VNNI" if "AVX_VNNI" in features else "AVX2"
        return f"{dispatch} dispatch: AVX2 4-bit dequant + FMA3 fp32 GEMM"
    return "no QNBitGemm dispatch: dequantize B, then fp32 MlasGemm"


def fidelity_check(model: OnnxEmbedder) -> tuple[str | None, list[float] | None]:
    """Run the model's cold-start fidelity check (``warm_up``, unchanged) and keep the
    vectors it computed, to report each fidelity text's cosine with the build host's."""
    computed: list[np.ndarray] = []
    embed = model.embed

    def recording(*args: Any, **kwargs: Any) -> Any:
        result = embed(*args, **kwargs)
        computed.append(result.vectors)
        return result

    model.embed = recording  # type: ignore[method-assign]
    try:
        model.warm_up()
        error = None
    except ModelFidelityError as exc:
        error = exc.message
    finally:
        del model.embed  # the class's method again
    check = model.manifest.fidelity
    if check is None or not computed:
        return error, None
    here = np.concatenate(computed).astype(np.float64)
    there = check.reference(model.dim).astype(np.float64)
    here /= np.linalg.norm(here, axis=1, keepdims=True)
    there /= np.linalg.norm(there, axis=1, keepdims=True)
    return error, [float(c) for c in np.sum(here * there, axis=1)]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    out, texts_file, *dirs = [a for a in argv if a != "--check"]
    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))
    vectors: dict[str, np.ndarray] = {}
    checks: list[str | None] = []
    cosines: list[list[float] | None] = []
    for index, directory in enumerate(dirs):
        model = OnnxEmbedder.load(Path(directory), verify=False, warmup=False)
        vectors[str(index)] = model.embed(texts, normalize=True).vectors
        if check:
            error, fidelity = fidelity_check(model)  # the cold-start fidelity check
            checks.append(error)
            cosines.append(fidelity)
    np.savez(out, **vectors)  # type: ignore[arg-type]
    info = cpu_info()
    report = {
        "cpu": info.describe(),
        "int8_kernel": info.int8_kernel,
        "q4_kernel": q4_kernel(info),
        "checks": checks,
        "fidelity_cosines": cosines,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
