"""Inference: the model lifecycle, tokenization, ONNX Runtime sessions, pooling, batching."""

from lamina.inference.embedder import Embedder, EmbeddingResult, OnnxEmbedder
from lamina.inference.lifecycle import Handled, ModelHandler, StageTimings

__all__ = ["Embedder", "EmbeddingResult", "Handled", "ModelHandler", "OnnxEmbedder", "StageTimings"]
