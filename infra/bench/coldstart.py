"""One cold start in a fresh process: imports, model load and the first request, timed.

Run by ``infra.bench.run`` as ``python infra/bench/coldstart.py --kind KIND --model-dir DIR``
from the repository root. ``lamina`` imports the Lambda handler module (which loads and warms the
model, as a Lambda init does) and answers one API Gateway v2 request through it; ``st`` imports
sentence-transformers, loads the model and encodes one text. The generic function's kinds
(``infra.bench.sqlmodels``): ``oip`` imports functions/onnx's handler (``LAMINA_MODELS``=DIR;
"a,b" for several) and answers one request per model through it (``POST
/api/v1/models/{name}/predict`` for a query model, ``POST /v2/models/{name}/infer`` on zeros for
an ONNX graph); ``sql`` and ``onnx`` load one model directory without the app, as the function's
loader does (``SqlModel.from_settings``: files verified, tables loaded, database sealed;
``OnnxModel.from_settings``: files verified, session created and run once on zeros), and answer
once (``predict`` with each required parameter's first allowed value; ``infer`` on zeros). For
these three, ``--threads`` is ``LAMINA_INTRA_OP_THREADS`` (0: the function's default). Prints one
line, ``BENCH_RESULT`` and JSON: ``seconds`` (from this script's first line, before any import,
to the first answer), the phases ``imports_s``, ``load_s`` and ``first_s``, ``imports_rss_mb``
(RSS once imported), ``loaded_rss_mb`` (RSS once the model is loaded), and the peak resident set
size twice: ``rss_mb`` is ``VmHWM`` of /proc/self/status (the peak of
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
from typing import Any  # noqa: E402

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


# The generic function (functions/onnx): ONNX graphs and query models by their signature.
OIP_IMPORTS = (*LAMINA_IMPORTS, "lamina.api.oip.service")
SQL_MODEL_IMPORTS = ("numpy", "duckdb", "lamina.settings", "lamina.inference.sql_model")
ONNX_MODEL_IMPORTS = ("numpy", "onnxruntime", "lamina.settings", "lamina.inference.onnx_model")
_PLACEHOLDERS: dict[str, object] = {"BOOL": False, "INT64": 1, "FP64": 1.0, "BYTES": "a"}
_ZEROS: dict[str, object] = {"BOOL": False, "BYTES": ""}


def first_parameters(model: Any) -> dict[str, object]:
    """A query model's first request: each parameter without a default at its first allowed
    value (else a placeholder of its type); the others at their defaults."""
    return {
        p.name: p.allowed[0] if p.allowed else _PLACEHOLDERS[p.datatype]
        for p in model.spec.parameters
        if p.default is None
    }


def zero_inputs(model: Any) -> list[dict[str, Any]]:
    """An ONNX graph's first request: every input zeros, each variable dimension 1 (as its
    warm-up does), as the Open Inference Protocol's JSON tensors."""
    tensors: list[dict[str, Any]] = []
    for spec in model.inputs:
        shape = [d if d >= 0 else 1 for d in spec.shape]
        size = 1
        for d in shape:
            size *= d
        value = _ZEROS.get(spec.datatype, 0)
        tensors.append({"name": spec.name, "datatype": spec.datatype, "shape": shape,
                        "data": [value] * size})  # fmt: skip
    return tensors


def _is_sql(model: Any) -> bool:
    return bool(model.manifest.task == "sql")


def _model_steps(
    model_dir: str, threads: int, *, sql: bool
) -> tuple[Step, Step, Callable[[Any], int]]:
    """``sql`` or ``onnx``: one model directory, no app."""
    os.environ["LAMINA_INTRA_OP_THREADS"] = str(threads)

    def imports() -> object:
        for name in SQL_MODEL_IMPORTS if sql else ONNX_MODEL_IMPORTS:
            importlib.import_module(name)
        return None

    def load() -> object:
        from lamina.settings import get_settings

        if sql:
            from lamina.inference.sql_model import SqlModel

            return SqlModel.from_settings(Path(model_dir), verify=True, settings=get_settings())
        from lamina.inference.onnx_model import OnnxModel

        return OnnxModel.from_settings(Path(model_dir), verify=True, settings=get_settings())

    def first(model: Any) -> int:
        if sql:
            return len(model.predict(first_parameters(model)).rows)
        from lamina.inference.onnx_model import InferRequest, InputTensor

        inputs = [
            InputTensor(t["name"], t["datatype"], t["shape"], t["data"]) for t in zero_inputs(model)
        ]
        return len(model.infer(InferRequest(inputs)).outputs)

    return imports, load, first


def _oip_steps(
    model_dir: str, threads: int, tracing: bool = False
) -> tuple[Step, Step, Callable[[Any], int]]:
    """``oip``: the generic function's handler on the model(s) of ``model_dir`` ("a,b")."""
    os.environ["LAMINA_MODELS"] = model_dir
    os.environ["LAMINA_INTRA_OP_THREADS"] = str(threads)
    if tracing:
        os.environ.update(LAMBDA_TRACING_ENV)

    def imports() -> object:
        for name in OIP_IMPORTS:
            importlib.import_module(name)
        return None

    def load() -> object:
        return importlib.import_module("functions.onnx.handler").handler

    def first(handler: Any) -> int:
        from functions.onnx.app import served
        from infra.bench.lambda_event import LambdaContext, http_api_event, ok_body

        answered = 0
        for name, model in served.slot.get().models.items():
            body: dict[str, Any]
            if _is_sql(model):
                path, body = (
                    f"/api/v1/models/{name}/predict",
                    {"parameters": first_parameters(model)},
                )
            else:
                path, body = f"/v2/models/{name}/infer", {"inputs": zero_inputs(model)}
            ok_body(handler(http_api_event("POST", path, body, "bench-cold"), LambdaContext()))
            answered += 1
        return answered

    return imports, load, first


def _sql_steps(
    model_dir: str, threads: int, tracing: bool = False
) -> tuple[Step, Step, Callable[[Any], int]]:
    return _model_steps(model_dir, threads, sql=True)


def _onnx_steps(
    model_dir: str, threads: int, tracing: bool = False
) -> tuple[Step, Step, Callable[[Any], int]]:
    return _model_steps(model_dir, threads, sql=False)


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


STEPS = {
    "lamina": _lamina_steps,
    "st": _st_steps,
    "oip": _oip_steps,
    "sql": _sql_steps,
    "onnx": _onnx_steps,
}


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
    parser.add_argument("--kind", choices=tuple(STEPS), required=True)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument(
        "--tracing", action="store_true", help="lamina as deployed with Tracing: Active"
    )
    args = parser.parse_args()
    if args.tracing and args.kind not in ("lamina", "oip"):
        parser.error("--tracing applies to --kind lamina and oip only")
    sys.path.insert(0, str(REPO_ROOT))
    from infra.bench.env import apply_quiet_env

    apply_quiet_env()
    imports, load, first = STEPS[args.kind](args.model_dir, args.threads, args.tracing)
    imports()
    t_imports = time.perf_counter()
    imports_rss_mb = _status_mb("VmRSS")
    loaded = load()
    t_loaded = time.perf_counter()
    loaded_rss_mb = _status_mb("VmRSS")
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
        "loaded_rss_mb": loaded_rss_mb,
        "cpu_s": time.process_time(),
        "tracing": args.tracing,
        "rss_mb": _status_mb("VmHWM"),
        "ru_maxrss_mb": ru_maxrss_mb,
        "dim": dim,
    }
    print(RESULT_PREFIX, json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
