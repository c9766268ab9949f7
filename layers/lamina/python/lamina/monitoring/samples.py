"""The sampler: a share of requests' inputs and outputs, kept for the drift check.

With ``LAMINA_SAMPLE_URI`` set (``s3://bucket/prefix`` on AWS, a directory locally), each
request is sampled with probability ``LAMINA_SAMPLE_RATE`` (1% by default). A sampled
request's texts or rows become records, one JSON line each, written as one object::

    <prefix>/samples/<model>/<YYYY>/<MM>/<DD>/<HH>/<time>-<random>.jsonl

A record holds what the drift check compares (``lamina.monitoring.drift``): the time, the
model, its version and A/B variant, the input statistics (characters, tokens, unknown
tokens, truncation, letters by script; or a tabular row's features) and the output (the
embedding, or the top label and its probability). The text itself is kept only with
``LAMINA_SAMPLE_TEXT=true``: off by default, since texts are the users' data; statistics
and vectors are enough for the check.

The write happens inside the sampled request (one PUT: tens of milliseconds on S3, paid by
1 request in 100 at the default rate); a failed write is logged and never fails the
request. At most ``MAX_RECORDS_PER_REQUEST`` records of one request are kept, so one large
batch cannot dominate a window's sample. Reference samples (``REFERENCE_FILE``, written
into a model's directory at build) have the same records.
"""

from __future__ import annotations

import json
import math
import random
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lamina.monitoring.events import iso, parse_time
from lamina.monitoring.inputs import TextStats
from lamina.settings import Settings
from lamina.storage import LocalObjects, ObjectStore, S3Objects

REFERENCE_FILE = "reference-sample.jsonl"
MAX_RECORDS_PER_REQUEST = 16
VECTOR_DECIMALS = 5
SAMPLES = "samples"


def locate(uri: str) -> tuple[ObjectStore, str]:
    """``s3://bucket/prefix`` or a directory: the store and the key prefix inside it."""
    if uri.startswith("s3://"):
        import boto3  # type: ignore[import-untyped]  # lazy: only S3 needs it
        from botocore.config import Config  # type: ignore[import-untyped]

        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        # Short timeouts: a sample is written inside a request, which must not wait long
        # for an S3 it cannot reach (a function in a VPC without an S3 endpoint).
        config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2})
        return S3Objects(bucket, client=boto3.client("s3", config=config)), prefix.strip("/")
    return LocalObjects(Path(uri)), ""


def join_key(*parts: str) -> str:
    """Key parts joined by "/", empty parts and stray slashes dropped."""
    return "/".join(part.strip("/") for part in parts if part.strip("/"))


def vector_field(vector: Sequence[float]) -> list[float | None]:
    """An embedding as a record keeps it: rounded (a sample is statistics, not an index); a
    value that is not finite is null."""
    return [round(float(x), VECTOR_DECIMALS) if math.isfinite(x) else None for x in vector]


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float, at any depth, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def to_jsonl(records: Sequence[Mapping[str, Any]]) -> bytes:
    """Records as JSON lines; a non-finite number is written as null, never as NaN."""
    lines = [
        json.dumps(_finite(dict(record)), ensure_ascii=False, allow_nan=False) for record in records
    ]
    return ("\n".join(lines) + "\n").encode()


def _records(
    model: str,
    version: str,
    variant: str,
    kind: str,
    inputs: Sequence[dict[str, Any]],
    labels: Sequence[str] | None,
    confidences: Sequence[float] | None,
) -> list[dict[str, Any]]:
    """One record per input: who answered, the input's fields, and the top label."""
    records: list[dict[str, Any]] = []
    for index, fields in enumerate(inputs):
        record = {"model": model, "version": version, "variant": variant, "kind": kind, **fields}
        if labels is not None:
            record["label"] = labels[index]
        if confidences is not None:
            record["confidence"] = round(float(confidences[index]), 6)
        records.append(record)
    return records


