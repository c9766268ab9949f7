"""Text classification on the model lifecycle, and zero-shot labels from its embeddings.

A ``text-classification`` model directory (``lamina models build --model
intent-classifier``) holds one graph: the sentence encoder, mean pooling, L2 normalization
and the classifier head. Its outputs are ``probabilities`` (one column per label of
``labels.json``) and ``sentence_embedding`` (the normalized vector).

- ``classify``: preprocess (tokenize, plan batches) -> inference (``probabilities``)
  -> postprocess (top-k labels, most likely first).
- ``embed``: the same graph's ``sentence_embedding`` output, which the zero-shot route
  compares with the embeddings of the caller's labels. ONNX Runtime runs the whole graph
  whatever outputs are asked for (checked: asking for one output of two does not skip the
  other's nodes), so the head runs too; it is one 384 x 157 product per text, next to six
  transformer layers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lamina.errors import ModelLoadError
from lamina.inference.labels import LabelScore, top_k
from lamina.inference.lifecycle import StageTimings
from lamina.inference.text import TextModel, TokenizedTexts
from lamina.models.manifest import Manifest, read_labels

PROBABILITIES = "probabilities"
SENTENCE_EMBEDDING = "sentence_embedding"


@dataclass(frozen=True)
class ClassifyRequest:
    texts: Sequence[str]
    top_k: int | None = None  # None: every label
    truncate: bool = True


@dataclass(frozen=True)
class Classification:
    labels: list[list[LabelScore]]  # per text, most likely first
    token_counts: list[int]
    truncated: list[bool]
    timings: StageTimings
    unknown_tokens: list[int] | None = None  # unknown-token ids among each text's tokens


@dataclass(frozen=True)
class _Prepared:
    tokens: TokenizedTexts
    top_k: int | None


@dataclass(frozen=True)
class _Scored:
    probabilities: np.ndarray
    prepared: _Prepared


class OnnxTextClassifier(TextModel[ClassifyRequest, _Prepared, _Scored, Classification]):
    TASK = "text-classification"

    def __init__(self, model_dir: Path, manifest: Manifest, **options: int) -> None:
        super().__init__(model_dir, manifest, **options)
        self.labels = read_labels(model_dir, manifest)
        if PROBABILITIES not in self.output_names:
            raise ModelLoadError(f"{manifest.model_file} has no {PROBABILITIES!r} output")
        width = self._session.get_outputs()[self.output_names.index(PROBABILITIES)].shape[-1]
        if isinstance(width, int) and width != len(self.labels):
            raise ModelLoadError(
                f"{manifest.model_file} scores {width} labels, {manifest.labels_file} "
                f"lists {len(self.labels)}"
            )
        self.can_embed = SENTENCE_EMBEDDING in self.output_names

    def preprocess(self, request: ClassifyRequest) -> _Prepared:
        return _Prepared(
            self.tokenize_texts(request.texts, truncate=request.truncate), request.top_k
        )

    def inference(self, inputs: _Prepared) -> _Scored:
        (probabilities,) = self.run_batches(inputs.tokens, [PROBABILITIES])
        return _Scored(probabilities, inputs)

    def postprocess(self, raw: _Scored) -> Classification:
        # The head's softmax sums to 1 up to float32 rounding; renormalize in float64 so the
        # confidences a client adds up give 1 to within 1e-9.
        probabilities = raw.probabilities.astype(np.float64)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        encoded = raw.prepared.tokens.encoded
        return Classification(
            labels=top_k(probabilities, self.labels, raw.prepared.top_k),
            token_counts=encoded.lengths,
            truncated=encoded.truncated,
            timings=StageTimings(),  # handle() measures them; classify() fills them in
            unknown_tokens=encoded.unknown(self._tokenizer.unk_id),
        )

    def classify(
        self, texts: Sequence[str], *, top_k: int | None = None, truncate: bool = True
    ) -> Classification:
        handled = self.handle(ClassifyRequest(texts, top_k, truncate))
        return dataclasses.replace(handled.output, timings=handled.timings)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Normalized sentence embeddings (n, dim) from the graph's encoder (zero-shot)."""
        if not self.can_embed:
            raise ModelLoadError(f"{self.name} has no {SENTENCE_EMBEDDING!r} output")
        (vectors,) = self.run_batches(self.tokenize_texts(texts), [SENTENCE_EMBEDDING])
        return vectors
