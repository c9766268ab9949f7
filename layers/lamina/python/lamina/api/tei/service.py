"""Hugging Face Text Embeddings Inference's API on the embedding function. No HTTP here.

``POST /embed`` (and ``POST /``, TEI's root route for an embedding model) and ``GET /info``
answer like TEI does, from the same ``EmbeddingService`` (same models, limits, checks and
response headers) as the seed and OpenAI routes. Errors under these paths have TEI's body,
``{"error": "...", "error_type": "validation"}`` (lamina.api.errors).
"""

from __future__ import annotations

from lamina import __version__
from lamina.api.embeddings import call
from lamina.api.embeddings.service import EmbeddingService, check_dimensions
from lamina.api.schemas import InputType, LongText
from lamina.api.tei.schemas import TeiEmbedRequest, TeiInfo, TeiModelType, TeiPooling
from lamina.api.validation import check_texts
from lamina.errors import InvalidInputError
from lamina.inference.pooling import truncate_dimensions

TEI_PATHS = frozenset({"/", "/embed", "/info"})


def embed(service: EmbeddingService, req: TeiEmbedRequest) -> list[list[float]]:
    """One vector per input, in order (a single text is a list of one, as in TEI)."""
    embedder = service.resolve(req.model)
    texts = [req.inputs] if isinstance(req.inputs, str) else req.inputs
    if not texts:
        raise InvalidInputError("inputs is an empty list", param="inputs")
    input_type: InputType | None = None
    if req.prompt_name is not None:
        prompts = embedder.manifest.prompts or {}
        if req.prompt_name not in prompts:
            names = ", ".join(repr(str(name)) for name in prompts) or "none"
            raise InvalidInputError(
                f"prompt_name {req.prompt_name!r} is not a prompt of "
                f"{embedder.manifest.name} (its prompts: {names})",
                param="prompt_name",
            )
        input_type = req.prompt_name  # a key of the model's prompts
    check_dimensions(embedder, req.dimensions)
    mode: LongText = "truncate" if req.truncate is None or req.truncate else "reject"
    check_texts(texts, service.settings, "inputs")
    result = service.embed_texts(
        embedder,
        texts,
        "inputs",
        normalize=req.normalize,
        long_text=mode,
        input_type=input_type,
    )
    vectors = result.vectors
    if req.dimensions is not None and req.dimensions < embedder.dim:
        vectors = truncate_dimensions(vectors, req.dimensions, normalize=req.normalize)
    rows: list[list[float]] = vectors.tolist()
    return rows


def info(service: EmbeddingService) -> TeiInfo:
    """TEI's /info, of the default model (requests that name no model get it)."""
    embedder = service.embedder
    manifest = embedder.manifest
    text = manifest.text_spec()
    settings = service.settings
    return TeiInfo(
        model_id=manifest.source.model_id,
        model_sha=service.fingerprints[service.default_name],
        model_dtype=manifest.variant,
        served_model_name=manifest.name,
        model_type=TeiModelType(embedding=TeiPooling(pooling=text.pooling)),
        max_concurrent_requests=call.concurrent_requests(settings),
        max_input_length=text.max_seq_length,
        max_batch_tokens=settings.batch_token_budget,
        max_client_batch_size=settings.max_batch_items,
        auto_truncate=True,
        tokenization_workers=1,  # the tokenizer runs on the request's thread
        version=__version__,
    )
