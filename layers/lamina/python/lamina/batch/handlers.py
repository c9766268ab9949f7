"""The Lambda handlers' bodies, shared by the functions, the local runner and the tests.

``functions/batch_submit/handler.py`` and ``functions/batch_worker/handler.py`` only build
these from settings at cold start and wrap them in Powertools' decorators.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lamina.batch.jobs import INCOMING_PREFIX, JobManifest
from lamina.batch.queues import WorkQueue
from lamina.batch.submit import BATCH_MAX_SPLIT_TEXT_CHARS, ChunkLimits, s3_event_keys, submit_job
from lamina.errors import ConfigurationError, JobError, LaminaError
from lamina.observability import Telemetry
from lamina.settings import Settings
from lamina.storage import ObjectStore

if TYPE_CHECKING:  # the worker imports numpy and the model code: never in the submit function
    from lamina.batch.loading import JobLoader
    from lamina.batch.worker import ChunkWorker


def chunk_limits(settings: Settings) -> ChunkLimits:
    return ChunkLimits(
        max_records=settings.chunk_max_records, token_budget=settings.chunk_token_budget
    )


def split_text_limit(settings: Settings) -> int:
    """The most characters of one text in a long_text=split job: LAMINA_MAX_SPLIT_TEXT_CHARS
    if it is set, else BATCH_MAX_SPLIT_TEXT_CHARS (the API's default is lower: it bounds
    one request's time, where a job's text is bounded by the worker's timeout)."""
    if "max_split_text_chars" in settings.model_fields_set:
        return settings.max_split_text_chars
    return BATCH_MAX_SPLIT_TEXT_CHARS


@dataclass
class SubmitHandler:
    """S3 ObjectCreated event (incoming/ only) -> one job per new object.

    ``served``: the model names the workers hold, if this function knows them (it loads no
    model): a job naming another then fails at submit. Unknown (None), the worker checks
    the name and fails the job. A job that names no model gets ``LAMINA_DEFAULT_MODEL``
    (unset: the first of ``served``, else the worker's default).
    """

    store: ObjectStore
    queue: WorkQueue
    settings: Settings
    telemetry: Telemetry
    served: Sequence[str] | None = None

    def __call__(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        jobs: list[dict[str, object]] = []
        for upload in s3_event_keys(event):
            key = upload.key
            if not key.startswith(INCOMING_PREFIX) or key.endswith("/"):
                # outside incoming/, or a "folder" placeholder made by the S3 console
                self.telemetry.logger.warning("ignored: not an input file", extra={"key": key})
                continue
            manifest = self.submit(key, upload.version_id, owner=upload.principal)
            jobs.append({"job_id": manifest.job_id, "key": key, "status": manifest.status})
        return {"jobs": jobs}

    def submit(
        self, key: str, version_id: str | None = None, *, owner: str | None = None
    ) -> JobManifest:
        """Submit one upload; ``owner``: the S3 event's principal (who wrote it)."""
        manifest = submit_job(
            self.store,
            self.queue,
            key,
            version_id=version_id,
            limits=chunk_limits(self.settings),
            max_text_chars=self.settings.max_text_chars,
            max_split_text_chars=split_text_limit(self.settings),
            served=self.served,
            default_model=self.settings.default_model,
            max_input_bytes=self.settings.batch_max_input_bytes,
            max_records=self.settings.batch_max_records,
            max_line_errors=self.settings.batch_max_line_errors,
            owner=owner,
            search=self.settings.search_configured,
            logger=self.telemetry.logger,
        )
        self.telemetry.logger.append_keys(job=manifest.job_id)
        self.telemetry.job_submitted(
            manifest.job_id, manifest.lines or 0, manifest.invalid, manifest.chunks or 0
        )
        return manifest


class WorkerHandler:
    """SQS event of chunk messages -> parts; the partial batch response names the failures."""

    def __init__(self, worker: ChunkWorker) -> None:
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

        from lamina.batch.worker import record_handler

        self.worker = worker
        # A batch whose every chunk failed is still a partial batch response (every id
        # listed), not an invocation error: the Errors alarm then means crashes only.
        self.processor = BatchProcessor(
            event_type=EventType.SQS, raise_on_entire_batch_failure=False
        )
        self._record_handler = record_handler(worker)

    def __call__(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        from aws_lambda_powertools.utilities.batch import process_partial_response

        from lamina.batch.loading import deadline_clock

        remaining = getattr(context, "get_remaining_time_in_millis", None)
        self.worker.time_left = deadline_clock(remaining() / 1000 if remaining else None)
        return dict(
            process_partial_response(
                event=event,
                record_handler=self._record_handler,
                processor=self.processor,
                context=context,
            )
        )


def build_submit_handler(settings: Settings, telemetry: Telemetry) -> SubmitHandler:
    """The submit function's handler: the batch bucket and queue from settings."""
    from lamina.batch.queues import SqsQueue
    from lamina.storage import S3Objects

    if not settings.batch_bucket or not settings.batch_queue_url:
        raise ConfigurationError(
            "LAMINA_BATCH_BUCKET and LAMINA_BATCH_QUEUE_URL must be set for the submit function"
        )
    return SubmitHandler(
        S3Objects(settings.batch_bucket, error=JobError),
        SqsQueue(settings.batch_queue_url),
        settings,
        telemetry,
    )


def build_worker_handler(
    settings: Settings, telemetry: Telemetry, loader: JobLoader | None = None
) -> WorkerHandler:
    """The worker function's handler: load every model once (cold start: LAMINA_MODELS,
    else MODEL_URI; the default is LAMINA_DEFAULT_MODEL, else the first), write to the
    bucket; queue load messages on LAMINA_BATCH_QUEUE_URL (if set) and work them off with
    ``loader`` (the function passes ``lamina.search.jobload``'s when search is configured)."""
    from lamina.batch.queues import SqsQueue
    from lamina.batch.worker import ChunkWorker
    from lamina.inference.embedder import OnnxEmbedder
    from lamina.inference.load import load_models
    from lamina.storage import S3Objects

    if not settings.batch_bucket:
        raise ConfigurationError("LAMINA_BATCH_BUCKET must be set for the worker function")
    try:
        embedders = load_models(OnnxEmbedder, settings, telemetry)
        worker = ChunkWorker(
            S3Objects(settings.batch_bucket, error=JobError),
            embedders,
            max_receive_count=settings.max_receive_count,
            telemetry=telemetry,
            default=settings.default_model,
            queue=SqsQueue(settings.batch_queue_url) if settings.batch_queue_url else None,
            loader=loader,
        )
    except LaminaError as exc:
        telemetry.model_load_failed(exc)
        raise
    return WorkerHandler(worker)
