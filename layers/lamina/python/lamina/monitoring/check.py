"""The drift check: every model's recent sample against its reference, scored and reported.

One run (the scheduled ``DriftCheckFunction``, or ``lamina drift check`` locally):

1. for each model of the function's configuration (``LAMINA_MODELS`` / ``MODEL_URI``, and
   ``LAMINA_AB_CANDIDATES``: every version that may be answering), open the model directory
   (a store reference is fetched and verified like at any cold start) and read its
   reference sample (``manifest.monitoring.reference_file``), checking its sha256 against
   the manifest: a reference that is not the model's own is refused like a tampered model;
2. read the samples of that model written in the window (``LAMINA_DRIFT_WINDOW_HOURS``,
   24 by default; ``lamina.monitoring.samples``), keep those of the version being checked;
3. compare them (``lamina.monitoring.drift.check_drift``) and publish ``DriftScore`` per
   model version, and ``DriftScoreMax`` (the worst of the run, what the alarm watches);
4. write the report, HTML (``lamina.monitoring.report``) and JSON, under
   ``<LAMINA_SAMPLE_URI>/reports/drift/YYYY/MM/DD/<time>.html`` and as
   ``reports/drift/latest.html``.

A model without a reference sample (the image and SQL models) is listed as skipped, and a
version with fewer sampled records than ``LAMINA_DRIFT_MIN_SAMPLES`` gets no score
(``insufficient_data``): an alarm that fires on ten requests would be noise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lamina.errors import ConfigurationError, ModelLoadError
from lamina.models.loader import materialize
from lamina.models.manifest import Manifest, file_sha256, read_manifest
from lamina.monitoring.drift import DriftResult, DriftThresholds, check_drift
from lamina.monitoring.events import iso
from lamina.monitoring.report import render_html, render_text
from lamina.monitoring.samples import join_key, locate, parse_jsonl, read_samples
from lamina.observability import Telemetry
from lamina.settings import Settings

REPORTS = "reports/drift"


@dataclass(frozen=True)
class Skipped:
    model: str
    version: str
    reason: str


@dataclass
class CheckRun:
    start: datetime
    end: datetime
    results: list[DriftResult] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    malformed: int = 0  # sample lines or records that could not be read
    report_key: str | None = None
    html: str = ""

    @property
    def score(self) -> float | None:
        """The worst score of the run (None: no model had enough samples)."""
        scores = [r.score for r in self.results if r.score is not None]
        return max(scores) if scores else None

    @property
    def drifted(self) -> bool:
        return any(r.status == "drift" for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": iso(self.start),
            "end": iso(self.end),
            "score": None if self.score is None else round(self.score, 6),
            "drifted": self.drifted,
            "malformed": self.malformed,
            "report": self.report_key,
            "results": [r.to_json() for r in self.results],
            "skipped": [vars(s) for s in self.skipped],
        }

    def text(self) -> str:
        lines = [f"drift check {iso(self.start)} .. {iso(self.end)}"]
        if self.results:
            lines.append(render_text(self.results))
        lines += [f"skipped {s.model} {s.version}: {s.reason}" for s in self.skipped]
        if self.report_key:
            lines.append(f"report: {self.report_key}")
        return "\n".join(lines)


def read_reference(directory: Path, manifest: Manifest) -> list[dict[str, Any]] | None:
    """The model's reference sample, checked against its manifest; None if it has none."""
    spec = manifest.monitoring
    if spec is None or spec.reference_file is None:
        return None
    path = directory / spec.reference_file
    entry = manifest.file(spec.reference_file)
    if not path.is_file() or file_sha256(path) != entry.sha256:
        raise ModelLoadError(
            f"{manifest.name} {manifest.version}: {spec.reference_file} does not match the "
            "sha256 its manifest lists: refused"
        )
    records, _ = parse_jsonl(path.read_bytes())
    return records


def run_check(
    settings: Settings,
    *,
    telemetry: Telemetry | None = None,
    now: datetime | None = None,
    thresholds: DriftThresholds | None = None,
    write_report: bool = True,
) -> CheckRun:
    """One drift check over the window that ends ``now`` (module docstring)."""
    if not settings.sample_uri:
        raise ConfigurationError(
            "LAMINA_SAMPLE_URI is not set: there are no samples to check (docs/monitoring.md)"
        )
    end = (now or datetime.now(UTC)).astimezone(UTC)
    run = CheckRun(start=end - timedelta(hours=settings.drift_window_hours), end=end)
    thresholds = thresholds or DriftThresholds(min_samples=settings.drift_min_samples)
    store, prefix = locate(settings.sample_uri)
    for uri in [*settings.model_uris(), *settings.candidate_uris()]:
        local = materialize(uri, Path(settings.model_cache_dir))
        manifest = read_manifest(local.directory)
        reference = read_reference(local.directory, manifest)
        if reference is None:
            run.skipped.append(
                Skipped(manifest.name, manifest.version, "the model has no reference sample")
            )
            continue
        samples, malformed = read_samples(store, prefix, manifest.name, run.start, run.end)
        run.malformed += malformed
        current = [r for r in samples if r.get("version") == manifest.version]
        result = check_drift(
            reference,
            current,
            model=manifest.name,
            version=manifest.version,
            thresholds=thresholds,
        )
        run.results.append(result)
        if telemetry is not None and result.score is not None:
            telemetry.drift_score(manifest.name, manifest.version, result.score)
    if telemetry is not None:
        if run.score is not None:
            telemetry.drift_score_max(run.score)
        telemetry.logger.info("drift check", extra=run.to_json())
    run.html = render_html(
        run.results,
        title="lamina drift check",
        generated_at=iso(end),
        window=f"{iso(run.start)} .. {iso(run.end)} ({settings.drift_window_hours} h)",
    )
    if write_report:
        stamp = f"{end:%Y/%m/%d/%H%M%S}"
        key = join_key(prefix, REPORTS, f"{stamp}.html")
        html = run.html.encode()
        store.put(key, html, content_type="text/html; charset=utf-8")
        store.put(
            join_key(prefix, REPORTS, f"{stamp}.json"),
            json.dumps(run.to_json(), indent=2, allow_nan=False).encode(),
            content_type="application/json",
        )
        store.put(join_key(prefix, REPORTS, "latest.html"), html, content_type="text/html")
        run.report_key = store.url(key)
    return run
