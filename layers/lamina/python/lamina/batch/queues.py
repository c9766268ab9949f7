"""The work queue between submit and workers: SQS, or an in-memory queue with SQS's rules.

``MemoryQueue`` keeps what matters of SQS for correctness: a received message is
invisible for the visibility timeout, comes back if not deleted, counts its receives, and
moves to a dead-letter list on the receive after ``max_receive_count``.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lamina.errors import JobError

# SQS's limits for SendMessageBatch: 10 entries, 256 KiB in all (and per message).
SQS_MAX_BATCH = 10
SQS_MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class Message:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_timestamp_ms: int

    def lambda_record(self, source_arn: str, region: str = "us-east-1") -> dict[str, Any]:
        """This message as one record of the SQS event Lambda's poller sends a function."""
        return {
            "messageId": self.message_id,
            "receiptHandle": self.receipt_handle,
            "body": self.body,
            "attributes": {
                "ApproximateReceiveCount": str(self.receive_count),
                "SentTimestamp": str(self.sent_timestamp_ms),
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": str(self.sent_timestamp_ms),
            },
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(self.body.encode("utf-8")).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": source_arn,
            "awsRegion": region,
        }


def batches(bodies: Iterable[str], max_bytes: int = SQS_MAX_BYTES) -> Iterable[list[str]]:
    """Group message bodies into SendMessageBatch calls (10 entries, ``max_bytes`` in all)."""
    group: list[str] = []
    size = 0
    for body in bodies:
        n = len(body.encode("utf-8"))
        if n > max_bytes:
            raise JobError(f"a message of {n} bytes exceeds the queue's limit of {max_bytes}")
        if group and (len(group) == SQS_MAX_BATCH or size + n > max_bytes):
            yield group
            group, size = [], 0
        group.append(body)
        size += n
    if group:
        yield group


class WorkQueue(ABC):
    @property
    @abstractmethod
    def arn(self) -> str:
        """The queue's ARN, as Lambda puts it in each record's eventSourceARN."""

    @abstractmethod
    def send(self, bodies: Sequence[str]) -> None:
        """Send up to 10 messages (one SendMessageBatch); JobError if any is refused."""

    @abstractmethod
    def receive(self, max_messages: int, wait_s: float, visibility_s: int) -> list[Message]:
        """Up to ``max_messages`` messages, waiting up to ``wait_s`` for the first."""

    @abstractmethod
    def delete(self, messages: Sequence[Message]) -> None:
        """Acknowledge messages: they will not come back."""

    @abstractmethod
    def release(self, messages: Sequence[Message], delay_s: int) -> None:
        """Make received messages visible again after ``delay_s`` (a retry sooner than the
        visibility timeout; Lambda's own poller simply waits the timeout out)."""

    @abstractmethod
    def depth(self) -> tuple[int, int]:
        """(visible, in flight) messages, approximately."""


class SqsQueue(WorkQueue):
    def __init__(self, url: str, *, client: Any = None, endpoint_url: str | None = None) -> None:
        if not url:
            raise JobError("no queue URL given (LAMINA_BATCH_QUEUE_URL or --queue-url)")
        self.url = url
        if client is None:
            import boto3  # type: ignore[import-untyped]

            client = boto3.client("sqs", endpoint_url=endpoint_url)
        self.client = client
        self._arn: str | None = None

    @property
    def arn(self) -> str:
        if self._arn is None:
            attributes = self.client.get_queue_attributes(
                QueueUrl=self.url, AttributeNames=["QueueArn"]
            )
            self._arn = str(attributes["Attributes"]["QueueArn"])
        return self._arn

    def send(self, bodies: Sequence[str]) -> None:
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)]
        for attempt in range(6):
            try:
                response = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
            except Exception as exc:  # botocore's errors: retried, then reported
                failed_reason = str(exc)
            else:
                failed = {item["Id"]: item for item in response.get("Failed", [])}
                if not failed:
                    return
                sender_fault = [item for item in failed.values() if item.get("SenderFault")]
                if sender_fault:
                    raise JobError(f"SQS refused a chunk: {sender_fault[0].get('Message')}")
                entries = [entry for entry in entries if entry["Id"] in failed]
                failed_reason = next(iter(failed.values())).get("Message", "unknown")
            time.sleep(min(2.0, 0.05 * 2**attempt))
        raise JobError(f"cannot send {len(entries)} chunk(s) to {self.url}: {failed_reason}")

    def receive(self, max_messages: int, wait_s: float, visibility_s: int) -> list[Message]:
        response = self.client.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=int(wait_s),
            VisibilityTimeout=visibility_s,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        return [
            Message(
                message_id=item["MessageId"],
                receipt_handle=item["ReceiptHandle"],
                body=item["Body"],
                receive_count=int(item["Attributes"]["ApproximateReceiveCount"]),
                sent_timestamp_ms=int(item["Attributes"]["SentTimestamp"]),
            )
            for item in response.get("Messages", [])
        ]

    def delete(self, messages: Sequence[Message]) -> None:
        for start in range(0, len(messages), SQS_MAX_BATCH):
            group = messages[start : start + SQS_MAX_BATCH]
            self.client.delete_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(group)
                ],
            )

    def release(self, messages: Sequence[Message], delay_s: int) -> None:
        for start in range(0, len(messages), SQS_MAX_BATCH):
            group = messages[start : start + SQS_MAX_BATCH]
            self.client.change_message_visibility_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": delay_s}
                    for i, m in enumerate(group)
                ],
            )

    def depth(self) -> tuple[int, int]:
        attributes = self.client.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )


