"""Embed texts with one or more model directories and report the CPU: run natively or
under an emulator (``qemu-x86_64 -cpu Haswell python -m tests.cpu.probe ...``).

    python -m tests.cpu.probe OUT.npz TEXTS.json DIR [DIR ...] [--check]

Writes each directory's unit vectors to OUT.npz (key = the directory's index) and prints
one JSON line: the CPU as this process sees it (``lamina.inference.cpu``) and, with
``--check``, each directory's cold-start fidelity check (``null`` = passed, else the
error message).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from lamina.errors import ModelFidelityError
from lamina.inference.cpu import cpu_info
from lamina.inference.embedder import OnnxEmbedder


def main(argv: list[str]) -> int:
    check = "--check" in argv
    out, texts_file, *dirs = [a for a in argv if a != "--check"]
    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))
    vectors: dict[str, np.ndarray] = {}
    checks: list[str | None] = []
    for index, directory in enumerate(dirs):
        model = OnnxEmbedder.load(Path(directory), verify=False, warmup=False)
        vectors[str(index)] = model.embed(texts, normalize=True).vectors
        if check:
            try:
                model.warm_up()  # the cold-start fidelity check
                checks.append(None)
            except ModelFidelityError as exc:
                checks.append(exc.message)
    np.savez(out, **vectors)  # type: ignore[arg-type]
    info = cpu_info()
    print(json.dumps({"cpu": info.describe(), "int8_kernel": info.int8_kernel, "checks": checks}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
