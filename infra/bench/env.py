"""Environment shared by the benchmark process and its children: quiet telemetry, no hub."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from pathlib import Path

QUIET_ENV: Mapping[str, str] = {
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


def apply_quiet_env() -> None:
    """Set QUIET_ENV in this process (values already set by the caller win)."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def child_env(threads: int, model_uri: str | None = None) -> dict[str, str]:
    """The environment of a benchmark child: this one, quiet, with the thread count pinned."""
    env = {**os.environ, **QUIET_ENV, "LAMINA_INTRA_OP_THREADS": str(threads)}
    if model_uri is not None:
        env["MODEL_URI"] = model_uri
    return env


CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8", "asimd")


def cpu_info() -> tuple[str, str]:
    """The CPU's model name and which of CPU_FLAGS it has (from /proc/cpuinfo)."""
    model, flags = platform.processor() or platform.machine(), set[str]()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return model, "unknown"
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            model = value.strip()
        elif key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return model, ", ".join(f for f in CPU_FLAGS if f in flags) or "none of " + ", ".join(CPU_FLAGS)