@dataclass
class _Held:
    message_id: str
    body: str
    sent_ms: int
    receives: int = 0
    visible_at: float = 0.0
    receipt: str = ""


@dataclass
class MemoryQueue(WorkQueue):
    """An in-process queue with SQS's delivery rules, bounded to ``capacity`` messages
    (``send`` blocks while full, so a fast producer cannot fill memory)."""

    max_receive_count: int = 5
    capacity: int = 64
    queue_arn: str = "arn:aws:sqs:local:000000000000:lamina-batch"
    dead_letters: list[str] = field(default_factory=list)
    _held: dict[str, _Held] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def arn(self) -> str:
        return self.queue_arn

    def send(self, bodies: Sequence[str]) -> None:
        with self._cond:
            while len(self._held) >= self.capacity:
                self._cond.wait(0.5)
            now = int(time.time() * 1000)
            for body in bodies:
                message_id = str(uuid.uuid4())
                self._held[message_id] = _Held(message_id, body, now)
            self._cond.notify_all()

    def receive(self, max_messages: int, wait_s: float, visibility_s: int) -> list[Message]:
        deadline = time.monotonic() + wait_s
        with self._cond:
            while True:
                now = time.monotonic()
                out: list[Message] = []
                for held in list(self._held.values()):
                    if len(out) == max_messages:
                        break
                    if held.visible_at > now:
                        continue
                    if held.receives >= self.max_receive_count:
                        # SQS's redrive: moved on the receive after maxReceiveCount.
                        del self._held[held.message_id]
                        self.dead_letters.append(held.body)
                        self._cond.notify_all()
                        continue
                    held.receives += 1
                    held.visible_at = now + visibility_s
                    held.receipt = uuid.uuid4().hex
                    out.append(
                        Message(
                            held.message_id, held.receipt, held.body, held.receives, held.sent_ms
                        )
                    )
                if out or now >= deadline:
                    return out
                self._cond.wait(min(0.05, max(0.0, deadline - now)))

    def delete(self, messages: Sequence[Message]) -> None:
        with self._cond:
            for message in messages:
                held = self._held.get(message.message_id)
                if held is not None and held.receipt == message.receipt_handle:
                    del self._held[message.message_id]
            self._cond.notify_all()

    def release(self, messages: Sequence[Message], delay_s: int) -> None:
        with self._cond:
            for message in messages:
                held = self._held.get(message.message_id)
                if held is not None and held.receipt == message.receipt_handle:
                    held.visible_at = time.monotonic() + delay_s
            self._cond.notify_all()

    def depth(self) -> tuple[int, int]:
        with self._cond:
            now = time.monotonic()
            in_flight = sum(1 for held in self._held.values() if held.visible_at > now)
            return len(self._held) - in_flight, in_flight


class SendOnlyQueue(WorkQueue):
    """A queue that hands every ``send`` (one SendMessageBatch worth of bodies) to
    ``on_send`` and delivers nothing: for running or measuring the submit step alone.
    The submit step sends from several threads: ``on_send`` must be thread-safe."""

    def __init__(
        self,
        on_send: Callable[[Sequence[str]], None],
        arn: str = "arn:aws:sqs:local:000000000000:lamina-send-only",
    ) -> None:
        self.on_send = on_send
        self._arn = arn

    @property
    def arn(self) -> str:
        return self._arn

    def send(self, bodies: Sequence[str]) -> None:
        self.on_send(bodies)

    def receive(self, max_messages: int, wait_s: float, visibility_s: int) -> list[Message]:
        return []

    def delete(self, messages: Sequence[Message]) -> None:
        pass

    def release(self, messages: Sequence[Message], delay_s: int) -> None:
        pass

    def depth(self) -> tuple[int, int]:
        return 0, 0
