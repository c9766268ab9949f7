"""Input files of batch jobs read as a stream: lines, records, line errors, duplicate ids."""

from __future__ import annotations

import json
import random
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from lamina.batch.records import (
    IdSet,
    LineError,
    Record,
    RecordId,
    RecordReader,
    input_format,
    split_lines,
)
from lamina.errors import JobInputError
from tests.batch_helpers import chunked, csv_bytes, jsonl

MAX_LINE = 1000
MAX_CHARS = 50


def read(
    fmt: str,
    data: bytes,
    *,
    chunk: int | None = None,
    max_line_bytes: int = MAX_LINE,
    max_text_chars: int = MAX_CHARS,
) -> list[Record | LineError]:
    """Everything the reader yields for ``data`` (cut every ``chunk`` bytes); checks that
    ``count`` is the number of items."""
    reader = RecordReader(fmt, max_line_bytes=max_line_bytes, max_text_chars=max_text_chars)
    items = list(reader.read(chunked(data, chunk or len(data) or 1)))
    assert reader.count == len(items)
    return items


def errors_by_line(items: list[Record | LineError]) -> dict[int, LineError]:
    found = {item.line: item for item in items if isinstance(item, LineError)}
    assert len(found) == sum(isinstance(item, LineError) for item in items), "one error per line"
    return found


# ---- input_format ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "fmt"),
    [
        ("incoming/a.jsonl", "jsonl"),
        ("incoming/a.ndjson", "jsonl"),
        ("incoming/A.JSONL", "jsonl"),
        ("incoming/x.y.csv", "csv"),
        ("incoming/notes.TXT", "txt"),
    ],
)
def test_input_format_from_the_extension(key: str, fmt: str) -> None:
    assert input_format(key) == fmt


@pytest.mark.parametrize("key", ["incoming/a.json", "incoming/a", "incoming/a.jsonl.gz"])
def test_unsupported_extension_is_a_job_input_error(key: str) -> None:
    with pytest.raises(JobInputError, match=r"must end with one of \.csv, \.jsonl"):
        input_format(key)


def test_reader_refuses_an_unknown_format() -> None:
    with pytest.raises(JobInputError, match="unknown input format 'xml'"):
        RecordReader("xml", max_line_bytes=10, max_text_chars=10)


# ---- split_lines -----------------------------------------------------------------------------


def reference_lines(data: bytes, max_line_bytes: int) -> list[bytes | None]:
    """What split_lines must yield, computed on the whole input at once."""
    parts = data.split(b"\n")
    if parts[-1] == b"":
        parts.pop()  # a final newline does not start a line
    out: list[bytes | None] = []
    for part in parts:
        line = part[:-1] if part.endswith(b"\r") else part
        out.append(None if len(part) > max_line_bytes else line)
    return out


def test_split_lines_basic_shapes() -> None:
    assert list(split_lines([b"a\nb\n"], 100)) == [b"a", b"b"]
    assert list(split_lines([b"a\nb"], 100)) == [b"a", b"b"]  # last line without newline
    assert list(split_lines([b"a\r\nb\r\n"], 100)) == [b"a", b"b"]
    assert list(split_lines([b"a\n\n\nb\n"], 100)) == [b"a", b"", b"", b"b"]
    assert list(split_lines([b""], 100)) == []
    assert list(split_lines([], 100)) == []
    assert list(split_lines([b"\n"], 100)) == [b""]
    assert list(split_lines([b"a\r"], 100)) == [b"a"]  # a lone final \r is a line ending
    assert list(split_lines([b"x\ry\n"], 100)) == [b"x\ry"]  # \r inside a line stays


def test_split_lines_chunk_boundaries_anywhere() -> None:
    data = b"first\r\nsecond\n\nthird line \xe2\x82\xac\r\n" + b"z" * 30 + b"\nlast"
    expected = reference_lines(data, 20)
    assert expected[-2] is None
    assert expected[-1] == b"last"
    for size in range(1, len(data) + 1):
        assert list(split_lines(chunked(data, size), 20)) == expected, size


