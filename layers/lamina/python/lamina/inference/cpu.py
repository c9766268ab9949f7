"""What this CPU is, as ONNX Runtime's int8 kernels see it (for logs, manifests, benchmarks).

MLAS (ONNX Runtime's CPU kernels) picks its u8 x s8 GEMM by CPU feature at start-up.
Without VNNI, x86 kernels add two u8 x s8 products into a saturating int16
(``vpmaddubsw``); VNNI, AMX and every arm64 kernel accumulate in int32. lamina's int8 graph
keeps its products within int16 (7-bit weights), so every path computes the same integers;
this module only names the path, for the numbers we report and the cold-start check.

Features come from CPUID as numpy reads it (so an emulated CPU reports what it emulates);
AVX-VNNI and AMX, which numpy does not name, come from /proc/cpuinfo, trusted only when
its AVX2 / AVX-512 flags agree with CPUID (under QEMU user mode it describes the host).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_X86_SHOWN = ("AVX2", "AVX512F", "AVX512BW", "AVX512VNNI")
_ARM_SHOWN = ("ASIMD", "ASIMDDP", "SVE")


@dataclass(frozen=True)
class CpuInfo:
    machine: str
    model: str
    features: tuple[str, ...]
    int8_kernel: str

    def describe(self) -> str:
        flags = " ".join(self.features) or "none of " + " ".join(_X86_SHOWN)
        return f"{self.machine} {self.model} [{flags}]; int8 GEMM: {self.int8_kernel}"


def _numpy_features() -> dict[str, bool]:
    import importlib

    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):  # 2.x, 1.x
        try:
            return dict(importlib.import_module(name).__cpu_features__)
        except (ImportError, AttributeError):
            continue
    return {}


def _proc_cpuinfo() -> tuple[str, set[str]]:
    """(model name, flags) of /proc/cpuinfo's first processor; empty off Linux."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "", set()
    model, flags = "", set[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return model, flags


def x86_int8_kernel(features: set[str]) -> str:
    """MLAS's u8 x s8 GEMM for these features (onnxruntime/core/mlas/lib/platform.cpp)."""
    if "AMX_INT8" in features:
        return "AMX (int32 accumulation)"
    if "AVX512VNNI" in features:
        return "AVX-512 VNNI vpdpbusd (int32 accumulation)"
    if "AVX_VNNI" in features:
        return "AVX-VNNI vpdpbusd (int32 accumulation)"
    if "AVX512BW" in features:
        return "AVX-512BW vpmaddubsw (saturating int16 pair sums)"
    if "AVX2" in features:
        return "AVX2 vpmaddubsw (saturating int16 pair sums)"
    return "SSE int16 widening (exact)"


def arm_int8_kernel(flags: set[str]) -> str:
    if "i8mm" in flags:
        return "arm64 i8mm ummla (int32 accumulation)"
    if "asimddp" in flags:
        return "arm64 dotprod udot (int32 accumulation)"
    return "arm64 NEON int16 widening"


@lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    machine = platform.machine() or "unknown"
    model, flags = _proc_cpuinfo()
    numpy_flags = _numpy_features()
    if machine.lower() in ("aarch64", "arm64"):
        shown = tuple(name for name in _ARM_SHOWN if numpy_flags.get(name))
        shown += ("I8MM",) if "i8mm" in flags else ()
        return CpuInfo(machine, model or "arm64", shown, arm_int8_kernel(flags))
    features = {name for name, on in numpy_flags.items() if on}
    agrees = ("avx2" in flags) == ("AVX2" in features) and (
        ("avx512f" in flags) == ("AVX512F" in features)
    )
    if agrees:  # /proc/cpuinfo describes this CPU: take what numpy does not name
        features |= {extra.upper() for extra in ("avx_vnni", "amx_int8") if extra in flags}
    shown = tuple(name for name in (*_X86_SHOWN, "AVX_VNNI", "AMX_INT8") if name in features)
    return CpuInfo(machine, model or "x86", shown, x86_int8_kernel(features))
