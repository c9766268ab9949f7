"""Single-text latency through the whole Lambda app, in one process after warm-up.

Run by ``infra.bench.run`` as ``python -m infra.bench.applatency`` from the repository root,
with ``MODEL_URI`` set to one model variant (the app reads it at import, so each variant gets
its own process). Reads ``{"warmup": [texts], "timed": [texts]}`` on stdin, calls the Lambda
handler (Powertools decorators + Mangum + FastAPI + model + JSON) with one API Gateway HTTP API
v2 event per text, and prints ``{"latencies_ms": [...]}`` for the timed texts. Events are built
before the clock starts; each answer is checked after it stops.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from infra.bench.env import apply_quiet_env
from infra.bench.lambda_event import LambdaContext, embed_event, embedding_of


def _timed_calls(handler: Any, events: list[dict[str, Any]], dim: int) -> list[float]:
    context = LambdaContext()
    latencies: list[float] = []
    for event in events:
        start = time.perf_counter()
        response = handler(event, context)
        latencies.append((time.perf_counter() - start) * 1e3)
        if len(embedding_of(response)) != dim:
            raise RuntimeError("the handler answered a vector of the wrong size")
    return latencies


def main() -> None:
    apply_quiet_env()
    spec = json.load(sys.stdin)
    warmup: list[str] = spec["warmup"]
    timed: list[str] = spec["timed"]
    from functions.embed.handler import handler  # loads and warms the model: not timed

    events = [embed_event(text, f"bench-{i}") for i, text in enumerate(warmup + timed)]
    dim = len(embedding_of(handler(events[0], LambdaContext())))
    _timed_calls(handler, events[: len(warmup)], dim)
    latencies = _timed_calls(handler, events[len(warmup) :], dim)
    print(json.dumps({"latencies_ms": latencies}), flush=True)


if __name__ == "__main__":
    main()
