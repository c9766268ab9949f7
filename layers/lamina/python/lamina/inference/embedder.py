"""The text embedder: one interface, one ONNX Runtime implementation.

Lifecycle (the same stages every lamina model goes through):
load once per process -> preprocess (tokenize, plan batches) -> inference (ONNX runs)
-> postprocess (pool, normalize), each stage timed.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.errors import InvalidInputError, ModelLoadError, TextTooLongError
from lamina.inference.batching import plan_batches
from lamina.inference.pooling import cls_pool, l2_normalize, mean_pool
from lamina.inference.session import create_session
from lamina.inference.tokenizer import TextTokenizer, pad_batch
from lamina.models.manifest import Manifest, open_model_dir


@dataclass(frozen=True)
class StageTimings:
    """Milliseconds spent in each stage of one call."""

    tokenize_ms: float = 0.0
    inference_ms: float = 0.0
    pooling_ms: float = 0.0


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: np.ndarray  # (n, dim) float32, in input order
    token_counts: list[int]  # tokens fed to the model per text (after truncation)
    truncated: list[bool]
    timings: StageTimings
    runs: int  # ONNX runs (batches) used

    @property
    def total_tokens(self) -> int:
        return sum(self.token_counts)


@dataclass(frozen=True)
class TokenizeResult:
    ids: list[int]
    tokens: list[str]
    truncated: bool


class Embedder(ABC):
    """Turns texts into vectors. Implementations load once and are safe to reuse."""

    manifest: Manifest

    @property
    def dim(self) -> int:
        return self.manifest.embedding_dim

    @abstractmethod
    def embed(
        self, texts: Sequence[str], *, normalize: bool = True, truncate: bool = True
    ) -> EmbeddingResult:
        """Embed ``texts``; ``truncate=False`` makes an over-long text raise TextTooLongError."""

    @abstractmethod
    def tokenize(self, text: str) -> TokenizeResult:
        """The model's view of one text."""


class OnnxEmbedder(Embedder):
    def __init__(
        self,
        model_dir: Path,
        manifest: Manifest,
        *,
        token_budget: int = 8192,
        max_run_batch: int = 64,
        intra_op_threads: int = 0,
    ) -> None:
        self.model_dir = model_dir
        self.manifest = manifest
        self.token_budget = token_budget
        self.max_run_batch = max_run_batch
        try:
            self._tokenizer = TextTokenizer(
                model_dir / manifest.tokenizer_file, manifest.max_seq_length
            )
            self._session = create_session(model_dir / manifest.model_file, intra_op_threads)
        except Exception as exc:  # onnxruntime and tokenizers raise their own types
            raise ModelLoadError(f"cannot load model from {model_dir}: {exc}") from exc
        self._input_names = {item.name for item in self._session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self._input_names
        if missing:
            raise ModelLoadError(f"model.onnx lacks inputs {sorted(missing)}")
        self._output_name = self._session.get_outputs()[0].name
        self._pool = mean_pool if manifest.pooling == "mean" else cls_pool

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        verify: bool = True,
        token_budget: int = 8192,
        max_run_batch: int = 64,
        intra_op_threads: int = 0,
        warmup: bool = True,
    ) -> OnnxEmbedder:
        manifest = open_model_dir(model_dir, verify=verify)
        embedder = cls(
            model_dir,
            manifest,
            token_budget=token_budget,
            max_run_batch=max_run_batch,
            intra_op_threads=intra_op_threads,
        )
        if warmup:
            embedder.embed(["warm up the session"])
        return embedder

    def embed(
        self, texts: Sequence[str], *, normalize: bool = True, truncate: bool = True
    ) -> EmbeddingResult:
        if not texts:
            raise InvalidInputError("nothing to embed: the list of texts is empty")
        # preprocess
        t0 = time.perf_counter()
        encoded = self._tokenizer.encode(texts)
        if not truncate:
            for index, was_cut in enumerate(encoded.truncated):
                if was_cut:
                    raise TextTooLongError(
                        f"text {index} is longer than the model's limit of "
                        f"{self.manifest.max_seq_length} tokens (truncate is off)",
                        index=index,
                    )
        lengths = encoded.lengths
        batches = plan_batches(lengths, self.token_budget, self.max_run_batch)
        tokenize_s = time.perf_counter() - t0

        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        inference_s = pooling_s = 0.0
        for batch in batches:
            ids, mask = pad_batch([encoded.ids[i] for i in batch])
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            t1 = time.perf_counter()
            (hidden,) = self._session.run([self._output_name], feeds)
            t2 = time.perf_counter()
            pooled = self._pool(hidden, mask)
            if normalize:
                pooled = l2_normalize(pooled)
            vectors[batch] = pooled
            t3 = time.perf_counter()
            inference_s += t2 - t1
            pooling_s += t3 - t2
        return EmbeddingResult(
            vectors=vectors,
            token_counts=lengths,
            truncated=encoded.truncated,
            timings=StageTimings(tokenize_s * 1e3, inference_s * 1e3, pooling_s * 1e3),
            runs=len(batches),
        )

    def tokenize(self, text: str) -> TokenizeResult:
        ids, tokens, truncated = self._tokenizer.tokens(text)
        return TokenizeResult(ids=ids, tokens=tokens, truncated=truncated)