def text_records(
    model: str,
    version: str,
    variant: str,
    stats: Sequence[TextStats],
    *,
    vectors: Sequence[Sequence[float]] | None = None,
    labels: Sequence[str] | None = None,
    confidences: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """One record per text: its statistics and what the model answered for it."""
    inputs = [
        {**item.record(), **({} if vectors is None else {"vector": vector_field(vectors[i])})}
        for i, item in enumerate(stats)
    ]
    return _records(model, version, variant, "text", inputs, labels, confidences)


def row_records(
    model: str,
    version: str,
    variant: str,
    features: Sequence[str],
    rows: Sequence[Sequence[float]],
    *,
    labels: Sequence[str] | None = None,
    confidences: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """One record per row of a tabular model: its named features and the answer."""
    inputs = [
        {"features": {name: float(value) for name, value in zip(features, row, strict=True)}}
        for row in rows
    ]
    return _records(model, version, variant, "tabular", inputs, labels, confidences)


class Sampler:
    """Decides which requests are sampled and writes their records.

    The store is opened at the first write, not at cold start: an S3 client (boto3's import
    and its endpoint resolution) costs a cold start a few hundred milliseconds, and at a 1%
    rate most sandboxes never write."""

    def __init__(
        self,
        uri: str,
        rate: float,
        keep_text: bool,
        rng: random.Random | None = None,
    ) -> None:
        self.uri = uri
        self.rate = rate
        self.keep_text = keep_text
        self._rng = rng or random.Random()
        self._located: tuple[ObjectStore, str] | None = None
        self._lock = threading.Lock()

    def _locate(self) -> tuple[ObjectStore, str]:
        with self._lock:
            if self._located is None:
                self._located = locate(self.uri)
            return self._located

    def draw(self) -> bool:
        """Whether the current request is sampled."""
        return self.rate > 0 and self._rng.random() < self.rate

    def write(
        self,
        model: str,
        records: Sequence[dict[str, Any]],
        texts: Sequence[str] | None = None,
        moment: datetime | None = None,
    ) -> str | None:
        """Write one request's records (the first ``MAX_RECORDS_PER_REQUEST``); ``texts``
        are added only when text sampling is on. Returns the key written."""
        if not records:
            return None
        moment = (moment or datetime.now(UTC)).astimezone(UTC)
        kept = [dict(record) for record in records[:MAX_RECORDS_PER_REQUEST]]
        for record in kept:
            record["time"] = iso(moment)
        if self.keep_text and texts is not None:
            for record, text in zip(kept, texts, strict=False):
                record["text"] = text
        store, prefix = self._locate()
        key = join_key(
            prefix,
            SAMPLES,
            model,
            f"{moment:%Y/%m/%d/%H}",
            f"{moment:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}.jsonl",
        )
        store.put(key, to_jsonl(kept), content_type="application/x-ndjson")
        return key


def sampler_from_settings(settings: Settings) -> Sampler | None:
    """The function's sampler, or None when sampling is off."""
    if not settings.sample_uri or settings.sample_rate <= 0:
        return None
    return Sampler(settings.sample_uri, settings.sample_rate, settings.sample_text)


def _hours(start: datetime, end: datetime) -> Iterator[datetime]:
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour < end:
        yield hour
        hour += timedelta(hours=1)


def parse_jsonl(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects of JSON lines, and how many lines were not one."""
    records: list[dict[str, Any]] = []
    bad = 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            bad += 1
            continue
        if isinstance(value, dict):
            records.append(value)
        else:
            bad += 1
    return records, bad


def read_samples(
    store: ObjectStore, prefix: str, model: str, start: datetime, end: datetime
) -> tuple[list[dict[str, Any]], int]:
    """Every sampled record of ``model`` with a time in [start, end), and how many lines or
    records were malformed (not JSON, no time). Only the hours of the window are listed."""
    records: list[dict[str, Any]] = []
    bad = 0
    for hour in _hours(start, end):
        for info in store.list(join_key(prefix, SAMPLES, model, f"{hour:%Y/%m/%d/%H}") + "/"):
            found = store.get(info.key)
            if found is None:
                continue
            parsed, malformed = parse_jsonl(found[0])
            bad += malformed
            for record in parsed:
                moment = parse_time(record.get("time"))
                if moment is None:
                    bad += 1
                elif start <= moment < end:
                    records.append(record)
    return records, bad
