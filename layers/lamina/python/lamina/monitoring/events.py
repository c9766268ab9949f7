"""A/B events on the local server: requests and outcomes as JSON lines in a directory.

On AWS the A/B facts are CloudWatch metrics (``VariantLatency``, ``VariantErrors``,
``Outcome``, ``Reward``; ``lamina.observability``). A local server has no CloudWatch, so with
``LAMINA_AB_DIR`` set it also appends one line per request answered under a test to
``requests-YYYY-MM-DD.jsonl`` and one per outcome to ``outcomes-YYYY-MM-DD.jsonl`` (UTC
dates), which ``lamina ab report --dir`` reads (``lamina.monitoring.abtest.read_local``).
Lines are appended under a lock, whole, one ``write`` each, so concurrent requests of one
server never interleave within a line.
"""

from __future__ import annotations

import json
import math
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a trailing Z."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time of a record as aware UTC (naive: UTC), or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return utc(datetime.fromisoformat(value))
    except (ValueError, OverflowError):  # not ISO 8601; an offset past year 1 or 9999
        return None


class EventLog:
    """Appends A/B events to daily JSONL files under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()

    def _append(self, kind: str, record: dict[str, Any], moment: datetime) -> None:
        line = json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"
        path = self.directory / f"{kind}-{moment.astimezone(UTC):%Y-%m-%d}.jsonl"
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(line)

    def request(
        self,
        *,
        request_id: str,
        model: str,
        variant: str,
        version: str,
        status: int,
        ms: float,
        moment: datetime | None = None,
    ) -> None:
        moment = moment or utc_now()
        record = {
            "time": iso(moment),
            "request_id": request_id,
            "model": model,
            "variant": variant,
            "version": version,
            "status": status,
            "ms": round(ms, 3),
        }
        self._append("requests", record, moment)

    def outcome(
        self,
        *,
        request_id: str | None,
        model: str,
        variant: str,
        outcome: bool | None,
        reward: float | None,
        moment: datetime | None = None,
    ) -> None:
        moment = moment or utc_now()
        if reward is not None and not math.isfinite(reward):
            raise ValueError("a reward must be a finite number")
        record = {
            "time": iso(moment),
            "request_id": request_id,
            "model": model,
            "variant": variant,
            "outcome": outcome,
            "reward": reward,
        }
        self._append("outcomes", record, moment)
