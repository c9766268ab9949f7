"""The messages between submit and workers: chunking, SendMessageBatch grouping, and the
in-memory queue's SQS delivery rules (visibility, receive counts, receipts, dead letters)."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pytest
from pydantic import ValidationError

from lamina.batch.queues import SQS_MAX_BATCH, SQS_MAX_BYTES, batches
from lamina.batch.records import Record, RecordId
from lamina.batch.submit import (
    MAX_TOKENS_PER_TEXT,
    SPLIT_TOKEN_FACTOR,
    Chunker,
    ChunkLimits,
    ChunkMessage,
    JobOptions,
    RecordTooLargeError,
    SpilledText,
    estimate_tokens,
)
from lamina.errors import JobError
from lamina_tools import queues as memory_queues
from lamina_tools.queues import MemoryQueue

# ---- estimate_tokens -------------------------------------------------------------------------


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 2  # [CLS] and [SEP]
    assert estimate_tokens("abc") == 3
    assert estimate_tokens("a" * 30) == 12
    assert estimate_tokens("갈" * 10) == 12  # 30 bytes of UTF-8
    assert estimate_tokens("x" * 100_000) == MAX_TOKENS_PER_TEXT == 512  # e5's limit


def test_estimate_tokens_of_a_split_text_counts_every_window() -> None:
    assert estimate_tokens("abc", split=True) == 3  # one window: as without split
    assert estimate_tokens("x" * 1500, split=True) == 502  # fits one window of e5
    text = "갈" * 150_000  # 450 kB: ~150,000 tokens, and the windows' overlaps and specials
    assert estimate_tokens(text, split=True) == int(150_002 * SPLIT_TOKEN_FACTOR)
    assert estimate_tokens(text) == MAX_TOKENS_PER_TEXT


# ---- Chunker ---------------------------------------------------------------------------------


def chunk_all(
    records: list[Record], limits: ChunkLimits, *, out: Literal["jsonl", "npz"] = "jsonl"
) -> list[str]:
    chunker = Chunker("job-0123456789ab", JobOptions(output_format=out, normalize=False), limits)
    bodies = [body for record in records if (body := chunker.add(record)) is not None]
    last = chunker.flush()
    if last is not None:
        bodies.append(last)
    assert chunker.flush() is None, "a second flush has nothing left"
    assert chunker.count == len(bodies)
    return bodies


def random_text(rng: random.Random) -> str:
    alphabet = 'abc xyz 갈비탕 😀 "quote" back\\slash \n\t\u0001'
    size = rng.choice([1, 5, 40, 300, 2000, 6000])
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, size + 1)))


def random_records(rng: random.Random, n: int) -> list[Record]:
    records = []
    for line in range(1, n + 1):
        record_id: RecordId = line * 7 if rng.random() < 0.5 else f"id-{line}"
        records.append(Record(line, record_id, random_text(rng)))
    return records


@dataclass
class Sizes:
    records: int
    tokens: int
    body_bytes: int


def sizes(message: ChunkMessage, body: str) -> Sizes:
    return Sizes(
        len(message.records),
        sum(estimate_tokens(text) for _, _, text in message.records if isinstance(text, str)),
        len(body.encode("utf-8")),
    )


def test_chunks_respect_every_limit_and_keep_every_record_in_order() -> None:
    rng = random.Random(11)
    for trial in range(60):
        records = random_records(rng, rng.randrange(1, 150))
        limits = ChunkLimits(
            max_records=rng.choice([1, 3, 10, 1000]),
            token_budget=rng.choice([256, 1000, 65_536]),
            max_bytes=rng.choice([20_000, 60_000, SQS_MAX_BYTES]),
        )
        bodies = chunk_all(records, limits)
        messages = [ChunkMessage.model_validate_json(body) for body in bodies]
        assert [m.chunk for m in messages] == list(range(len(messages))), trial
        assert all(m.job == "job-0123456789ab" and m.normalize is False for m in messages)
        seen = [Record(line, rid, str(text)) for m in messages for line, rid, text in m.records]
        assert seen == records, "every record in exactly one chunk, in input order"
        for index, (message, body) in enumerate(zip(messages, bodies, strict=True)):
            size = sizes(message, body)
            assert size.records <= limits.max_records
            assert size.body_bytes <= limits.max_bytes
            assert size.records == 1 or size.tokens <= limits.token_budget
            if index + 1 < len(messages):  # a chunk is closed only when the next record
                following = messages[index + 1].records[0]  # would break a limit
                extra = len(json.dumps(list(following), ensure_ascii=False).encode()) + 1
                assert (
                    size.records == limits.max_records
                    or size.tokens + estimate_tokens(str(following[2])) > limits.token_budget
                    or size.body_bytes + extra > limits.max_bytes - 64
                ), (trial, index, size)


def test_the_sqs_byte_limit_cuts_chunks_of_long_texts() -> None:
    """20,000 three-byte characters per text: 60 kB each, four fit in 256 KiB."""
    records = [Record(n, n, "갈" * 20_000) for n in range(1, 11)]
    bodies = chunk_all(records, ChunkLimits())
    assert [len(ChunkMessage.model_validate_json(body).records) for body in bodies] == [4, 4, 2]
    assert all(len(body.encode("utf-8")) <= SQS_MAX_BYTES for body in bodies)


def test_the_token_budget_cuts_chunks() -> None:
    records = [Record(n, n, "w" * 2000) for n in range(1, 11)]  # 512 tokens each (capped)
    bodies = chunk_all(records, ChunkLimits(max_records=1000, token_budget=2048))
    assert [len(ChunkMessage.model_validate_json(body).records) for body in bodies] == [4, 4, 2]


def test_the_record_limit_cuts_chunks() -> None:
    records = [Record(n, f"r{n}", "short") for n in range(1, 8)]
    bodies = chunk_all(records, ChunkLimits(max_records=3))
    assert [len(ChunkMessage.model_validate_json(body).records) for body in bodies] == [3, 3, 1]


def test_a_record_that_cannot_fit_in_a_message_is_an_error() -> None:
    chunker = Chunker("job-0123456789ab", JobOptions(), ChunkLimits(max_bytes=1000))
    assert chunker.add(Record(1, 1, "small")) is None
    with pytest.raises(
        RecordTooLargeError, match=r"^record needs \d+ bytes in a queue message \(limit 1000\)$"
    ):
        chunker.add(Record(2, 2, "x" * 1000))
    assert chunker.add(Record(3, 3, "small too")) is None, "the chunker goes on"
    (body,) = [chunker.flush()]
    assert body is not None
    assert [line for line, _, _ in ChunkMessage.model_validate_json(body).records] == [1, 3]


def test_no_records_no_chunk() -> None:
    assert chunk_all([], ChunkLimits()) == []


def test_chunk_message_carries_format_options_and_id_types() -> None:
    records = [Record(1, 1, "one"), Record(2, "1", "str one"), Record(3, 2**70, "big")]
    (body,) = chunk_all(records, ChunkLimits(), out="npz")
    message = ChunkMessage.model_validate_json(body)
    assert message.out == "npz"
    assert message.normalize is False
    assert message.records == [(1, 1, "one"), (2, "1", "str one"), (3, 2**70, "big")]
    assert [type(record_id) for _, record_id, _ in message.records] == [int, str, int]


def test_chunk_message_rejects_what_is_not_a_chunk() -> None:
    with pytest.raises(ValidationError):
        ChunkMessage.model_validate_json('{"job": "j", "chunk": 0, "records": [], "extra": 1}')
    with pytest.raises(ValidationError):
        ChunkMessage.model_validate_json('{"job": "j", "chunk": 0, "out": "csv", "records": []}')
    with pytest.raises(ValidationError):
        ChunkMessage.model_validate_json('{"Records": []}')


def test_chunk_message_carries_the_job_options() -> None:
    options = JobOptions(
        model="multilingual-e5-small", input_type="query", long_text="split", windows=True
    )
    chunker = Chunker("job-0123456789ab", options, ChunkLimits())
    assert chunker.add(Record(1, "a", "text")) is None
    body = chunker.flush()
    assert body is not None
    message = ChunkMessage.model_validate_json(body)
    assert (message.model, message.input_type, message.long_text, message.windows) == (
        "multilingual-e5-small", "query", "split", True,
    )  # fmt: skip
    none = Chunker("job-0123456789ab", JobOptions(input_type=None), ChunkLimits())
    none.add(Record(1, "a", "text"))
    assert ChunkMessage.model_validate_json(str(none.flush())).input_type is None


def test_a_message_from_before_the_options_means_what_it_meant() -> None:
    """Messages queued by an older submit step have no option fields: the worker's default
    model, the text without a prompt, truncated, no window rows."""
    old = '{"job": "j-0123456789ab", "chunk": 3, "out": "jsonl", "normalize": true, '
    message = ChunkMessage.model_validate_json(old + '"records": [[1, "a", "text"]]}')
    assert (message.model, message.input_type, message.long_text, message.windows) == (
        None, None, "truncate", False,
    )  # fmt: skip
    assert message.records == [(1, "a", "text")]


def test_a_record_too_large_for_a_message_is_spilled_and_the_message_refers_to_it() -> None:
    """A 150,000-character Korean and English text is up to 450 kB of UTF-8 (this one 330 kB):
    over SQS's 256 KiB. Its text goes to the spill callback; the message holds its size."""
    text = ("김치찌개를 끓이는 방법. " * 9000 + "Kimchi stew, simmered. " * 2000)[:150_000]
    spilled: list[Record] = []
    chunker = Chunker(
        "job-0123456789ab", JobOptions(long_text="split"), ChunkLimits(), spilled.append
    )
    records = [Record(1, "small", "short"), Record(2, "doc", text), Record(3, "after", "more")]
    bodies = [body for record in records if (body := chunker.add(record)) is not None]
    bodies.append(str(chunker.flush()))
    assert [record.line for record in spilled] == [2]
    assert spilled[0].text == text
    assert chunker.spilled == 1
    # ~128,000 estimated tokens (split: every window counts): a chunk of its own
    assert [ChunkMessage.model_validate_json(body).records for body in bodies] == [
        [(1, "small", "short")],
        [(2, "doc", SpilledText(spilled=len(text.encode())))],
        [(3, "after", "more")],
    ]
    assert all(len(body.encode()) <= SQS_MAX_BYTES for body in bodies)


