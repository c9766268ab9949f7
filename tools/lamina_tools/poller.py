"""Feed a Lambda SQS handler the way Lambda's event source mapping does, off Lambda.

Receive up to ``batch_size`` messages, call ``handler(event, context)`` with the SQS event
Lambda would send, delete what succeeded, and leave what the response lists in
``batchItemFailures`` (or everything, if the handler raised) to come back. One
difference, for speed off Lambda: failed messages are released after ``retry_delay_s``
instead of waiting out the whole visibility timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lamina.batch.queues import WorkQueue

Handler = Callable[[dict[str, Any], Any], Any]
log = logging.getLogger("lamina_tools.poller")


@dataclass
class PollStats:
    batches: int = 0
    succeeded: int = 0
    failed: int = 0
    handler_errors: int = 0


def poll_once(
    queue: WorkQueue,
    handler: Handler,
    stats: PollStats,
    *,
    batch_size: int = 10,
    wait_s: float = 1.0,
    visibility_s: int = 900,
    retry_delay_s: int = 1,
    context: Any = None,
) -> int:
    """One receive-invoke-delete round; returns the messages received."""
    messages = queue.receive(batch_size, wait_s, visibility_s)
    if not messages:
        return 0
    event = {"Records": [message.lambda_record(queue.arn) for message in messages]}
    stats.batches += 1
    try:
        response = handler(event, context) or {}
    except Exception:  # Lambda: the whole batch failed; every message comes back
        log.exception("handler raised: the whole batch will be retried")
        stats.handler_errors += 1
        stats.failed += len(messages)
        queue.release(messages, retry_delay_s)
        return len(messages)
    failed_ids = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    done = [message for message in messages if message.message_id not in failed_ids]
    again = [message for message in messages if message.message_id in failed_ids]
    queue.delete(done)
    if again:
        queue.release(again, retry_delay_s)
    stats.succeeded += len(done)
    stats.failed += len(again)
    return len(messages)


def poll(
    queue: WorkQueue,
    handler: Handler,
    *,
    stop: Callable[[], bool],
    batch_size: int = 10,
    wait_s: float = 1.0,
    visibility_s: int = 900,
    retry_delay_s: int = 1,
    context: Any = None,
) -> PollStats:
    """Poll until ``stop()`` says so (checked between rounds)."""
    stats = PollStats()
    while not stop():
        poll_once(
            queue,
            handler,
            stats,
            batch_size=batch_size,
            wait_s=wait_s,
            visibility_s=visibility_s,
            retry_delay_s=retry_delay_s,
            context=context,
        )
    return stats
