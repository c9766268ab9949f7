"""Embedding service logic: request models in, response models out. No HTTP here.

Routes in ``functions/embed/app.py`` call one method each.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from lamina.api import schemas as common
from lamina.api.embeddings import schemas as s
from lamina.api.validation import check_text, check_texts
from lamina.errors import InvalidInputError, ModelNotFoundError, TextTooLongError
from lamina.inference.embedder import Embedder, EmbeddingResult, OnnxEmbedder
from lamina.inference.load import load_model
from lamina.inference.pooling import truncate_dimensions
from lamina.inference.session import runtime_info
from lamina.observability import Telemetry
from lamina.settings import Settings


class EmbeddingService:
    def __init__(self, embedder: Embedder, settings: Settings, telemetry: Telemetry) -> None:
        self.embedder = embedder
        self.settings = settings
        self.telemetry = telemetry
        manifest = embedder.manifest
        self.model_name = manifest.name
        # Names a client may pass as `model`: ours, the upstream id, case-insensitively.
        self._model_ids = {manifest.name.lower(), manifest.source.model_id.lower()}

    @classmethod
    def load(cls, settings: Settings, telemetry: Telemetry) -> EmbeddingService:
        """Cold start: load and warm the model once, and record how long it took."""
        embedder = load_model(OnnxEmbedder, settings, telemetry)
        return cls(embedder, settings, telemetry)

    # --- core ---------------------------------------------------------------------------

    def _embed(
        self, texts: Sequence[str], param: str, *, normalize: bool, truncate: bool
    ) -> EmbeddingResult:
        """Embed texts already checked against the limits; ``param`` names them in errors."""
        try:
            result = self.embedder.embed(texts, normalize=normalize, truncate=truncate)
        except TextTooLongError as exc:
            exc.param = param if param == "text" else f"{param}[{exc.index}]"
            raise
        self.telemetry.stages(result.timings, len(result.token_counts), result.total_tokens)
        return result

    # --- seed API -----------------------------------------------------------------------

    def embed(self, req: s.EmbedRequest) -> s.EmbedResponse:
        check_text(req.text, self.settings, "text")
        result = self._embed([req.text], "text", normalize=req.normalize, truncate=req.truncate)
        return self.embed_response(result, normalize=req.normalize)

    def embed_batch(self, req: s.EmbedBatchRequest) -> s.EmbedBatchResponse:
        check_texts(req.texts, self.settings, "texts")
        result = self._embed(req.texts, "texts", normalize=req.normalize, truncate=req.truncate)
        return self.embed_batch_response(result, normalize=req.normalize)

    # The response builders turn a model result into the answer; with FastAPI's JSON encoding
    # of that answer they are a request's serialization (infra.bench.applatency times them).

    def embed_response(self, result: EmbeddingResult, *, normalize: bool) -> s.EmbedResponse:
        """The /api/v1/embed answer for a one-text result."""
        return s.EmbedResponse(
            embedding=result.vectors[0].tolist(),
            dim=self.embedder.dim,
            model=self.model_name,
            model_version=self.embedder.manifest.version,
            normalized=normalize,
            tokens=result.token_counts[0],
            truncated=result.truncated[0],
        )

    def embed_batch_response(
        self, result: EmbeddingResult, *, normalize: bool
    ) -> s.EmbedBatchResponse:
        """The /api/v1/embed-batch answer."""
        return s.EmbedBatchResponse(
            embeddings=result.vectors.tolist(),
            dim=self.embedder.dim,
            count=len(result.token_counts),
            model=self.model_name,
            model_version=self.embedder.manifest.version,
            normalized=normalize,
            tokens=result.total_tokens,
            truncated=result.truncated,
        )

    def similarity(self, req: s.SimilarityRequest) -> s.SimilarityResponse:
        check_text(req.query, self.settings, "query")
        check_texts(req.candidates, self.settings, "candidates")
        if len(req.candidates) + 1 > self.settings.max_batch_items:
            raise InvalidInputError(
                f"query plus {len(req.candidates)} candidates exceed the limit of "
                f"{self.settings.max_batch_items} texts per request",
                param="candidates",
            )
        result = self._embed(
            [req.query, *req.candidates], "candidates", normalize=True, truncate=True
        )
        query, candidates = result.vectors[0], result.vectors[1:]
        scores = candidates @ query
        k = min(req.top_k, len(req.candidates))
        # Stable order for equal scores: best score first, then input position.
        best = np.lexsort((np.arange(len(scores)), -scores))[:k]
        return s.SimilarityResponse(
            results=[
                s.ScoredCandidate(index=int(i), text=req.candidates[i], score=float(scores[i]))
                for i in best
            ],
            model=self.model_name,
        )

    def tokenize(self, req: s.TokenizeRequest) -> s.TokenizeResponse:
        check_text(req.text, self.settings, "text")
        out = self.embedder.tokenize(req.text)
        return s.TokenizeResponse(
            ids=out.ids,
            tokens=out.tokens,
            count=len(out.ids),
            truncated=out.truncated,
            max_tokens=self.embedder.manifest.text_spec().max_seq_length,
        )

    def health(self) -> common.HealthResponse:
        return common.HealthResponse.serving(self.embedder.manifest)

    def model_info(self) -> s.ModelInfoResponse:
        m = self.embedder.manifest
        text = m.text_spec()
        return s.ModelInfoResponse(
            name=m.name,
            version=m.version,
            variant=m.variant,
            quantization=m.quantization,
            dim=self.embedder.dim,
            max_seq_length=text.max_seq_length,
            pooling=text.pooling,
            normalize_default=text.normalize,
            sha256=m.digest,
            source=m.source.model_dump(),
            quality=s.QualityInfo(**m.quality.model_dump()) if m.quality else None,
            runtime=runtime_info(self.settings.intra_op_threads),
            limits={
                "max_batch_items": self.settings.max_batch_items,
                "max_text_chars": self.settings.max_text_chars,
                "max_body_bytes": self.settings.max_body_bytes,
                "batch_token_budget": self.settings.batch_token_budget,
            },
        )

    # --- OpenAI-compatible API ----------------------------------------------------------

    def openai_embeddings(self, req: s.OpenAIEmbeddingsRequest) -> s.OpenAIEmbeddingsResponse:
        if req.model.lower() not in self._model_ids:
            raise ModelNotFoundError(
                f"model {req.model!r} is not served here; use {self.model_name!r}", param="model"
            )
        texts = [req.input] if isinstance(req.input, str) else req.input
        if not texts:
            raise InvalidInputError("input is an empty list", param="input")
        if req.dimensions is not None and req.dimensions > self.embedder.dim:
            raise InvalidInputError(
                f"dimensions must be at most {self.embedder.dim}", param="dimensions"
            )
        check_texts(texts, self.settings, "input")
        result = self._embed(texts, "input", normalize=True, truncate=True)
        return self.openai_response(result, req.dimensions, req.encoding_format)

    def openai_response(
        self, result: EmbeddingResult, dimensions: int | None, encoding_format: str
    ) -> s.OpenAIEmbeddingsResponse:
        """The /v1/embeddings answer: vectors cut to ``dimensions`` (re-normalized), as JSON
        numbers or base64 of little-endian float32."""
        vectors = result.vectors
        if dimensions is not None and dimensions < self.embedder.dim:
            vectors = truncate_dimensions(vectors, dimensions, normalize=True)
        data = [
            s.OpenAIEmbedding(index=i, embedding=embedding)
            for i, embedding in enumerate(_encode(vectors, encoding_format))
        ]
        usage = s.OpenAIUsage(prompt_tokens=result.total_tokens, total_tokens=result.total_tokens)
        return s.OpenAIEmbeddingsResponse(data=data, model=self.model_name, usage=usage)

    def openai_models(self) -> s.OpenAIModelList:
        manifest = self.embedder.manifest
        created = int(datetime.fromisoformat(manifest.created_at).timestamp())
        model = s.OpenAIModel(
            id=self.model_name,
            created=created,
            owned_by="lamina",
            version=manifest.version,
            sha256=manifest.digest,
        )
        return s.OpenAIModelList(data=[model])


def _encode(vectors: np.ndarray, encoding_format: str) -> Sequence[list[float] | str]:
    """Each row as JSON numbers (one ``tolist`` for all rows), or base64 of its float32 bytes."""
    if encoding_format == "base64":
        return [base64.b64encode(row.astype("<f4").tobytes()).decode("ascii") for row in vectors]
    rows: list[list[float]] = vectors.tolist()
    return rows