def test_a_record_whose_id_alone_is_too_large_is_still_an_error() -> None:
    spilled: list[Record] = []
    chunker = Chunker("job-0123456789ab", JobOptions(), ChunkLimits(max_bytes=1000), spilled.append)
    with pytest.raises(RecordTooLargeError):
        chunker.add(Record(1, "i" * 2000, "x" * 2000))
    assert spilled == [], "nothing is spilled for a record that cannot be sent anyway"


# ---- batches (SendMessageBatch) --------------------------------------------------------------


def test_batches_group_by_ten_and_by_bytes_in_order() -> None:
    rng = random.Random(3)
    for _ in range(200):
        limit = rng.choice([100, 1000, 5000])
        bodies = ["x" * rng.randrange(1, limit + 1) for _ in range(rng.randrange(0, 60))]
        groups = list(batches(bodies, max_bytes=limit))
        assert [body for group in groups for body in group] == bodies
        for index, group in enumerate(groups):
            assert 1 <= len(group) <= SQS_MAX_BATCH
            total = sum(len(body) for body in group)
            assert total <= limit
            if index + 1 < len(groups):  # full: ten entries, or the next would not fit
                assert len(group) == SQS_MAX_BATCH or total + len(groups[index + 1][0]) > limit


def test_batches_count_utf8_bytes() -> None:
    assert list(batches(["갈" * 10, "갈" * 10], max_bytes=60)) == [["갈" * 10, "갈" * 10]]
    assert list(batches(["갈" * 10, "갈" * 11], max_bytes=60)) == [["갈" * 10], ["갈" * 11]]


