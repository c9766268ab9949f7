"""What the generic function serves: an ONNX graph (``OnnxModel``) or a query model
(``SqlModel``, manifest task ``sql``), picked by the manifest's task. Both have a signature
(``inputs``, ``outputs``: ``TensorSpec``) and ``infer`` on the Open Inference Protocol's
tensors, so ``lamina.api.oip`` serves either the same way; DuckDB is imported only when a
query model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from lamina.inference.onnx_model import OnnxModel
from lamina.models.manifest import read_manifest
from lamina.settings import Settings

if TYPE_CHECKING:
    from lamina.inference.sql_model import SqlModel

TensorModel: TypeAlias = "OnnxModel | SqlModel"


class GenericModel:
    """The model kind ``lamina.inference.load`` opens for the generic function."""

    @staticmethod
    def from_settings(model_dir: Path, *, verify: bool, settings: Settings) -> TensorModel:
        if read_manifest(model_dir).task == "sql":
            from lamina.inference.sql_model import SqlModel

            return SqlModel.from_settings(model_dir, verify=verify, settings=settings)
        return OnnxModel.from_settings(model_dir, verify=verify, settings=settings)
