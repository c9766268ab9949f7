"""lamina: serve ONNX models on AWS Lambda. This package is what a function runs, nothing else.

Package map (each module owns one thing; layers only point down, checked by ``make lint``):
- ``api``: FastAPI plumbing (app factory, error mapping, limits) and one package per feature.
- ``batch``: batch embedding jobs (S3 upload -> SQS chunks -> workers -> S3 results).
- ``inference``: tokenization, batching, ONNX Runtime sessions, pooling, one class per model
  kind, and the cold-start loader.
- ``models``: the runtime contract of a model directory (manifest, store, loader).
- ``storage``: objects in S3 or a local directory (conditional writes, streaming, errors).
- ``observability``: Powertools logger, metrics and tracer.
- ``settings``: typed configuration, read once from the environment.
- ``errors``: domain exceptions (no HTTP here; ``lamina.api.errors`` maps them).

Building models, quality gates, the ``lamina`` CLI and local runners live in the second
package, ``lamina_tools`` (tools/), which is never copied into an image or the layer.
"""

__version__ = "0.1.0"
