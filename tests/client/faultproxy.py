"""A small HTTP/1.1 proxy that injects faults between a client and a server.

It runs an asyncio server in a thread of its own and forwards each request to ``upstream``,
unless a fault armed with ``inject`` matches it first: a fault applies to the next ``times``
requests whose path starts with ``path`` (any path if None), then the proxy passes them
through again. Every request it receives is recorded (``seen``), faulty or not.

Faults:
- ``drop``: read the request, close the connection without a byte of answer.
- ``cut``: forward the request, send the first half of the answer, close the connection.
- ``delay``: wait ``seconds`` before forwarding (a client's read timeout or deadline).
- ``status``: answer ``status`` itself (e.g. 503 with ``retry_after``, or 429), with
  ``body`` (API Gateway's ``{"message": ...}`` unless given).
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

FaultKind = Literal["drop", "cut", "delay", "status"]
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
HOP_BY_HOP |= {"content-encoding"}  # httpx hands over the decoded body
REASONS = {200: "OK", 404: "Not Found", 422: "Unprocessable Entity", 429: "Too Many Requests"}
REASONS |= {500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass
class Fault:
    kind: FaultKind
    times: int
    path: str | None = None
    seconds: float = 0.0
    status: int = 503
    retry_after: str | None = None
    body: bytes | None = None


@dataclass
class Seen:
    """A request as the proxy received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    fault: FaultKind | None = None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FaultProxy:
    upstream: str
    seen: list[Seen] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._upstream: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # connections being served
        self.url = ""
        self.in_flight = 0  # requests received and not yet answered
        self.max_in_flight = 0

    # --- control (from the test's thread) -------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int = 1,
        path: str | None = None,
        seconds: float = 0.0,
        status: int = 503,
        retry_after: str | None = None,
        body: Any = None,
    ) -> None:
        raw = (
            json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
        )
        with self._lock:
            self.faults.append(Fault(kind, times, path, seconds, status, retry_after, raw))

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.seen.clear()
            self.max_in_flight = 0

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """Requests received (on ``path`` exactly, with ``method``), faulty ones included."""
        with self._lock:
            return sum(
                1
                for s in self.seen
                if (path is None or s.path == path) and (method is None or s.method == method)
            )

    def requests(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == path]

    # --- the proxy (in its thread) --------------------------------------------------------

    async def _start(self) -> None:
        self._upstream = httpx.AsyncClient(base_url=self.upstream, timeout=60)
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        assert self._server is not None
        assert self._upstream is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()  # answers still delayed: the test is over
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._upstream.aclose()

    def _take(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Fault | None:
        with self._lock:
            fault = next(
                (
                    f
                    for f in self.faults
                    if f.times > 0 and (f.path is None or path.startswith(f.path))
                ),
                None,
            )
            if fault is not None:
                fault.times -= 1
            self.seen.append(Seen(method, path, headers, body, fault.kind if fault else None))
            return fault

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """One request and its answer; False when the connection is to be closed."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._handle(writer, method, target, headers, body)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _handle(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> bool:
        fault = self._take(method, target.split("?", 1)[0], headers, body)
        if fault is not None and fault.kind == "drop":
            return False
        if fault is not None and fault.kind == "status":
            payload = fault.body or json.dumps({"message": REASONS.get(fault.status, "")}).encode()
            extra = {"content-type": "application/json"}
            if fault.retry_after is not None:
                extra["retry-after"] = fault.retry_after
            await self._answer(writer, fault.status, extra, payload)
            return True
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
        assert self._upstream is not None
        forwarded = {k: v for k, v in headers.items() if k not in HOP_BY_HOP}
        response = await self._upstream.request(method, target, headers=forwarded, content=body)
        kept = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}
        if fault is not None and fault.kind == "cut":
            await self._answer(writer, response.status_code, kept, response.content, cut=True)
            return False
        await self._answer(writer, response.status_code, kept, response.content)
        return True

    @staticmethod
    async def _answer(
        writer: asyncio.StreamWriter,
        status: int,
        headers: dict[str, str],
        body: bytes,
        *,
        cut: bool = False,
    ) -> None:
        head = f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += f"content-length: {len(body)}\r\n\r\n"
        writer.write(head.encode("latin-1") + (body[: len(body) // 2] if cut else body))
        await writer.drain()
