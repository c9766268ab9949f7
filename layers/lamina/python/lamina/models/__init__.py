"""Model directories at run time: manifest and integrity checks, the S3 store, the loader.

Building a model directory is build-time work: ``lamina_tools.models``."""

from lamina.models.manifest import FileEntry, Manifest, QualityReport, SourceInfo, open_model_dir

__all__ = ["FileEntry", "Manifest", "QualityReport", "SourceInfo", "open_model_dir"]
