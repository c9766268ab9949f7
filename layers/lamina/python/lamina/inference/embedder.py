"""The text embedder: one interface, one ONNX Runtime implementation.

Its lifecycle is every lamina model's (``lamina.inference.lifecycle``):
initialize (load once per process, check the vectors against the build host's, which
also warms up) -> preprocess (tokenize, plan batches)
-> inference (ONNX runs; each run's ``last_hidden_state`` is pooled as soon as it comes
out, so memory holds one run's hidden states at a time) -> postprocess (L2-normalize).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.errors import ModelFidelityError, ModelLoadError
from lamina.inference.cpu import cpu_info
from lamina.inference.lifecycle import StageTimings
from lamina.inference.pooling import cls_pool, l2_normalize, mean_pool, row_cosines
from lamina.inference.text import TextModel, TokenizedTexts, TokenizeResult
from lamina.models.manifest import Manifest

__all__ = ["EmbedRequest", "Embedder", "EmbeddingResult", "OnnxEmbedder", "TokenizeResult"]


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
class EmbedRequest:
    texts: Sequence[str]
    normalize: bool = True
    truncate: bool = True


@dataclass(frozen=True)
class _Prepared:
    """Preprocess output: the tokens, and the option postprocess applies."""

    tokens: TokenizedTexts
    normalize: bool


@dataclass(frozen=True)
class _Pooled:
    """Inference output: pooled (not yet normalized) vectors and what postprocess reports."""

    vectors: np.ndarray
    prepared: _Prepared


class Embedder(ABC):
    """Turns texts into vectors. Implementations load once and are safe to reuse."""

    manifest: Manifest

    @property
    def dim(self) -> int:
        if self.manifest.embedding_dim is None:
            raise ModelLoadError(f"{self.manifest.name} declares no embedding_dim")
        return self.manifest.embedding_dim

    @abstractmethod
    def embed(
        self, texts: Sequence[str], *, normalize: bool = True, truncate: bool = True
    ) -> EmbeddingResult:
        """Embed ``texts``; ``truncate=False`` makes an over-long text raise TextTooLongError."""

    @abstractmethod
    def tokenize(self, text: str) -> TokenizeResult:
        """The model's view of one text."""


class OnnxEmbedder(TextModel[EmbedRequest, _Prepared, _Pooled, EmbeddingResult], Embedder):
    TASK = "embedding"

    def __init__(self, model_dir: Path, manifest: Manifest, **options: int) -> None:
        super().__init__(model_dir, manifest, **options)
        self._output_name = self.output_names[0]
        self._pool = mean_pool if manifest.pooling == "mean" else cls_pool

    def warm_up(self) -> None:
        """Embed the manifest's fidelity texts and compare with the build host's vectors.

        This is also the warm-up run. A host whose kernels compute something else (an int8
        path that saturates, another runtime's arithmetic) is refused like a tampered
        file: ModelFidelityError, so the function logs it, counts ModelLoadFailures and
        answers 503 ``model_unavailable`` instead of vectors of a different model. A
        manifest without fidelity vectors (built before they existed) is warmed only.
        """
        check = self.manifest.fidelity
        if check is None:
            super().warm_up()
            return
        # One text per run: no padding, so faster than the 6 as one padded batch
        # (docs/performance.md, "Cold start and the cost of a request"); a text's vector does
        # not depend on its batch, so these are the build's vectors either way.
        vectors = np.concatenate([self.embed([text]).vectors for text in check.texts])
        cosines = row_cosines(vectors, check.reference(self.dim))
        worst = int(np.argmin(cosines))
        host = cpu_info()
        floor = check.tolerance(host.machine)
        if cosines[worst] < floor:
            raise ModelFidelityError(
                f"{self.manifest.name} {self.manifest.version} computes different vectors on "
                f"this CPU than on its build host: cosine {cosines[worst]:.6f} < {floor} on "
                f"fidelity text {worst} (mean {cosines.mean():.6f} over {len(cosines)} "
                f"texts); this host: {host.describe()}; build host: {check.built_on}"
            )

    def preprocess(self, request: EmbedRequest) -> _Prepared:
        tokens = self.tokenize_texts(request.texts, truncate=request.truncate)
        return _Prepared(tokens, request.normalize)

    def inference(self, inputs: _Prepared) -> _Pooled:
        (vectors,) = self.run_batches(
            inputs.tokens, [self._output_name], lambda out, mask: [self._pool(out[0], mask)]
        )
        return _Pooled(vectors, inputs)

    def postprocess(self, raw: _Pooled) -> EmbeddingResult:
        vectors = l2_normalize(raw.vectors) if raw.prepared.normalize else raw.vectors
        tokens = raw.prepared.tokens
        return EmbeddingResult(
            vectors=vectors,
            token_counts=tokens.encoded.lengths,
            truncated=tokens.encoded.truncated,
            timings=StageTimings(),  # handle() measures them; embed() fills them in
            runs=len(tokens.batches),
        )

    def embed(
        self, texts: Sequence[str], *, normalize: bool = True, truncate: bool = True
    ) -> EmbeddingResult:
        handled = self.handle(EmbedRequest(texts, normalize, truncate))
        return dataclasses.replace(handled.output, timings=handled.timings)
