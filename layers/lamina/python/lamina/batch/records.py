"""Input files of a batch job, read as a stream: every line becomes a Record or a LineError.

Formats, chosen by the key's extension:

- ``.jsonl`` / ``.ndjson``: one ``{"id": ..., "text": ...}`` object per line; the id is a
  non-empty string or an integer.
- ``.csv``: a header row with ``id`` and ``text`` columns (any order, other columns
  ignored); a quoted text may span lines. The header is not a record.
- ``.txt``: one text per line; its id is its line number (1-based).

Nothing is read whole: lines come from an iterator of byte chunks, and a line longer
than ``max_line_bytes`` is skipped (and reported) without being buffered; so is a CSV row
whose physical lines add up to more (its lines are dropped as they arrive, never handed
to the parser). Memory is one line (row) plus the duplicate-id set (``IdSet``: 16 to 32
bytes per record, 48 while it grows; none for txt, whose ids are line numbers), bounded by
the reader's ``max_records`` (the submit step's LAMINA_BATCH_MAX_RECORDS).

Whatever a line contains, it becomes a Record or a LineError: a parse failure of any kind
(invalid UTF-8, JSON nested too deeply for the parser, an oversized CSV row, a wrong type)
is that line's error, never the job's.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from lamina.errors import JobInputError

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".txt": "txt"}

RecordId = str | int


@dataclass(frozen=True, slots=True)
class Record:
    """A valid input record: ``line`` is its (first) line number in the input, 1-based."""

    line: int
    id: RecordId
    text: str
    # The record's other fields (JSONL keys, CSV columns), when the reader keeps them
    # (keep_metadata: loading a job into a search collection); None otherwise.
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class LineError:
    """An input record that will get no vector, and why."""

    line: int
    reason: str
    id: RecordId | None = None

    def to_json(self) -> dict[str, object]:
        return {"line": self.line, "id": self.id, "error": self.reason}


def input_format(key: str) -> str:
    """The format of an input object from its key's extension; JobError if unsupported."""
    suffix = PurePosixPath(key).suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise JobInputError(
            f"unsupported input {key!r}: the name must end with one of {known}"
        ) from None


def split_lines(chunks: Iterable[bytes], max_line_bytes: int) -> Iterator[bytes | None]:
    """Lines of a byte stream without their ``\\n`` / ``\\r\\n``; None for a line over
    ``max_line_bytes`` (its bytes are dropped as they arrive). A last line without a
    newline is a line; a final newline does not start one."""
    pending = bytearray()
    too_long = False
    for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                if not too_long:
                    pending += chunk[start:]
                    if len(pending) > max_line_bytes:
                        too_long = True
                        pending.clear()
                break
            if too_long:
                yield None
            else:
                pending += chunk[start:end]
                yield None if len(pending) > max_line_bytes else _strip_cr(pending)
            pending.clear()
            too_long = False
            start = end + 1
    if too_long:
        yield None
    elif pending:
        yield _strip_cr(pending)


def _strip_cr(line: bytearray) -> bytes:
    return bytes(line[:-1] if line.endswith(b"\r") else line)


