"""Model directories: manifest, integrity checks, and (build-time only) the ONNX export."""

from lamina.models.manifest import FileEntry, Manifest, QualityReport, SourceInfo, open_model_dir

__all__ = ["FileEntry", "Manifest", "QualityReport", "SourceInfo", "open_model_dir"]