def test_split_lines_random_cuts_and_empty_chunks() -> None:
    rng = random.Random(5)
    for _ in range(300):
        data = bytes(rng.choice(b"ab\r\n\n") for _ in range(rng.randrange(0, 60)))
        limit = rng.randrange(1, 8)
        cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randrange(0, 6))))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert b"".join(pieces) == data
        assert list(split_lines(pieces, limit)) == reference_lines(data, limit), (data, pieces)


def test_line_at_the_limit_is_kept_one_over_is_none() -> None:
    data = b"x" * 10 + b"\n" + b"y" * 11 + b"\n" + b"z\n"
    for size in (1, 3, 10, 11, 12, len(data)):
        assert list(split_lines(chunked(data, size), 10)) == [b"x" * 10, None, b"z"]
    # a too-long last line without a newline is reported too
    assert list(split_lines([b"a\n", b"b" * 50], 10)) == [b"a", None]


def test_a_huge_line_is_not_buffered() -> None:
    """64 MiB in one line, streamed in 1 MiB chunks: memory stays at a chunk or two."""
    block = b"x" * (1 << 20)

    def stream() -> Iterator[bytes]:
        yield b"short\n"
        for _ in range(64):
            yield block
        yield b"\nafter\n"

    tracemalloc.start()
    try:
        lines = list(split_lines(stream(), 1000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == [b"short", None, b"after"]
    assert peak < 8 * (1 << 20), f"peak {peak / 2**20:.1f} MiB: the long line was buffered"


# ---- jsonl -----------------------------------------------------------------------------------

GOOD = {"id": "g", "text": "fine"}


@pytest.mark.parametrize(
    ("line", "reason", "error_id"),
    [
        (b"{not json", "invalid JSON: ", None),
        (b'{"id": 1, "text": "a"', "invalid JSON: ", None),
        (b'["id", "text"]', "expected a JSON object, got list", None),
        (b'"just a string"', "expected a JSON object, got str", None),
        (b"42", "expected a JSON object, got int", None),
        (b'{"text": "no id"}', "missing id", None),
        (b'{"id": null, "text": "null id"}', "missing id", None),
        (b'{"id": true, "text": "a"}', "id must be a non-empty string or an integer", None),
        (b'{"id": 1.5, "text": "a"}', "id must be a non-empty string or an integer", None),
        (b'{"id": 2.0, "text": "a"}', "id must be a non-empty string or an integer", None),
        (b'{"id": "", "text": "a"}', "id must be a non-empty string or an integer", None),
        (b'{"id": [1], "text": "a"}', "id must be a non-empty string or an integer", None),
        (b'{"id": "\\udc00", "text": "a"}', "id is not valid Unicode", None),
        (b'{"id": 7}', "missing text", 7),
        (b'{"id": 7, "text": null}', "missing text", 7),
        (b'{"id": 7, "text": 5}', "text must be a string, got int", 7),
        (b'{"id": "s", "text": ["a"]}', "text must be a string, got list", "s"),
        (b'{"id": 7, "text": ""}', "empty text", 7),
        (b'{"id": 7, "text": " \\t\\n "}', "empty text", 7),
        (b'{"id": 7, "text": "\\ud800 lone"}', "text is not valid Unicode", 7),
        (b'{"id": 7, "text": "' + b"x" * 51 + b'"}', "text has 51 characters (limit 50)", 7),
        (b'{"id": 7, "text": "caf\xe9"}', "not valid UTF-8 (byte 22)", None),
        (b"", "blank line", None),
        (b"   \t", "blank line", None),
        (b'{"id": 7, "text": "' + b"x" * 1000 + b'"}', "line is longer than 1000 bytes", None),
    ],
)
def test_jsonl_malformed_line(line: bytes, reason: str, error_id: RecordId | None) -> None:
    data = jsonl([GOOD, {"id": "h", "text": "ok"}]) + line + b"\n" + jsonl([{"id": 9, "text": "z"}])
    items = read("jsonl", data)
    assert [item.line for item in items] == [1, 2, 3, 4]
    assert isinstance(items[0], Record)
    assert isinstance(items[1], Record)
    assert items[3] == Record(4, 9, "z"), "the job goes on after a bad line"
    error = items[2]
    assert isinstance(error, LineError), error
    assert error.reason.startswith(reason), error.reason
    assert error.id == error_id
    assert error.to_json() == {"line": 3, "id": error_id, "error": error.reason}


def test_jsonl_valid_records_keep_id_types_and_text() -> None:
    rows: list[dict[str, Any]] = [
        {"id": 1, "text": "one"},
        {"id": "1", "text": "string one"},  # 1 and "1" are different ids
        {"id": -1, "text": "minus one"},
        {"id": -2, "text": "minus two"},  # hash(-1) == hash(-2) in Python
        {"id": 2**61, "text": "hash(2**61) == hash(1)"},
        {"id": 0, "text": "zero", "extra": {"ignored": True}},
        {"id": "é", "text": '갈비탕 "quoted" \\ back\nslash'},
        {"id": 10**30, "text": "big"},
    ]
    items = read("jsonl", jsonl(rows))
    assert items == [Record(n, row["id"], row["text"]) for n, row in enumerate(rows, start=1)]


def test_jsonl_duplicate_id_the_second_occurrence_is_the_error() -> None:
    data = jsonl(
        [
            {"id": "a", "text": "first"},
            {"id": 1, "text": "int one"},
            {"id": "a", "text": "second"},
            {"id": "1", "text": "str one: not a duplicate"},
            {"id": 1, "text": "int one again"},
            {"id": "a", "text": "third"},
        ]
    )
    items = read("jsonl", data)
    assert items[0] == Record(1, "a", "first")
    assert items[1] == Record(2, 1, "int one")
    assert items[3] == Record(4, "1", "str one: not a duplicate")
    for index, record_id in ((2, "a"), (4, 1), (5, "a")):
        error = items[index]
        assert isinstance(error, LineError)
        assert error.line == index + 1
        assert error.id == record_id
        assert error.reason == "duplicate id: an earlier line has the same id"


def test_a_rejected_line_does_not_reserve_its_id() -> None:
    """A line rejected for its text does not count as a use of its id."""
    items = read("jsonl", jsonl([{"id": 5, "text": ""}, {"id": 5, "text": "now valid"}]))
    assert isinstance(items[0], LineError)
    assert items[0].reason == "empty text"
    assert items[1] == Record(2, 5, "now valid")


def test_jsonl_bom_crlf_and_no_final_newline() -> None:
    data = (
        b"\xef\xbb\xbf"
        + b'{"id": 1, "text": "a"}\r\n{"id": 2, "text": "b"}\r\n{"id": 3, "text": "c"}'
    )
    for size in (1, 2, 3, 7, len(data)):
        assert read("jsonl", data, chunk=size) == [
            Record(1, 1, "a"),
            Record(2, 2, "b"),
            Record(3, 3, "c"),
        ]


def test_jsonl_bom_only_on_the_first_line() -> None:
    data = jsonl([GOOD]) + b"\xef\xbb\xbf" + jsonl([{"id": 2, "text": "b"}])
    items = read("jsonl", data)
    assert isinstance(items[1], LineError)
    assert items[1].reason.startswith("invalid JSON")


def test_text_limit_counts_characters_not_bytes() -> None:
    items = read("jsonl", jsonl([{"id": 1, "text": "갈" * 50}, {"id": 2, "text": "갈" * 51}]))
    assert items[0] == Record(1, 1, "갈" * 50)
    assert isinstance(items[1], LineError)
    assert items[1].reason == "text has 51 characters (limit 50)"


def test_a_text_over_the_limit_names_the_split_limit_when_higher() -> None:
    data = jsonl([{"id": 1, "text": "x" * 51}])
    hinted = RecordReader("jsonl", max_line_bytes=MAX_LINE, max_text_chars=50, split_text_chars=80)
    (item,) = list(hinted.read([data]))
    assert isinstance(item, LineError)
    assert item.reason == "text has 51 characters (limit 50; long_text=split accepts up to 80)"
    lower = RecordReader("jsonl", max_line_bytes=MAX_LINE, max_text_chars=50, split_text_chars=50)
    (item,) = list(lower.read([data]))
    assert isinstance(item, LineError)
    assert item.reason == "text has 51 characters (limit 50)"


def test_a_150000_character_korean_line_is_read_with_the_split_limits() -> None:
    """450 kB of UTF-8 (900 kB with \\u escapes) on one line: within the line limit the
    submit step uses with long_text=split (200,000 + 12 bytes per allowed character)."""
    from lamina.batch.submit import MAX_LINE_BYTES, SPLIT_BYTES_PER_CHAR

    text = "갈비탕" * 50_000
    limit = MAX_LINE_BYTES + SPLIT_BYTES_PER_CHAR * 200_000
    for data in (
        jsonl([{"id": "ko", "text": text}]),
        json.dumps({"id": "ko", "text": text}).encode(),
    ):
        assert len(data) > MAX_LINE_BYTES
        items = read("jsonl", data, chunk=65_536, max_line_bytes=limit, max_text_chars=200_000)
        assert items == [Record(1, "ko", text)]
        (error,) = read("jsonl", data, chunk=65_536, max_line_bytes=MAX_LINE_BYTES)
        assert isinstance(error, LineError)
        assert error.reason == f"line is longer than {MAX_LINE_BYTES} bytes"


def test_empty_input_has_no_records() -> None:
    assert read("jsonl", b"") == []
    assert read("txt", b"") == []
    assert read("csv", b"") == []


# ---- txt -------------------------------------------------------------------------------------


def test_txt_one_text_per_line_id_is_the_line_number() -> None:
    data = "\ufeffhello world\r\n  spaced text  \n\n   \n" + "x" * 51 + "\n갈비탕"
    items = read("txt", data.encode("utf-8") + b"\n\xff\xfe\n")
    assert items[0] == Record(1, 1, "hello world")
    assert items[1] == Record(2, 2, "  spaced text  ")  # the text is kept as written
    errors = errors_by_line(items)
    assert errors[3] == LineError(3, "empty text", 3)
    assert errors[4] == LineError(4, "empty text", 4)
    assert errors[5] == LineError(5, "text has 51 characters (limit 50)", 5)
    assert items[5] == Record(6, 6, "갈비탕")
    assert errors[7].reason == "not valid UTF-8 (byte 0)"
    assert [item.line for item in items] == list(range(1, 8))


def test_txt_long_line() -> None:
    items = read("txt", b"a\n" + b"b" * 2000 + b"\nc", chunk=64)
    assert items == [
        Record(1, 1, "a"),
        LineError(2, "line is longer than 1000 bytes"),
        Record(3, 3, "c"),
    ]


# ---- csv -------------------------------------------------------------------------------------


def test_csv_header_any_order_and_case_extra_columns_ignored() -> None:
    data = csv_bytes([" Text ", "lang", "ID"], [["hello", "en", "a1"], ["안녕", "ko", "a2"]])
    assert read("csv", data) == [Record(2, "a1", "hello"), Record(3, "a2", "안녕")]


def test_csv_bom_and_crlf() -> None:
    data = "\ufeffid,text\r\n1,one\r\n2,two".encode()
    assert read("csv", data, chunk=3) == [Record(2, "1", "one"), Record(3, "2", "two")]


def test_csv_quoted_multiline_text_keeps_its_starting_line() -> None:
    data = b'id,text\n1,"first\nsecond\r\nthird"\n2,"a ""quote"", a comma"\n3,plain\n'
    for size in (1, 5, len(data)):
        assert read("csv", data, chunk=size) == [
            Record(2, "1", "first\nsecond\nthird"),
            Record(5, "2", 'a "quote", a comma'),
            Record(6, "3", "plain"),
        ]


def test_csv_malformed_rows() -> None:
    long_row = b"9," + b"x" * 1000
    data = (
        b"id,text,extra\n"
        b"1,ok,e\n"  # 2
        b"2\n"  # 3: too few columns
        b",no id,e\n"  # 4
        b"   ,blank id,e\n"  # 5
        b"4,,e\n"  # 6: empty text
        b"5,   ,e\n"  # 7: whitespace text
        b"\n"  # 8: blank line
        b"1,dup,e\n"  # 9: duplicate id
        b"6,\xff,e\n"  # 10: invalid UTF-8
        b"7,after bad utf8,e\n" + long_row + b"\n"  # 11  # 12: too long
        b"8,after long,e\n"  # 13
        b'10,"bad"quote,e\n'  # 14: invalid CSV
        b"11," + b"y" * 51 + b",e\n"  # 15: too many characters
        b"12,last,e\n"  # 16
    )
    for size in (1, 7, len(data)):
        items = read("csv", data, chunk=size)
        assert [item.line for item in items] == list(range(2, 17)), size
        errors = errors_by_line(items)
        assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 15]
        assert errors[3].reason == "row has 1 columns, the header has 3"
        assert errors[4].reason == errors[5].reason == "missing id"
        assert errors[6] == LineError(6, "empty text", "4")
        assert errors[7] == LineError(7, "empty text", "5")
        assert errors[8].reason == "blank line"
        assert errors[9] == LineError(9, "duplicate id: an earlier line has the same id", "1")
        assert errors[10].reason.startswith("not valid UTF-8")
        assert errors[12].reason == "line is longer than 1000 bytes"
        assert errors[14].reason.startswith("invalid CSV: ")
        assert errors[15] == LineError(15, "text has 51 characters (limit 50)", "11")
        records = [item for item in items if isinstance(item, Record)]
        assert records == [
            Record(2, "1", "ok"),
            Record(11, "7", "after bad utf8"),
            Record(13, "8", "after long"),
            Record(16, "12", "last"),
        ]


def test_csv_a_skipped_line_inside_a_quoted_row_rejects_the_row() -> None:
    """A line the reader cannot pass on (invalid UTF-8, too long) inside a multi-line
    field must not be cut out of the text silently: the row is one error, at its start."""
    data = (
        b'id,text\n1,"first\n\xff\nlast"\n'  # rows at lines 2-4
        b'2,"short\n' + b"y" * 1001 + b'\nend"\n'  # 5-7
        b"\xfe\n"  # 8: between rows, an error of its own
        b"3,ok\n"  # 9
        b'4,"a\n\xff\nb"x\n'  # 10-12: invalid CSV too
        b"5,fine"  # 13
    )
    for size in (1, 4, len(data)):
        assert read("csv", data, chunk=size) == [
            LineError(2, "line 3 of this row: not valid UTF-8 (byte 0)"),
            LineError(5, "line 6 of this row: line is longer than 1000 bytes"),
            LineError(8, "not valid UTF-8 (byte 0)"),
            Record(9, "3", "ok"),
            LineError(10, "invalid CSV: ',' expected after '\"'"),
            Record(13, "5", "fine"),
        ]


def test_csv_unterminated_quote_is_one_error_at_its_start() -> None:
    items = read("csv", b'id,text\n1,a\n2,"never closed\nmore\n')
    assert items[0] == Record(2, "1", "a")
    assert items[1] == LineError(3, "invalid CSV: unexpected end of data")
    assert len(items) == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"name,text\n1,a\n", "CSV header must name an id and a text column"),
        (b"id;text\n1;a\n", "CSV header must name an id and a text column"),
        (b"\n1,a\n", "CSV header must name an id and a text column"),
        (b"\xff\xfe\n", r"CSV header \(line 1\): not valid UTF-8"),
        (b'"id,text\n', "CSV header is not valid CSV"),
    ],
)
def test_csv_bad_header_is_a_job_input_error(data: bytes, message: str) -> None:
    reader = RecordReader("csv", max_line_bytes=MAX_LINE, max_text_chars=MAX_CHARS)
    with pytest.raises(JobInputError, match=message):
        list(reader.read([data]))


