"""Factories for test data shared by several test modules."""

from __future__ import annotations

from pathlib import Path

from lamina.models.manifest import Manifest, SourceInfo, file_entry, write_manifest


def make_model_dir(
    root: Path,
    files: dict[str, bytes],
    *,
    name: str = "m",
    version: str = "1",
    created_at: str = "2026-01-01T00:00:00+00:00",
) -> Manifest:
    """A small, valid model directory (not a real model): the files, then manifest.json."""
    root.mkdir(parents=True, exist_ok=True)
    for relative, data in files.items():
        (root / relative).write_bytes(data)
    manifest = Manifest(
        name=name,
        version=version,
        variant="fp32",
        quantization="none",
        embedding_dim=4,
        max_seq_length=8,
        pooling="mean",
        normalize=True,
        opset=17,
        source=SourceInfo(model_id="x/y", package="p", package_version="1", license="MIT"),
        files=[file_entry(root, relative) for relative in sorted(files)],
        created_at=created_at,
    )
    write_manifest(root, manifest)
    return manifest
