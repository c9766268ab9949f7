"""Queues that stand in for SQS on one machine (never in a Lambda function).

``MemoryQueue`` keeps what matters of SQS for correctness: a received message is
invisible for the visibility timeout, comes back if not deleted, counts its receives, and
moves to a dead-letter list on the receive after ``max_receive_count``. ``lamina jobs run
--local`` and the tests use it. ``SendOnlyQueue`` only counts what the submit step sends
(the batch benchmark's submit run).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lamina.batch.queues import SQS_MAX_BYTES, Message, WorkQueue
from lamina.errors import JobError


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
        for body in bodies:  # SQS refuses a message over 256 KiB: so does this queue
            size = len(body.encode("utf-8"))
            if size > SQS_MAX_BYTES:
                raise JobError(f"a message of {size} bytes exceeds SQS's limit of {SQS_MAX_BYTES}")
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
