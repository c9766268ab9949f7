"""Another version of a built model directory, for A/B tests and benchmarks of them.

``copy_as_version`` copies a model directory under a new version with its model card
amended (or a ``VERSION.md`` note added): the same graph and answers, another digest (sha256
over the files), which is what a function under an A/B test requires of its candidate
(``LAMINA_AB_CANDIDATES``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lamina.models.manifest import Manifest, file_entry, read_manifest, write_manifest


def copy_as_version(source: Path, target: Path, version: str) -> Manifest:
    """``source`` copied to ``target`` as ``version``, its card amended (a new digest); a
    model without a card gets a ``VERSION.md`` note instead."""
    shutil.copytree(source, target)
    manifest = read_manifest(target)
    note = manifest.card_file or "VERSION.md"
    with (target / note).open("a", encoding="utf-8") as card:
        card.write(f"\nVersion {version}: a copy of {manifest.version} (same graph).\n")
    files = [f for f in manifest.files if f.path != note] + [file_entry(target, note)]
    updated = manifest.model_copy(
        update={"version": version, "files": sorted(files, key=lambda f: f.path)}
    )
    write_manifest(target, updated)
    return updated
