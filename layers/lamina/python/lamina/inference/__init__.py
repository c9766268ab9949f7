"""Inference: the model lifecycle, tokenization, ONNX Runtime sessions, pooling, batching."""

from lamina.inference.embedder import Embedder, EmbeddingResult, OnnxEmbedder
from lamina.inference.lifecycle import Handled, InferenceModel, StageTimings

__all__ = [
    "Embedder",
    "EmbeddingResult",
    "Handled",
    "InferenceModel",
    "OnnxEmbedder",
    "StageTimings",
]
