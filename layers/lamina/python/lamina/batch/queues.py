"""The work queue between submit and workers (``WorkQueue``), and SQS behind it.

The stand-ins that run the pipeline without AWS (an in-memory queue with SQS's rules, a
queue that only counts) are local tools: ``lamina_tools.queues``.
"""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