def test_batches_refuse_a_message_over_the_limit() -> None:
    with pytest.raises(JobError, match="a message of 101 bytes exceeds the queue's limit of 100"):
        list(batches(["ok", "x" * 101], max_bytes=100))


# ---- MemoryQueue -----------------------------------------------------------------------------


class Clock:
    """Stands in for the ``time`` module inside lamina_tools.queues (MemoryQueue's clock)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(memory_queues, "time", fake)
    return fake


def test_received_messages_are_invisible_until_the_timeout(clock: Clock) -> None:
    queue = MemoryQueue()
    queue.send(["a", "b", "c"])
    assert queue.depth() == (3, 0)
    first = queue.receive(10, 0, 30)
    assert [m.body for m in first] == ["a", "b", "c"]
    assert [m.receive_count for m in first] == [1, 1, 1]
    assert len({m.message_id for m in first}) == 3
    assert queue.depth() == (0, 3)
    clock.now += 29.9
    assert queue.receive(10, 0, 30) == []
    clock.now += 0.2
    again = queue.receive(10, 0, 30)
    assert [(m.message_id, m.receive_count) for m in again] == [(m.message_id, 2) for m in first]
    assert {m.receipt_handle for m in again}.isdisjoint(m.receipt_handle for m in first)


def test_receive_takes_at_most_max_messages(clock: Clock) -> None:
    queue = MemoryQueue()
    queue.send([str(n) for n in range(7)])
    assert [m.body for m in queue.receive(3, 0, 30)] == ["0", "1", "2"]
    assert [m.body for m in queue.receive(10, 0, 30)] == ["3", "4", "5", "6"]


def test_delete_with_a_stale_receipt_does_nothing(clock: Clock) -> None:
    queue = MemoryQueue()
    queue.send(["a"])
    (old,) = queue.receive(1, 0, 10)
    clock.now += 11
    (new,) = queue.receive(1, 0, 10)
    queue.delete([old])  # its visibility timeout ran out: another consumer owns it now
    assert queue.depth() == (0, 1)
    queue.release([old], 0)  # nor can a stale receipt make it visible
    assert queue.depth() == (0, 1)
    queue.delete([new])
    assert queue.depth() == (0, 0)
    clock.now += 100
    assert queue.receive(10, 0, 10) == []


def test_dead_letter_on_the_receive_after_max_receive_count(clock: Clock) -> None:
    queue = MemoryQueue(max_receive_count=3)
    queue.send(["poison", "fine"])
    counts = []
    for _ in range(3):
        got = queue.receive(10, 0, 5)
        counts.append([(m.body, m.receive_count) for m in got])
        fine = [m for m in got if m.body == "fine"]
        queue.delete(fine)
        clock.now += 6
    assert counts == [[("poison", 1), ("fine", 1)], [("poison", 2)], [("poison", 3)]]
    assert queue.dead_letters == []
    assert queue.receive(10, 0, 5) == []  # the fourth receive moves it
    assert queue.dead_letters == ["poison"]
    assert queue.depth() == (0, 0)


def test_release_makes_a_message_visible_after_the_delay(clock: Clock) -> None:
    queue = MemoryQueue()
    queue.send(["a"])
    (message,) = queue.receive(1, 0, 900)
    queue.release([message], 5)
    assert queue.receive(1, 0, 900) == []
    clock.now += 5.1
    (again,) = queue.receive(1, 0, 900)
    assert again.receive_count == 2
    queue.release([again], 0)
    (third,) = queue.receive(1, 0, 900)
    assert third.receive_count == 3


def test_lambda_record_has_the_sqs_event_shape() -> None:
    queue = MemoryQueue()
    queue.send(['{"x": 1}'])
    (message,) = queue.receive(1, 0, 30)
    record = message.lambda_record(queue.arn)
    assert record["messageId"] == message.message_id
    assert record["receiptHandle"] == message.receipt_handle
    assert record["body"] == '{"x": 1}'
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue.arn
    assert record["md5OfBody"] == "27958648a9e57fcd66ae5e31ff3359e9"  # md5 of '{"x": 1}'


def test_receive_waits_for_a_message_sent_meanwhile() -> None:
    queue = MemoryQueue()
    timer = threading.Timer(0.1, queue.send, args=(["late"],))
    started = time.monotonic()
    timer.start()
    try:
        got = queue.receive(10, 5, 30)
    finally:
        timer.cancel()
    assert [m.body for m in got] == ["late"]
    assert time.monotonic() - started < 2
    started = time.monotonic()
    assert queue.receive(10, 0.2, 30) == []  # nothing visible: waits out wait_s, no more
    assert 0.15 < time.monotonic() - started < 2


def test_send_blocks_while_the_queue_is_full() -> None:
    queue = MemoryQueue(capacity=2)
    queue.send(["a", "b"])
    sender = threading.Thread(target=queue.send, args=(["c"],), daemon=True)
    sender.start()
    sender.join(0.3)
    assert sender.is_alive(), "send returned although the queue was full"
    queue.delete(queue.receive(1, 0, 30))
    sender.join(5)
    assert not sender.is_alive()
    assert sorted(m.body for m in queue.receive(10, 0, 30)) == ["b", "c"]


def test_send_all_sends_every_group_once_and_raises_the_first_failure() -> None:

    from lamina.batch.submit import SEND_THREADS, send_all

    class Recording(MemoryQueue):
        def __init__(self, fail: int | None = None) -> None:
            super().__init__(capacity=10_000)
            self.calls: list[list[str]] = []
            self.fail = fail
            self.lock = threading.Lock()

        def send(self, bodies: Sequence[str]) -> None:
            with self.lock:
                self.calls.append(list(bodies))
            if self.fail is not None and bodies[0] == str(self.fail):
                raise JobError("refused")
            super().send(bodies)

    groups = [[str(n), f"{n}-b"] for n in range(10 * SEND_THREADS)]
    queue = Recording()
    send_all(queue, iter(groups))
    assert sorted(queue.calls) == sorted(groups)
    assert queue.depth() == (2 * len(groups), 0)

    failing = Recording(fail=3)
    with pytest.raises(JobError, match="refused"):
        send_all(failing, iter(groups))
    assert len(failing.calls) < len(groups), "a failure stops the submit early"