def test_csv_header_only_has_no_records() -> None:
    assert read("csv", b"ID,Text\n") == []


# ---- IdSet -----------------------------------------------------------------------------------


def test_idset_many_inserts_with_growth() -> None:
    ids = IdSet(capacity=2)
    n = 200_000
    values: list[RecordId] = [i if i % 2 else f"id-{i}" for i in range(n)]
    assert all(ids.add(value) for value in values), "a new id reported as seen"
    assert len(ids) == n
    assert not any(ids.add(value) for value in values), "a duplicate not detected"
    assert len(ids) == n
    # what was never added is not there: ints and strings are distinct ids
    assert all(ids.add(str(i)) for i in range(1, 2001, 2))
    assert all(ids.add(-i) for i in range(1, 1001))
    assert len(ids) == n + 2000


def test_idset_memory_per_id() -> None:
    """Just after a doubling (the worst case): 32 bytes per id, 48 while doubling."""
    n = 34_000  # the table doubled from 2**16 to 2**17 slots at 32,769 ids
    tracemalloc.start()
    try:
        ids = IdSet()
        for value in range(n):
            ids.add(value)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(ids) == n
    assert current / n < 33, f"{current / n:.1f} bytes per id"
    assert peak / n < 50, f"peak {peak / n:.1f} bytes per id"


