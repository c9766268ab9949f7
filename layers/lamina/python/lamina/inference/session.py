"""ONNX Runtime sessions tuned for Lambda: threads from the CPUs this process really has.

Intra-op threads spin briefly between parallel sections. Measured on the fp32 MiniLM, 2
threads: spinning makes a single-text run faster, and batch throughput and CPU time are the
same either way (docs/performance.md, "Smaller findings"), because lamina tokenizes a whole
request before the first run, so the spinning threads never compete with the tokenizer's.
Inter-op spinning stays off (one inter-op thread, sequential execution).
"""

from __future__ import annotations

import os
from pathlib import Path

import onnxruntime as ort


def available_cpus() -> int:
    """CPUs this process may run on (Lambda gives ~1 vCPU per 1,769 MB of memory)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        count = os.cpu_count() or 1
    quota = _cgroup_cpu_limit()
    if quota is not None:
        count = min(count, quota)
    return max(1, count)


def _cgroup_cpu_limit() -> int | None:
    """CPU quota of a cgroup v2 container (``cpu.max``), rounded up; None when unlimited."""
    try:
        raw = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except OSError:
        return None
    if len(raw) != 2 or raw[0] == "max":
        return None
    quota, period = int(raw[0]), int(raw[1])
    return max(1, -(-quota // period))


def runtime_info(intra_op_threads: int) -> dict[str, str | int]:
    """The inference engine and its threads, as a model-info answer shows them."""
    return {
        "engine": "onnxruntime",
        "version": ort.__version__,
        "intra_op_threads": intra_op_threads or available_cpus(),
    }


def create_session(model_path: Path, intra_op_threads: int = 0) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads or available_cpus()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(
        str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
    )
