"""Embedding service logic: request models in, response models out. No HTTP here.

Routes in ``functions/embed/app.py`` call one method each.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np

from lamina.api import schemas as common
from lamina.api.embeddings import call
from lamina.api.embeddings import schemas as s
from lamina.api.monitor import Monitor
from lamina.api.schemas import InputType, LongText
from lamina.api.validation import check_request_chars, check_text, check_texts
from lamina.api.variants import Variants, ab_variants
from lamina.errors import (
    ConfigurationError,
    InvalidInputError,
    ModelNotFoundError,
    RequestTooManyTokensError,
    TextTooLongError,
)
from lamina.inference.embedder import Embedder, EmbeddingResult, OnnxEmbedder
from lamina.inference.load import load_candidates, load_models
from lamina.inference.pooling import truncate_dimensions
from lamina.inference.session import runtime_info
from lamina.observability import Telemetry
from lamina.settings import Settings


class EmbeddingService:
    """Every embedding model of the function, by name; requests pick one with ``model``."""

    def __init__(
        self,
        embedders: Mapping[str, Embedder] | Embedder,
        settings: Settings,
        telemetry: Telemetry,
        default: str | None = None,
        candidates: Mapping[str, Embedder] | None = None,
    ) -> None:
        if not isinstance(embedders, Mapping):
            embedders = {embedders.manifest.name: embedders}
        if not embedders:
            raise ConfigurationError("the embedding function has no model")
        self.embedders = dict(embedders)
        self.settings = settings
        self.telemetry = telemetry
        default = default or settings.default_model or next(iter(self.embedders))
        # Names a client may pass as `model`: ours, the upstream id, case-insensitively.
        self._by_id: dict[str, str] = {}
        for name, embedder in self.embedders.items():
            for alias in (name, embedder.manifest.source.model_id):
                self._by_id.setdefault(alias.lower(), name)
        if default.lower() not in self._by_id:
            raise ConfigurationError(
                f"LAMINA_DEFAULT_MODEL={default!r} is not among the served models "
                f"({', '.join(self.embedders)})"
            )
        self.default_name = self._by_id[default.lower()]
        # Each model's fingerprint (sha256 over its files), once: every answer carries it.
        self.fingerprints = {name: e.manifest.digest for name, e in self.embedders.items()}
        # Each model's versions: the control, and an A/B test's candidate (lamina.api.variants).
        self.variants = ab_variants(self.embedders, candidates or {}, settings.ab_weight)
        self._candidate_fingerprints = {
            name: versions.candidate.manifest.digest
            for name, versions in self.variants.items()
            if versions.candidate is not None
        }
        self._switches = len(self.embedders) > 1 or bool(self._candidate_fingerprints)
        if self._switches:
            # Metrics carry the model that answered (the default until a request picks one).
            telemetry.serving(self.embedder.manifest, default=True)
        self.monitor = Monitor.from_settings(settings, telemetry)

    @classmethod
    def load(cls, settings: Settings, telemetry: Telemetry) -> EmbeddingService:
        """Cold start: load and warm every model (LAMINA_MODELS, else MODEL_URI) once.

        With LAMINA_COALESCE, concurrent requests to a model share its calls
        (lamina.inference.coalesce)."""
        loaded = load_models(OnnxEmbedder, settings, telemetry)
        embedders: dict[str, Embedder] = dict(loaded)
        candidates: dict[str, Embedder] = dict(
            load_candidates(OnnxEmbedder, settings, telemetry, loaded)
        )
        if settings.coalesce:
            from lamina.inference.coalesce import CoalescingEmbedder

            def coalescing(embedder: Embedder) -> Embedder:
                return CoalescingEmbedder(
                    embedder,
                    max_texts=settings.coalesce_max_texts,
                    max_chars=settings.coalesce_max_chars,
                )

            embedders = {name: coalescing(e) for name, e in embedders.items()}
            candidates = {name: coalescing(e) for name, e in candidates.items()}
        return cls(embedders, settings, telemetry, candidates=candidates)

    @property
    def ab_tests(self) -> Mapping[str, Variants[Embedder]]:
        """Every model's versions, by name (``POST /api/v1/outcomes``)."""
        return self.variants

    @property
    def embedder(self) -> Embedder:
        """The default model (what a request that names none gets)."""
        return self.embedders[self.default_name]

    @property
    def model_name(self) -> str:
        return self.default_name

    def resolve(
        self, model: str | None, fingerprint: str | None = None, *, counted: bool = True
    ) -> Embedder:
        """The embedder a request names (name or upstream id, any case), else the default;
        409 when the request expects another model's fingerprint (``call``). Under an A/B
        test the caller's variant answers, unless a fingerprint is expected (the request's
        ``x-expect-model-fingerprint``, or ``fingerprint``: a search collection's model);
        ``counted=False``: a route that runs no model, left out of the test's metrics."""
        name = self.default_name if model is None else self._by_id.get(model.lower())
        if name is None:
            raise ModelNotFoundError(
                f"model {model!r} is not served here; served: "
                + ", ".join(repr(n) for n in self.embedders)
                + " (GET /v1/models)",
                param="model",
            )
        versions = self.variants[name]
        embedder = versions.pick(digest=fingerprint or call.expected_fingerprint(), counted=counted)
        call.answered_by(embedder.manifest, self.fingerprint_of(embedder))
        return embedder

    def fingerprint_of(self, embedder: Embedder) -> str:
        """A served version's fingerprint (its manifest digest, computed once at load)."""
        name = embedder.manifest.name
        versions = self.variants[name]
        if embedder is versions.control:
            return self.fingerprints[name]
        return self._candidate_fingerprints[name]

    # --- core ---------------------------------------------------------------------------

    def embed_texts(
        self,
        embedder: Embedder,
        texts: Sequence[str],
        param: str,
        *,
        normalize: bool = True,
        long_text: LongText = "truncate",
        input_type: InputType | None = None,
    ) -> EmbeddingResult:
        """Embed texts already checked against the limits; ``param`` names them in errors."""
        if self._switches:
            self.telemetry.serving(embedder.manifest)
        began = time.perf_counter()
        try:
            result = embedder.embed(
                texts,
                normalize=normalize,
                long_text=long_text,
                input_type=input_type,
                max_tokens=self.settings.max_request_tokens,
            )
        except TextTooLongError as exc:
            exc.param = param if param == "text" else f"{param}[{exc.index}]"
            raise
        except RequestTooManyTokensError as exc:
            exc.param = param
            raise
        timings = result.timings
        # What the call took beyond its own stages: waiting for a coalesced run (local server).
        waited = (time.perf_counter() - began) * 1e3 - timings.total_ms
        call.record(texts, result.total_tokens, timings, max(waited, 0.0))
        self.telemetry.stages(timings, len(result.token_counts), result.total_tokens)
        self.monitor.texts(
            embedder.manifest,
            texts,
            result.token_counts,
            result.truncated,
            result.unknown_tokens,
            vectors=result.vectors,
        )
        return result

    # --- seed API -----------------------------------------------------------------------

    def embed(self, req: s.EmbedRequest) -> s.EmbedResponse:
        embedder = self.resolve(req.model)
        mode = long_text_mode(req)
        check_text(req.text, self.settings, "text", split=mode == "split")
        result = self.embed_texts(
            embedder,
            [req.text],
            "text",
            normalize=req.normalize,
            long_text=mode,
            input_type=req.input_type,
        )
        return self.embed_response(result, normalize=req.normalize, embedder=embedder)

    def embed_batch(self, req: s.EmbedBatchRequest) -> s.EmbedBatchResponse:
        embedder = self.resolve(req.model)
        mode = long_text_mode(req)
        check_texts(req.texts, self.settings, "texts", split=mode == "split")
        result = self.embed_texts(
            embedder,
            req.texts,
            "texts",
            normalize=req.normalize,
            long_text=mode,
            input_type=req.input_type,
        )
        return self.embed_batch_response(result, normalize=req.normalize, embedder=embedder)

    # The response builders turn a model result into the answer; with FastAPI's JSON encoding
    # of that answer they are a request's serialization (infra.bench.applatency times them).

    def embed_response(
        self, result: EmbeddingResult, *, normalize: bool, embedder: Embedder | None = None
    ) -> s.EmbedResponse:
        """The /api/v1/embed answer for a one-text result."""
        embedder = embedder or self.embedder
        return s.EmbedResponse(
            embedding=result.vectors[0].tolist(),
            dim=embedder.dim,
            model=embedder.manifest.name,
            model_version=embedder.manifest.version,
            normalized=normalize,
            tokens=result.token_counts[0],
            truncated=result.truncated[0],
            windows=_window_counts(result)[0],
        )

    def embed_batch_response(
        self, result: EmbeddingResult, *, normalize: bool, embedder: Embedder | None = None
    ) -> s.EmbedBatchResponse:
        """The /api/v1/embed-batch answer."""
        embedder = embedder or self.embedder
        return s.EmbedBatchResponse(
            embeddings=result.vectors.tolist(),
            dim=embedder.dim,
            count=len(result.token_counts),
            model=embedder.manifest.name,
            model_version=embedder.manifest.version,
            normalized=normalize,
            tokens=result.total_tokens,
            truncated=result.truncated,
            windows=_window_counts(result),
        )

    def similarity(self, req: s.SimilarityRequest) -> s.SimilarityResponse:
        embedder = self.resolve(req.model)
        check_text(req.query, self.settings, "query")
        check_texts(req.candidates, self.settings, "candidates")
        if len(req.candidates) + 1 > self.settings.max_batch_items:
            raise InvalidInputError(
                f"query plus {len(req.candidates)} candidates exceed the limit of "
                f"{self.settings.max_batch_items} texts per request",
                param="candidates",
            )
        chars = len(req.query) + sum(map(len, req.candidates))
        check_request_chars(chars, self.settings, "candidates", "query and candidates")
        # A model with prompts embeds the query as a query and the candidates as passages.
        query = self.embed_texts(embedder, [req.query], "query", input_type="query").vectors[0]
        candidates = self.embed_texts(
            embedder, req.candidates, "candidates", input_type="passage"
        ).vectors
        scores = candidates @ query
        k = min(req.top_k, len(req.candidates))
        # Stable order for equal scores: best score first, then input position.
        best = np.lexsort((np.arange(len(scores)), -scores))[:k]
        return s.SimilarityResponse(
            results=[
                s.ScoredCandidate(index=int(i), text=req.candidates[i], score=float(scores[i]))
                for i in best
            ],
            model=embedder.manifest.name,
        )

    def tokenize(self, req: s.TokenizeRequest) -> s.TokenizeResponse:
        embedder = self.resolve(req.model, counted=False)
        check_text(req.text, self.settings, "text")
        out = embedder.tokenize(req.text, input_type=req.input_type)
        return s.TokenizeResponse(
            ids=out.ids,
            tokens=out.tokens,
            count=len(out.ids),
            truncated=out.truncated,
            max_tokens=embedder.manifest.text_spec().max_seq_length,
            model=embedder.manifest.name,
        )

    def health(self) -> common.HealthResponse:
        return common.HealthResponse.serving(self.embedder.manifest)

    def model_info(self, model: str | None = None) -> s.ModelInfoResponse:
        embedder = self.resolve(model, counted=False)
        m = embedder.manifest
        text = m.text_spec()
        return s.ModelInfoResponse(
            name=m.name,
            version=m.version,
            variant=m.variant,
            quantization=m.quantization,
            dim=embedder.dim,
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
                "max_split_text_chars": self.settings.max_split_text_chars,
                "max_body_bytes": self.settings.max_body_bytes,
                "batch_token_budget": self.settings.batch_token_budget,
            },
            prompts={str(k): v for k, v in (m.prompts or {}).items()},
            models=[
                s.ServedModel(
                    name=name,
                    version=e.manifest.version,
                    model_id=e.manifest.source.model_id,
                    dim=e.dim,
                    max_seq_length=e.manifest.text_spec().max_seq_length,
                    prompts={str(k): v for k, v in (e.manifest.prompts or {}).items()},
                    default=name == self.default_name,
                )
                for name, e in self.embedders.items()
            ],
        )

    # --- OpenAI-compatible API ----------------------------------------------------------

    def openai_embeddings(self, req: s.OpenAIEmbeddingsRequest) -> s.OpenAIEmbeddingsResponse:
        embedder = self.resolve(req.model)
        texts = [req.input] if isinstance(req.input, str) else req.input
        if not texts:
            raise InvalidInputError("input is an empty list", param="input")
        check_dimensions(embedder, req.dimensions)
        mode = req.long_text or "truncate"
        check_texts(texts, self.settings, "input", split=mode == "split")
        result = self.embed_texts(
            embedder, texts, "input", long_text=mode, input_type=req.input_type
        )
        return self.openai_response(result, req.dimensions, req.encoding_format, embedder)

    def openai_response(
        self,
        result: EmbeddingResult,
        dimensions: int | None,
        encoding_format: str,
        embedder: Embedder | None = None,
    ) -> s.OpenAIEmbeddingsResponse:
        """The /v1/embeddings answer: vectors cut to ``dimensions`` (re-normalized), as JSON
        numbers or base64 of little-endian float32."""
        embedder = embedder or self.embedder
        vectors = result.vectors
        if dimensions is not None and dimensions < embedder.dim:
            vectors = truncate_dimensions(vectors, dimensions, normalize=True)
        data = [
            s.OpenAIEmbedding(index=i, embedding=embedding)
            for i, embedding in enumerate(_encode(vectors, encoding_format))
        ]
        usage = s.OpenAIUsage(prompt_tokens=result.total_tokens, total_tokens=result.total_tokens)
        return s.OpenAIEmbeddingsResponse(data=data, model=embedder.manifest.name, usage=usage)

    def openai_models(self) -> s.OpenAIModelList:
        """Every served model, the default first."""
        names = [self.default_name, *(n for n in self.embedders if n != self.default_name)]
        models = []
        for name in names:
            manifest = self.embedders[name].manifest
            created = int(datetime.fromisoformat(manifest.created_at).timestamp())
            models.append(
                s.OpenAIModel(
                    id=name,
                    created=created,
                    owned_by="lamina",
                    version=manifest.version,
                    sha256=manifest.digest,
                )
            )
        return s.OpenAIModelList(data=models)


