"""Single-text latency through the whole Lambda app, in one process after warm-up; and the
share of a many-text request spent serializing its answer.

Run by ``infra.bench.run`` as ``python -m infra.bench.applatency`` from the repository root,
with ``MODEL_URI`` set to one model variant (the app reads it at import, so each variant gets
its own process). Reads ``{"warmup": [texts], "timed": [texts]}`` on stdin, calls the Lambda
handler (Powertools decorators + Mangum + FastAPI + model + JSON) with one API Gateway HTTP API
v2 ``POST /api/v1/embed`` event per text, then as many ``GET /health`` events (the same stack
without the model), and prints ``BENCH_RESULT {"embed_ms": [...], "health_ms": [...]}`` for
the timed calls. Events are built before the clock starts; each answer is checked after it stops.

``python -m infra.bench.applatency --serialization [--texts 100] [--runs 15]`` (same
``MODEL_URI``, nothing on stdin) measures instead how much of a many-text request is
serialization (``measure_serialization``) and prints ``BENCH_RESULT {"serialization": ...}``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from infra.bench.env import apply_quiet_env
from infra.bench.lambda_event import (
    LambdaContext,
    embed_event,
    embedding_of,
    health_event,
    http_api_event,
    ok_body,
)

RESULT_PREFIX = "BENCH_RESULT"  # marks our line among whatever else the app prints
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _timed_calls(
    handler: Handler, events: list[dict[str, Any]], check: Callable[[dict[str, Any]], object]
) -> list[float]:
    context = LambdaContext()
    latencies: list[float] = []
    for event in events:
        start = time.perf_counter()
        response = handler(event, context)
        latencies.append((time.perf_counter() - start) * 1e3)
        check(response)
    return latencies


def _warm_then_time(
    handler: Handler,
    events: list[dict[str, Any]],
    warmup: int,
    check: Callable[[dict[str, Any]], object],
) -> list[float]:
    _timed_calls(handler, events[:warmup], check)
    return _timed_calls(handler, events[warmup:], check)


# --- serialization share of a many-text request ----------------------------------------------

# The routes that answer with vectors: (path, request body for the texts, response builder of
# lamina.api.embeddings.service.EmbeddingService that turns the model's result into the answer).
# (texts, model name) -> request body
Body = Callable[[list[str], str], dict[str, Any]]
SERIALIZED_ROUTES: dict[str, tuple[str, Body, str]] = {
    "embed-batch": (
        "/api/v1/embed-batch",
        lambda texts, _: {"texts": texts},
        "embed_batch_response",
    ),
    "openai": (
        "/v1/embeddings",
        lambda texts, model: {"input": texts, "model": model},
        "openai_response",
    ),
    "openai-base64": (
        "/v1/embeddings",
        lambda texts, model: {"input": texts, "model": model, "encoding_format": "base64"},
        "openai_response",
    ),
}


@contextmanager
def _timed(owner: Any, name: str, spent: list[float]) -> Iterator[None]:
    """Replace ``owner.name`` by a wrapper that adds each call's seconds to ``spent[0]``.

    A method wrapped on an instance is shadowed by an instance attribute, deleted afterwards.
    """
    own = name in vars(owner)
    original = getattr(owner, name)
    if inspect.iscoroutinefunction(original):

        async def wrapper_async(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        setattr(owner, name, wrapper_async)
    else:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        setattr(owner, name, wrapper)
    try:
        yield
    finally:
        if own:
            setattr(owner, name, original)
        else:
            delattr(owner, name)


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure_serialization(
    handler: Handler, texts: list[str], runs: int = 15, warmup: int = 2, route: str = "embed-batch"
) -> dict[str, Any]:
    """Whole-request time against the time spent serializing, through the real app and Mangum.

    One API Gateway event for ``texts`` on ``route`` (``SERIALIZED_ROUTES``), sent ``warmup``
    times untimed, then ``runs`` times. Serialization is timed inside each of those requests
    by wrapping the three steps that turn the model's float32 vectors into the response body:
    the service's response builder (vectors -> response model), FastAPI's
    ``serialize_response`` (validation and JSON encoding of that model) and Mangum's
    ``handle_base64_response_body`` (bytes -> the string API Gateway gets). Returns the median,
    min and max of ``request_ms``, ``serialization_ms`` and ``share`` (serialization / request
    per run; the target is <= 0.10), and ``body_bytes``.
    """
    import fastapi.routing
    import mangum.handlers.api_gateway

    from functions.embed.app import served

    path, body, builder = SERIALIZED_ROUTES[route]
    service = served.slot.get()
    event = http_api_event("POST", path, body(texts, service.model_name), "bench-serialization")
    context = LambdaContext()
    for _ in range(warmup):
        ok_body(handler(event, context))
    requests: list[float] = []
    serializing: list[float] = []
    size = 0
    for _ in range(runs):
        spent = [0.0]
        with ExitStack() as stack:
            stack.enter_context(_timed(service, builder, spent))
            stack.enter_context(_timed(fastapi.routing, "serialize_response", spent))
            stack.enter_context(
                _timed(mangum.handlers.api_gateway, "handle_base64_response_body", spent)
            )
            start = time.perf_counter()
            response = handler(event, context)
            elapsed = time.perf_counter() - start
        answer = ok_body(response)
        count = len(answer["embeddings"] if "embeddings" in answer else answer["data"])
        if count != len(texts):
            raise RuntimeError(f"{path} answered {count} vectors for {len(texts)} texts")
        size = len(response["body"].encode())
        requests.append(elapsed * 1e3)
        serializing.append(spent[0] * 1e3)
    shares = [ser / req for ser, req in zip(serializing, requests, strict=True)]
    return {
        "route": path,
        "texts": len(texts),
        "runs": runs,
        "body_bytes": size,
        "request_ms": _spread(requests),
        "serialization_ms": _spread(serializing),
        "share": _spread(shares),
    }


def _serialization_main(texts: int, runs: int) -> None:
    from functions.embed.handler import handler
    from infra.bench.corpus import bench_corpus

    sample = bench_corpus(2000)[:texts]
    result = {
        route: measure_serialization(handler, sample, runs, route=route)
        for route in SERIALIZED_ROUTES
    }
    print(RESULT_PREFIX, json.dumps({"serialization": result}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--serialization", action="store_true", help="measure the serialization share instead"
    )
    parser.add_argument(
        "--texts", type=int, default=100, help="texts per request (--serialization)"
    )
    parser.add_argument("--runs", type=int, default=15, help="timed requests (--serialization)")
    args = parser.parse_args()
    apply_quiet_env()
    if args.serialization:
        _serialization_main(args.texts, args.runs)
        return
    spec = json.load(sys.stdin)
    warmup: list[str] = spec["warmup"]
    timed: list[str] = spec["timed"]
    from functions.embed.handler import handler  # loads and warms the model: not timed

    dim = len(embedding_of(handler(embed_event("first call"), LambdaContext())))

    def check_embed(response: dict[str, Any]) -> None:
        if len(embedding_of(response)) != dim:
            raise RuntimeError("the handler answered a vector of the wrong size")

    texts = warmup + timed
    embeds = [embed_event(text, f"bench-{i}") for i, text in enumerate(texts)]
    healths = [health_event(f"bench-health-{i}") for i in range(len(texts))]
    result = {
        "embed_ms": _warm_then_time(handler, embeds, len(warmup), check_embed),
        "health_ms": _warm_then_time(handler, healths, len(warmup), ok_body),
    }
    print(RESULT_PREFIX, json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
