"""One cold start in a fresh process: imports, model load and the first request, timed.

Run by ``infra.bench.run`` as ``python infra/bench/coldstart.py --kind lamina|st --model-dir DIR``
from the repository root. ``lamina`` imports the Lambda handler module (which loads and warms the
model, as a Lambda init does) and answers one API Gateway v2 request through it; ``st`` imports
sentence-transformers, loads the model and encodes one text. Prints one line, ``BENCH_RESULT``
and JSON: ``seconds`` (from this script's first line, before any import, to the first answer),
the phases ``imports_s``, ``load_s`` and ``first_s``, ``imports_rss_mb`` (RSS once imported),
and the peak resident set size twice: ``rss_mb`` is ``VmHWM`` of /proc/self/status (the peak of
this process's own memory since exec) and ``ru_maxrss_mb`` is
``getrusage(RUSAGE_SELF).ru_maxrss``. Linux carries ``ru_maxrss`` over from the parent across
fork and exec, so it reads the parent's peak when the parent is bigger. ``cpu_s`` is the CPU
time the process used (all threads, interpreter start-up included): on a shared machine it
moves less than the wall time when other processes compete for the CPUs.

``--tracing`` (lamina only) runs the function as deployed with ``Tracing: Active``: in a
Lambda-like environment (``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_NAME``, a trace header)
with tracing on, so Powertools' Tracer loads the X-Ray SDK and patches the libraries it
instruments at init. Without it tracing is off, as everywhere outside Lambda.
"""

from __future__ import annotations

import time

_START = time.perf_counter()

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULT_PREFIX = "BENCH_RESULT"  # marks our line among whatever else the app prints
TEXT = "How do I reset my password if I no longer have access to my email?"
LAMINA_IMPORTS = (
    "numpy",
    "onnxruntime",
    "tokenizers",
    "fastapi",
    "mangum",
    "aws_lambda_powertools",
    "lamina.api.app",
    "lamina.api.slot",
)

Step = Callable[[], object]


LAMBDA_TRACING_ENV = {
    "LAMBDA_TASK_ROOT": str(REPO_ROOT),
    "AWS_LAMBDA_FUNCTION_NAME": "lamina-bench-embed",
    "POWERTOOLS_TRACE_DISABLED": "false",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;"
    "Parent=53995c3f42cd8ad8;Sampled=1",
}


def _lamina_steps(
    model_dir: str, threads: int, tracing: bool = False
) -> tuple[Step, Step, Callable[[object], int]]:
    # "a,b": several models in one process, as the embedding image serves them (LAMINA_MODELS)
    os.environ["LAMINA_MODELS" if "," in model_dir else "MODEL_URI"] = model_dir
    os.environ["LAMINA_INTRA_OP_THREADS"] = str(threads)
    if tracing:
        os.environ.update(LAMBDA_TRACING_ENV)

    def imports() -> object:
        for name in LAMINA_IMPORTS:
            importlib.import_module(name)
        return None

    def load() -> object:
        return importlib.import_module("functions.embed.handler").handler

    def first(handler: object) -> int:
        from infra.bench.lambda_event import LambdaContext, embed_event, embedding_of

        assert callable(handler)
        return len(embedding_of(handler(embed_event(TEXT), LambdaContext())))

    return imports, load, first


def _st_steps(
    model_dir: str, threads: int, tracing: bool = False
) -> tuple[Step, Step, Callable[[object], int]]:
    def imports() -> object:
        import torch

        torch.set_num_threads(threads)
        importlib.import_module("sentence_transformers")
        return None

    def load() -> object:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(model_dir, device="cpu")

    def first(model: object) -> int:
        from sentence_transformers import SentenceTransformer

        assert isinstance(model, SentenceTransformer)
        return len(model.encode(TEXT, normalize_embeddings=True, show_progress_bar=False))

    return imports, load, first


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (KiB there) in MB; -1 if /proc is unavailable.

    ``VmHWM`` is the peak RSS of this process image, ``VmRSS`` the current RSS.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return -1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("lamina", "st"), required=True)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument(
        "--tracing", action="store_true", help="lamina as deployed with Tracing: Active"
    )
    args = parser.parse_args()
    if args.tracing and args.kind != "lamina":
        parser.error("--tracing applies to --kind lamina only")
    sys.path.insert(0, str(REPO_ROOT))
    from infra.bench.env import apply_quiet_env

    apply_quiet_env()
    steps = _lamina_steps if args.kind == "lamina" else _st_steps
    imports, load, first = steps(args.model_dir, args.threads, args.tracing)
    imports()
    t_imports = time.perf_counter()
    imports_rss_mb = _status_mb("VmRSS")
    loaded = load()
    t_loaded = time.perf_counter()
    dim = first(loaded)
    t_first = time.perf_counter()
    ru_maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result = {
        "kind": args.kind,
        "seconds": t_first - _START,
        "imports_s": t_imports - _START,
        "load_s": t_loaded - t_imports,
        "first_s": t_first - t_loaded,
        "imports_rss_mb": imports_rss_mb,
        "cpu_s": time.process_time(),
        "tracing": args.tracing,
        "rss_mb": _status_mb("VmHWM"),
        "ru_maxrss_mb": ru_maxrss_mb,
        "dim": dim,
    }
    print(RESULT_PREFIX, json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
