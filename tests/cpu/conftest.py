"""Shared by the emulated-CPU tests: the texts, and running tests/cpu/probe.py natively or
under an emulator."""

from __future__ import annotations

import json
import os
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


@pytest.fixture(scope="session")
def texts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fidelity texts and the gate corpus' 6 longest texts (most accumulations)."""
    corpus = retrieval_corpus(2000)
    longest = sorted(corpus, key=len, reverse=True)[:6]
    path = tmp_path_factory.mktemp("texts") / "texts.json"
    path.write_text(json.dumps([*build.FIDELITY_TEXTS, *longest]), encoding="utf-8")
    return path


def probe(
    out: Path,
    texts: Path,
    dirs: list[Path],
    runner: list[str],
    python: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Run ``tests.cpu.probe`` (with ``runner`` in front: an emulator, or nothing): its
    report (CPU, int8 kernel, each directory's fidelity check) and each directory's vectors."""
    command = [
        *runner,
        *([sys.executable] if python is None else python),
        "-m",
        "tests.cpu.probe",
        str(out),
        str(texts),
        *map(str, dirs),
        "--check",
    ]
    proc = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(out) as data:
        vectors = [data[str(i)] for i in range(len(dirs))]
    return report, vectors
