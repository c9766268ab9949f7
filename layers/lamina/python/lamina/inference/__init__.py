"""Inference core: tokenization, length-aware batching, ONNX Runtime, pooling. No HTTP here."""

from lamina.inference.embedder import Embedder, EmbeddingResult, OnnxEmbedder, StageTimings

__all__ = ["Embedder", "EmbeddingResult", "OnnxEmbedder", "StageTimings"]
