"""Watching models in production: A/B tests between model versions and input/output drift.

- ``stats``: the statistical tests and intervals (numpy and ``math`` only: no scipy in a
  Lambda image).
- ``inputs``: cheap per-text statistics of a request (script mix, unknown tokens).
- ``samples``: the sampler that writes a fraction of requests' inputs and outputs to S3.
- ``drift``: the drift check, a recent sample against the model's reference sample.
- ``report``: the drift check's HTML report (inline SVG plots).
- ``abtest``: the A/B report, control against candidate.
"""
