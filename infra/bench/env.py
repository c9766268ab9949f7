"""Environment shared by the benchmark process and its children: quiet telemetry, no hub."""

from __future__ import annotations

import os
from collections.abc import Mapping

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
