"""Another version of a built model directory, for A/B tests and benchmarks of them.

``copy_as_version`` copies a model directory under a new version with its model card
amended: the same graph and answers, another digest (sha256 over the files), which is what
a function under an A/B test requires of its candidate (``LAMINA_AB_CANDIDATES``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lamina.models.manifest import Manifest, file_entry, read_manifest, write_manifest


def copy_as_version(source: Path, target: Path, version: str) -> Manifest:
    """``source`` copied to ``target`` as ``version``, its card amended (a new digest)."""
    shutil.copytree(source, target)
    manifest = read_manifest(target)
    if manifest.card_file is None:
        raise ValueError(f"{source} has no model card to amend")
    with (target / manifest.card_file).open("a", encoding="utf-8") as card:
        card.write(f"\nVersion {version}: a copy of {manifest.version} (same graph).\n")
    files = [
        file_entry(target, f.path) if f.path == manifest.card_file else f for f in manifest.files
    ]
    updated = manifest.model_copy(update={"version": version, "files": files})
    write_manifest(target, updated)
    return updated