def _is_unicode(value: str) -> bool:
    """False for a string with a lone surrogate (JSON may spell one, ``"\\ud800"``): it
    cannot be written as UTF-8, so it would break the chunk message and the part."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class IdSet:
    """Which record ids were seen, in 8 bytes per slot (open addressing on 64-bit hashes).
    The table doubles when half full: 2 to 4 slots per id (16 to 32 bytes), and while it
    doubles the old and new tables coexist (48 bytes per id).

    A Python set of the ids would cost about 100 bytes per record; this keeps the submit
    function's memory flat for multi-GB inputs. Two distinct ids colliding on all 64 bits
    (odds about n^2 / 2^65: 3e-5 for 25 million records) would report the later one as a
    duplicate; it is listed in errors.jsonl, never silently dropped.
    """

    def __init__(self, capacity: int = 1024) -> None:
        if capacity < 1 or capacity & (capacity - 1):
            raise ValueError(f"capacity must be a power of two, not {capacity}")
        self._slots = array("Q", [0]) * capacity  # no temporary bytes object
        self._mask = capacity - 1
        self._used = 0

    def __len__(self) -> int:
        return self._used

    def add(self, value: RecordId) -> bool:
        """Add ``value``; False if it was already there. ``1`` and ``"1"`` are distinct."""
        # Ints are hashed by their digits: hash() of an int is its value modulo 2**61 - 1
        # (and hash(-1) == hash(-2)), so ids such as -1 and -2 would always collide.
        key = ("str", value) if isinstance(value, str) else ("int", str(value))
        h = hash(key) & 0xFFFF_FFFF_FFFF_FFFF or 1
        slots, mask = self._slots, self._mask
        i = h & mask
        while slots[i]:
            if slots[i] == h:
                return False
            i = (i + 1) & mask
        slots[i] = h
        self._used += 1
        if self._used * 2 > len(slots):
            self._grow()
        return True

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("Q", [0]) * (2 * len(old))
        self._mask = len(self._slots) - 1
        for h in old:
            if h:
                i = h & self._mask
                while self._slots[i]:
                    i = (i + 1) & self._mask
                self._slots[i] = h


class RecordReader:
    """Turns an input stream into Records and LineErrors, in input order.

    ``count`` is the number of input records seen so far (every one is yielded exactly
    once, as a Record or a LineError); it is the job's line count at the end.
    """

    def __init__(
        self,
        fmt: str,
        *,
        max_line_bytes: int,
        max_text_chars: int,
        split_text_chars: int | None = None,
        max_records: int | None = None,
        keep_metadata: bool = False,
    ) -> None:
        """``split_text_chars``: the limit long_text=split would allow, named in the error
        of a text over ``max_text_chars`` (when it is higher). ``max_records``: JobInputError
        on the record after that many (LAMINA_BATCH_MAX_RECORDS), which bounds the
        duplicate-id set whatever the records' size."""
        if fmt not in FORMATS.values():
            raise JobInputError(f"unknown input format {fmt!r}")
        self.fmt = fmt
        self.max_line_bytes = max_line_bytes
        self.max_text_chars = max_text_chars
        self._hint = (
            f"; long_text=split accepts up to {split_text_chars}"
            if split_text_chars is not None and split_text_chars > max_text_chars
            else ""
        )
        self.count = 0
        self.max_records = max_records
        self.keep_metadata = keep_metadata
        self._ids = IdSet()

    def read(self, chunks: Iterable[bytes]) -> Iterator[Record | LineError]:
        lines = split_lines(chunks, self.max_line_bytes)
        items = self._csv(lines) if self.fmt == "csv" else self._lines(lines)
        for item in items:
            if self.max_records is not None and self.count >= self.max_records:
                raise JobInputError(
                    f"the input has more than {self.max_records} records "
                    "(LAMINA_BATCH_MAX_RECORDS): split it into smaller files"
                )
            self.count += 1
            # txt ids are line numbers: distinct by construction, no set needed
            if isinstance(item, Record) and self.fmt != "txt" and not self._ids.add(item.id):
                item = LineError(
                    item.line, "duplicate id: an earlier line has the same id", item.id
                )
            yield item

    # ---- one line, one record: jsonl and txt -------------------------------------------

    def _lines(self, lines: Iterator[bytes | None]) -> Iterator[Record | LineError]:
        for number, raw in enumerate(lines, start=1):
            text = self._decode(raw, number)
            if isinstance(text, LineError):
                yield text
            elif self.fmt == "txt":
                yield self._record(number, number, text)
            else:
                try:
                    item = self._json_record(number, text)
                except Exception as exc:  # whatever went wrong, it is this line's error
                    item = LineError(number, f"could not be read ({type(exc).__name__})")
                yield item

    def _decode(self, raw: bytes | None, number: int) -> str | LineError:
        if raw is None:
            return LineError(number, f"line is longer than {self.max_line_bytes} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return LineError(number, f"not valid UTF-8 (byte {exc.start})")
        return text.removeprefix("\ufeff") if number == 1 else text

    def _json_record(self, number: int, line: str) -> Record | LineError:
        if not line.strip():
            return LineError(number, "blank line")
        try:
            value = json.loads(line)
        except RecursionError:  # e.g. 90,000 "[": the parser gives up, the line is bad
            return LineError(number, "invalid JSON: nested too deeply")
        except ValueError as exc:
            return LineError(number, f"invalid JSON: {exc}")
        if not isinstance(value, dict):
            return LineError(number, f"expected a JSON object, got {type(value).__name__}")
        record_id = value.get("id")
        if record_id is None:
            return LineError(number, "missing id")
        if isinstance(record_id, bool) or not isinstance(record_id, str | int) or record_id == "":
            return LineError(number, "id must be a non-empty string or an integer")
        if isinstance(record_id, str) and not _is_unicode(record_id):
            return LineError(number, "id is not valid Unicode (a lone surrogate escape)")
        text = value.get("text")
        if text is None:
            return LineError(number, "missing text", record_id)
        if not isinstance(text, str):
            return LineError(number, f"text must be a string, got {type(text).__name__}", record_id)
        if not _is_unicode(text):
            return LineError(
                number, "text is not valid Unicode (a lone surrogate escape)", record_id
            )
        record = self._record(number, record_id, text)
        if self.keep_metadata and isinstance(record, Record):
            extra = {k: v for k, v in value.items() if k not in ("id", "text")}
            record = dataclasses.replace(record, metadata=extra)
        return record

    def _record(self, number: int, record_id: RecordId, text: str) -> Record | LineError:
        if not text.strip():
            return LineError(number, "empty text", record_id)
        if len(text) > self.max_text_chars:
            return LineError(
                number,
                f"text has {len(text)} characters (limit {self.max_text_chars}{self._hint})",
                record_id,
            )
        return Record(number, record_id, text)

    # ---- csv -----------------------------------------------------------------------------

    def _csv(self, lines: Iterator[bytes | None]) -> Iterator[Record | LineError]:
        source = _CsvLines(lines, self._decode, self.max_line_bytes)
        reader = csv.reader(source, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            if source.bad:
                raise JobInputError(f"CSV header (line 1): {source.bad[0].reason}") from None
            return
        except _RowTooLargeError as exc:
            raise JobInputError(f"CSV header: {exc}") from None
        except csv.Error as exc:
            raise JobInputError(f"CSV header is not valid CSV: {exc}") from exc
        bad = source.bad  # lines that never reach the csv parser
        yield from bad
        bad.clear()
        columns = [name.strip().lower() for name in header]
        if "id" not in columns or "text" not in columns:
            raise JobInputError(f"CSV header must name an id and a text column; it has {header}")
        id_at, text_at = columns.index("id"), columns.index("text")
        while True:
            source.first = None
            try:
                row = next(reader)
            except (csv.Error, _RowTooLargeError) as exc:
                start = source.first or source.physical
                yield from (error for error in bad if error.line < start)
                bad.clear()  # skipped lines inside the bad row are part of it
                source.skip_rest_of_row()
                reason = str(exc) if isinstance(exc, _RowTooLargeError) else f"invalid CSV: {exc}"
                yield LineError(start, reason)
                continue
            except StopIteration:
                break
            # A skipped line (invalid UTF-8, too long) before the row is not its start;
            # one inside a quoted multi-line field was cut out of the row: reject the row.
            start = source.first or source.physical
            inside = [error for error in bad if error.line > start]
            yield from (error for error in bad if error.line < start)
            bad.clear()
            if inside:
                yield LineError(start, f"line {inside[0].line} of this row: {inside[0].reason}")
            elif not row:
                yield LineError(start, "blank line")
            elif len(row) <= max(id_at, text_at):
                yield LineError(start, f"row has {len(row)} columns, the header has {len(header)}")
            elif not row[id_at].strip():
                yield LineError(start, "missing id")
            else:
                record = self._record(start, row[id_at], row[text_at])
                if self.keep_metadata and isinstance(record, Record):
                    extra = {
                        name: value
                        for at, (name, value) in enumerate(zip(columns, row, strict=False))
                        if at not in (id_at, text_at)
                    }
                    record = dataclasses.replace(record, metadata=extra)
                yield record
        yield from bad


class _RowTooLargeError(Exception):
    """The CSV row being read has more bytes than the limit (raised by ``_CsvLines``)."""


class _CsvLines:
    """The decoded physical lines of a CSV input, as the csv parser asks for them.

    A row's bytes (all its physical lines and the newlines between them) are counted as
    its lines arrive: the line that would take the row over ``max_row_bytes`` is not
    handed to the parser, ``_RowTooLargeError`` is raised instead (the parser starts a
    fresh row on its next read), and ``skip_rest_of_row`` drops the row's remaining lines.
    A class, not a generator: a generator that raises is finished.

    ``first`` is the line the current row started on (the reader sets it to None before
    each row); ``bad`` collects the lines that never reach the parser (invalid UTF-8, too
    long); ``physical`` counts the lines read.
    """

    def __init__(
        self,
        lines: Iterator[bytes | None],
        decode: Callable[[bytes | None, int], str | LineError],
        max_row_bytes: int,
    ) -> None:
        self._lines = lines
        self._decode = decode
        self._limit = max_row_bytes
        self.bad: list[LineError] = []
        self.physical = 0
        self.first: int | None = None
        self._row_bytes = 0
        self._quotes = 0  # quote characters of the current row so far
        self._skipping = False

    def __iter__(self) -> _CsvLines:
        return self

    def skip_rest_of_row(self) -> None:
        """After a row the parser gave up on (too large, invalid): if it is inside a quoted
        field (an odd number of quotes so far), the next reads drop lines until the line
        that closes it, so the rest of the field is not read as rows of its own."""
        self._skipping = self._quotes % 2 == 1

    def __next__(self) -> str:
        for raw in self._lines:
            self.physical += 1
            if self._skipping:
                self._quotes += raw.count(b'"') if raw is not None else 0
                self._skipping = self._quotes % 2 == 1
                continue
            text = self._decode(raw, self.physical)
            if isinstance(text, LineError):
                self.bad.append(text)
                continue
            assert raw is not None  # decoded
            if self.first is None:
                self.first = self.physical
                self._row_bytes, self._quotes = len(raw), 0
            else:
                self._row_bytes += 1 + len(raw)
            self._quotes += raw.count(b'"')
            if self._row_bytes > self._limit:
                raise _RowTooLargeError(
                    f"CSV row is longer than {self._limit} bytes"
                    f" (lines {self.first} to {self.physical} at least)"
                )
            return text + "\n"
        raise StopIteration
