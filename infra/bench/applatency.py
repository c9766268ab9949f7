"""Single-text latency through the whole Lambda app, in one process after warm-up.

Run by ``infra.bench.run`` as ``python -m infra.bench.applatency`` from the repository root,
with ``MODEL_URI`` set to one model variant (the app reads it at import, so each variant gets
its own process). Reads ``{"warmup": [texts], "timed": [texts]}`` on stdin, calls the Lambda
handler (Powertools decorators + Mangum + FastAPI + model + JSON) with one API Gateway HTTP API
v2 ``POST /api/v1/embed`` event per text, then as many ``GET /health`` events (the same stack
without the model), and prints ``BENCH_RESULT {"embed_ms": [...], "health_ms": [...]}`` for
the timed calls. Events are built before the clock starts; each answer is checked after it stops.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from infra.bench.env import apply_quiet_env
from infra.bench.lambda_event import (
    LambdaContext,
    embed_event,
    embedding_of,
    health_event,
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


def main() -> None:
    apply_quiet_env()
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