def test_idset_capacity_is_a_power_of_two() -> None:
    for capacity in (0, 3, 1000):
        with pytest.raises(ValueError, match="power of two"):
            IdSet(capacity)
    assert IdSet(1).add("x")


def test_idset_ids_python_hashes_alike_are_distinct() -> None:
    ids = IdSet()
    for value in (1, "1", -1, -2, 2**61, 2**64 + 1, 0, "0", "", "int:1"):
        assert ids.add(value), value
    assert not ids.add(-2)
    assert not ids.add(2**61)


# ---- property: every line is accounted for, in order -----------------------------------------


@dataclass
class Case:
    data: bytes
    expected: list[tuple[int, str]]  # (line, "ok" | a reason prefix)


BAD_JSONL = [
    (b"{oops", "invalid JSON"),
    (b"[]", "expected a JSON object"),
    (b'{"text": "t"}', "missing id"),
    (b'{"id": false, "text": "t"}', "id must be"),
    (b'{"id": 0.5, "text": "t"}', "id must be"),
    (b'{"id": "", "text": "t"}', "id must be"),
    (b'{"id": "q"}', "missing text"),
    (b'{"id": "q", "text": {}}', "text must be a string"),
    (b'{"id": "q", "text": "  "}', "empty text"),
    (b'{"id": "q", "text": "' + b"w" * 41 + b'"}', "text has 41 characters"),
    (b'{"id": "q", "text": "\x80"}', "not valid UTF-8"),
    (b"", "blank line"),
    (b'{"id": "q", "text": "' + b"v" * 300 + b'"}', "line is longer than"),
]


