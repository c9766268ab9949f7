"""What every model call tells drift monitoring: input metrics, and now and then a sample.

The services call ``Monitor.texts`` (embedding and text classification) or ``Monitor.rows``
(a tabular model of the Open Inference Protocol function whose manifest names its
features) after each model call:

- metrics, every call: ``UnknownTokens``, ``TruncatedTexts`` and letters by script
  (``ScriptHangul``, ``ScriptLatin``, ``ScriptHan``, ``ScriptCyrillic``, ``ScriptOther``)
  with the model's dimensions, beside the ``Tokens`` and ``BatchSize`` they already publish;
  classifiers also ``Confidence`` (the top label's probability, per text) and
  ``Predictions`` per ``Label``;
- a sample, for a share ``LAMINA_SAMPLE_RATE`` of calls when ``LAMINA_SAMPLE_URI`` is set:
  the call's records (``lamina.monitoring.samples``), written where the drift check reads
  them. A failed write is logged; the request never fails for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lamina.api import variants
from lamina.models.manifest import Manifest
from lamina.monitoring.inputs import script_totals, text_stats
from lamina.monitoring.samples import Sampler, row_records, sampler_from_settings, text_records
from lamina.observability import Telemetry
from lamina.settings import Settings


def _variant(manifest: Manifest) -> str:
    """The current request's variant of this model (control outside an A/B test)."""
    assignment = variants.current()
    if assignment is not None and assignment.model == manifest.name and assignment.variant:
        return assignment.variant
    return variants.CONTROL


class Monitor:
    def __init__(self, telemetry: Telemetry, sampler: Sampler | None = None) -> None:
        self.telemetry = telemetry
        self.sampler = sampler

    @classmethod
    def from_settings(cls, settings: Settings, telemetry: Telemetry) -> Monitor:
        return cls(telemetry, sampler_from_settings(settings))

    def texts(
        self,
        manifest: Manifest,
        texts: Sequence[str],
        tokens: Sequence[int],
        truncated: Sequence[bool],
        unknown: Sequence[int] | None,
        *,
        vectors: np.ndarray | None = None,
        labels: Sequence[str] | None = None,
        confidences: Sequence[float] | None = None,
    ) -> None:
        drawn = self.sampler is not None and self.sampler.draw()
        if not drawn and not self.telemetry.metrics_enabled:
            return  # nothing would use the statistics (a local server without metrics)
        stats = text_stats(texts, tokens, truncated, unknown)
        self.telemetry.text_inputs(
            sum(item.unknown for item in stats),
            sum(item.truncated for item in stats),
            script_totals(stats),
        )
        if labels is not None and confidences is not None:
            self.telemetry.predictions(manifest, labels, confidences)
        if not drawn:
            return
        records = text_records(
            manifest.name,
            manifest.version,
            _variant(manifest),
            stats,
            vectors=None if vectors is None else vectors.tolist(),
            labels=labels,
            confidences=confidences,
        )
        self._write(manifest, records, texts)

    def rows(
        self,
        manifest: Manifest,
        arrays: dict[str, np.ndarray],
        *,
        labels: Sequence[str] | None = None,
        confidences: Sequence[float] | None = None,
    ) -> None:
        """A tabular model's call: its feature rows, if its manifest names them."""
        if labels is not None and confidences is not None:
            self.telemetry.predictions(manifest, labels, confidences)
        spec = manifest.monitoring
        if spec is None or spec.feature_input is None or not spec.features:
            return
        if self.sampler is None or not self.sampler.draw():
            return
        matrix = arrays.get(spec.feature_input)
        if matrix is None or matrix.ndim != 2 or matrix.shape[1] != len(spec.features):
            return
        records = row_records(
            manifest.name,
            manifest.version,
            _variant(manifest),
            spec.features,
            matrix.astype(np.float64).tolist(),
            labels=labels,
            confidences=confidences,
        )
        self._write(manifest, records, None)

    def _write(
        self, manifest: Manifest, records: list[dict[str, Any]], texts: Sequence[str] | None
    ) -> None:
        assert self.sampler is not None
        try:
            self.sampler.write(manifest.name, records, texts)
        except Exception as exc:  # a sample is never worth a failed request
            self.telemetry.logger.warning(
                "sample write failed",
                extra={"model": manifest.name, "error": str(exc), "error_type": type(exc).__name__},
            )


def top_labels(probabilities: np.ndarray, labels: Sequence[str]) -> tuple[list[str], list[float]]:
    """Each row's most likely label and its probability."""
    best = probabilities.argmax(axis=1)
    return [labels[int(i)] for i in best], [
        float(probabilities[row, int(i)]) for row, i in enumerate(best)
    ]