def check_dimensions(embedder: Embedder, dimensions: int | None) -> None:
    """``dimensions`` (OpenAI's and TEI's) may cut a model's vectors, never lengthen them."""
    if dimensions is not None and dimensions > embedder.dim:
        raise InvalidInputError(
            f"dimensions must be at most {embedder.dim} for {embedder.manifest.name}",
            param="dimensions",
        )


def long_text_mode(req: s.TextOptions) -> LongText:
    """The request's long_text, from ``long_text`` or the older ``truncate`` (422 if they
    contradict each other)."""
    if req.long_text is None:
        return "truncate" if req.truncate else "reject"
    # truncate=false with split is consistent (neither cuts); anything else that disagrees is not.
    cuts = req.long_text == "truncate"
    if "truncate" in req.model_fields_set and req.truncate != cuts and (req.truncate or cuts):
        raise InvalidInputError(
            f"truncate={str(req.truncate).lower()} contradicts long_text="
            f"{req.long_text!r}: send only long_text",
            param="long_text",
        )
    return req.long_text


def _window_counts(result: EmbeddingResult) -> list[int]:
    if result.windows is None:
        return [1] * len(result.token_counts)
    return [len(windows) for windows in result.windows]


def _encode(vectors: np.ndarray, encoding_format: str) -> Sequence[list[float] | str]:
    """Each row as JSON numbers (one ``tolist`` for all rows), or base64 of its float32 bytes."""
    if encoding_format == "base64":
        return [base64.b64encode(row.astype("<f4").tobytes()).decode("ascii") for row in vectors]
    rows: list[list[float]] = vectors.tolist()
    return rows