def make_jsonl_case(rng: random.Random) -> Case:
    lines: list[bytes] = []
    expected: list[tuple[int, str]] = []
    used: list[RecordId] = []
    for number in range(1, rng.randrange(1, 40) + 1):
        roll = rng.random()
        if roll < 0.5:
            choices: list[RecordId] = [rng.randrange(-5, 10**6), f"s{rng.randrange(10**6)}"]
            record_id = rng.choice(choices)
            text = "".join(rng.choice('ab 갈"\\\t') for _ in range(rng.randrange(1, 40)))
            if record_id in used or not text.strip():
                reason = "duplicate id" if text.strip() else "empty text"
            else:
                reason = "ok"
                used.append(record_id)
            lines.append(json.dumps({"id": record_id, "text": text}, ensure_ascii=False).encode())
        elif roll < 0.6 and used:
            lines.append(json.dumps({"id": rng.choice(used), "text": "again"}).encode())
            reason = "duplicate id"
        else:
            line, reason = rng.choice(BAD_JSONL)
            lines.append(line)
        expected.append((number, reason))
    endings = [rng.choice([b"\n", b"\r\n"]) for _ in lines]
    data = b"".join(line + end for line, end in zip(lines, endings, strict=True))
    if rng.random() < 0.3 and lines[-1]:
        data = data.removesuffix(endings[-1])  # the last line has no newline
    return Case(data, expected)


def make_csv_case(rng: random.Random) -> Case:
    rows: list[bytes] = [b"text,id"]
    expected: list[tuple[int, str]] = []
    used: set[str] = set()
    number = 2
    for serial in range(rng.randrange(1, 30)):
        roll = rng.random()
        height = 1
        if roll < 0.1:  # a quoted text with a line the reader must skip inside it
            middle = rng.choice([(b"\xff", "not valid UTF-8"), (b"q" * 250, "line is longer")])
            rows.append(b'"top\n' + middle[0] + b'\nbottom",' + str(serial).encode())
            reason = f"line {number + 1} of this row: {middle[1]}"
            height = 3
        elif roll < 0.55:
            record_id = str(rng.randrange(50))
            text = rng.choice(["plain", '"two\nlines"', '"a, ""b"""', '"x\n\ny"'])
            height = text.count("\n") + 1
            reason = "duplicate id" if record_id in used else "ok"
            used.add(record_id)
            rows.append(text.encode() + b"," + record_id.encode())
        else:
            row, reason = rng.choice(
                [
                    (b"only", "row has 1 columns"),
                    (b"text,", "missing id"),
                    (b"   ," + str(serial).encode(), "empty text"),
                    (b"", "blank line"),
                    (b"\xc3(," + str(serial).encode(), "not valid UTF-8"),
                    (b'"bad"x,1', "invalid CSV"),
                    (b"z" * 300 + b",1", "line is longer than"),
                ]
            )
            rows.append(row)
        expected.append((number, reason))
        number += height
    # a final newline does not start a line: a blank last row needs its own newline
    ending = b"\n" if rows[-1] == b"" else rng.choice([b"", b"\n"])
    return Case(b"\n".join(rows) + ending, expected)


def check_case(fmt: str, case: Case, rng: random.Random) -> None:
    cuts = sorted(rng.sample(range(len(case.data) + 1), min(len(case.data), rng.randrange(0, 8))))
    pieces = [case.data[a:b] for a, b in zip([0, *cuts], [*cuts, len(case.data)], strict=True)]
    reader = RecordReader(fmt, max_line_bytes=200, max_text_chars=40)
    items = list(reader.read(pieces))
    assert reader.count == len(items)
    got = [(item.line, "ok" if isinstance(item, Record) else item.reason) for item in items]
    assert [line for line, _ in got] == [line for line, _ in case.expected], (case.data, got)
    for (line, reason), (_, want) in zip(got, case.expected, strict=True):
        assert reason.startswith(want), (case.data, line, reason, want)


def test_property_every_jsonl_line_is_a_record_or_an_error_in_order() -> None:
    rng = random.Random(20260101)
    for _ in range(500):
        case = make_jsonl_case(rng)
        check_case("jsonl", case, rng)
        assert [line for line, _ in case.expected] == list(range(1, len(case.expected) + 1))


def test_property_every_csv_row_is_a_record_or_an_error_in_order() -> None:
    rng = random.Random(7)
    for _ in range(500):
        check_case("csv", make_csv_case(rng), rng)
