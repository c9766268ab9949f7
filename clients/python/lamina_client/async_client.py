"""The asyncio client: ``LaminaClient``'s methods, awaited."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from types import TracebackType
from typing import Any, TypeVar, cast, overload

import httpx

from lamina_client import _core
from lamina_client._base import BaseClient
from lamina_client._core import OPENAPI, Call, Deadline, TopK
from lamina_client.errors import BadRequestError, LaminaError, shift_texts_index
from lamina_client.types import (
    BatchLimits,
    Classification,
    Embedding,
    Filter,
    InputType,
    JobStatus,
    SearchResults,
    ZeroShotResult,
)

T = TypeVar("T")


class AsyncLaminaClient(BaseClient[httpx.AsyncClient]):
    """The asyncio twin of ``LaminaClient`` (same parameters, same methods, awaited).

    ``embed_batch`` sends up to ``max_concurrency`` (default 4) of its requests at once.
    The deadline bounds each attempt exactly (``asyncio.timeout``). ``fallback`` may be a
    coroutine function. Use it as an async context manager, or call ``aclose()``.
    """

    def _new_http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(follow_redirects=False)

    async def aclose(self) -> None:
        """Close the connections (not an ``http_client`` that was passed in)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncLaminaClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- embeddings -----------------------------------------------------------------------

    async def embed(
        self,
        text: str,
        *,
        model: str | None = None,
        input_type: InputType | None = None,
        normalize: bool = True,
    ) -> Embedding:
        """See ``LaminaClient.embed``."""
        call = _core.embed_call(text, model, input_type, normalize)
        arguments = {"text": text, "model": model, "input_type": input_type, "normalize": normalize}
        return await self._run(
            "embed", arguments, lambda d: self._fetch(call, d, _core.parse_embedding)
        )

    async def embed_batch(
        self,
        texts: Iterable[str],
        *,
        model: str | None = None,
        input_type: InputType | None = None,
        normalize: bool = True,
    ) -> list[Embedding]:
        """See ``LaminaClient.embed_batch``; up to ``max_concurrency`` requests at once."""
        items = _core.as_texts(texts)
        arguments: dict[str, Any] = {"texts": items, "model": model, "input_type": input_type}
        arguments["normalize"] = normalize

        async def work(deadline: Deadline) -> list[Embedding]:
            if not items:
                return []
            plan = _core.plan_batches(items, await self._batch_limits(deadline))
            slots = asyncio.Semaphore(self._config.max_concurrency)
            parts = await _gather(
                [
                    self._embed_slice(
                        items, start, end, model, input_type, normalize, deadline, slots
                    )
                    for start, end in plan
                ]
            )
            return [vector for part in parts for vector in part]

        return await self._run("embed_batch", arguments, work)

    async def _embed_slice(
        self,
        texts: Sequence[str],
        start: int,
        end: int,
        model: str | None,
        input_type: InputType | None,
        normalize: bool,
        deadline: Deadline,
        slots: asyncio.Semaphore,
    ) -> list[Embedding]:
        call = _core.embed_batch_call(texts[start:end], model, input_type, normalize)
        try:
            async with slots:
                vectors: list[Embedding] = await self._fetch(call, deadline, _core.parse_embeddings)
        except BadRequestError as exc:
            if not _core.splittable(exc, start, end):
                raise shift_texts_index(exc, start) from None
            parts = await _gather(
                [
                    self._embed_slice(texts, a, b, model, input_type, normalize, deadline, slots)
                    for a, b in _core.halves(start, end)
                ]
            )
            return parts[0] + parts[1]
        if len(vectors) != end - start:
            raise LaminaError(f"embed-batch answered {len(vectors)} vectors for {end - start}")
        return vectors

    async def batch_limits(self) -> BatchLimits:
        """See ``LaminaClient.batch_limits``."""
        return await self._run("batch_limits", {}, self._batch_limits)

    async def _batch_limits(self, deadline: Deadline) -> BatchLimits:
        override = self._config.limits
        if override.complete:
            return override
        if self._shared.server_limits is None:
            document: Any = None
            error: LaminaError | None = None
            try:
                document = await self._fetch(OPENAPI, deadline, lambda body: body)
            except BadRequestError as exc:
                error = exc
            limits, keep = _core.limits_from(document, error)
            if not keep:
                return override.merged(limits)
            self._shared.server_limits = limits
        return override.merged(self._shared.server_limits)

    # --- search -----------------------------------------------------------------------------

    async def search(
        self,
        collection: str,
        *,
        query: str | None = None,
        vector: Iterable[float] | None = None,
        top_k: int = 10,
        filter: Filter | None = None,
    ) -> SearchResults:
        """See ``LaminaClient.search``."""
        call = _core.search_call(collection, query, vector, top_k, filter)
        arguments = {"collection": collection, "query": query, "vector": call.json.get("vector")}
        arguments.update(top_k=top_k, filter=filter)
        return await self._run(
            "search", arguments, lambda d: self._fetch(call, d, _core.parse_search)
        )

    async def recommend(
        self,
        collection: str,
        *,
        liked: Iterable[str],
        disliked: Iterable[str] = (),
        top_k: int = 10,
        exclude_seen: bool = True,
        filter: Filter | None = None,
    ) -> SearchResults:
        """See ``LaminaClient.recommend``."""
        call = _core.recommend_call(collection, liked, disliked, top_k, exclude_seen, filter)
        arguments = {key: call.json[key] for key in ("collection", "liked", "disliked")}
        arguments.update(top_k=top_k, exclude_seen=exclude_seen, filter=filter)
        return await self._run(
            "recommend", arguments, lambda d: self._fetch(call, d, _core.parse_search)
        )

    # --- classification -----------------------------------------------------------------

    @overload
    async def classify(self, texts_or_text: str, *, top_k: TopK = None) -> Classification: ...

    @overload
    async def classify(
        self, texts_or_text: list[str] | tuple[str, ...], *, top_k: TopK = None
    ) -> list[Classification]: ...

    async def classify(
        self, texts_or_text: str | list[str] | tuple[str, ...], *, top_k: TopK = None
    ) -> Classification | list[Classification]:
        """See ``LaminaClient.classify``."""
        call = _core.classify_call(texts_or_text, top_k)
        one = isinstance(texts_or_text, str)
        arguments = {"texts_or_text": texts_or_text, "top_k": top_k}

        async def work(deadline: Deadline) -> Classification | list[Classification]:
            results: list[Classification] = await self._fetch(call, deadline, _core.parse_classify)
            return results[0] if one else results

        return await self._run("classify", arguments, work)

    async def zero_shot(
        self,
        text: str,
        labels: Iterable[str],
        *,
        hypothesis_template: str | None = None,
        multi_label: bool = False,
    ) -> ZeroShotResult:
        """See ``LaminaClient.zero_shot``."""
        call = _core.zero_shot_call(text, labels, hypothesis_template, multi_label)
        arguments = {"text": text, "labels": call.json["labels"]}
        arguments.update(hypothesis_template=hypothesis_template, multi_label=multi_label)
        return await self._run(
            "zero_shot", arguments, lambda d: self._fetch(call, d, _core.parse_zero_shot)
        )

    # --- batch jobs -------------------------------------------------------------------------

    async def job(self, job_id: str) -> JobStatus:
        """See ``LaminaClient.job``."""
        call = _core.job_call(job_id)
        return await self._run(
            "job", {"job_id": job_id}, lambda d: self._fetch(call, d, _core.parse_job)
        )

    # --- plumbing ---------------------------------------------------------------------------

    async def _run(
        self, name: str, arguments: dict[str, Any], work: Callable[[Deadline], Awaitable[T]]
    ) -> T:
        try:
            return await work(Deadline(self._config.deadline))
        except LaminaError as exc:
            if self._config.fallback is None or not exc.retryable:
                raise
            answer = self._config.fallback(name, arguments, exc)
            if inspect.isawaitable(answer):
                answer = await answer
            return cast(T, answer)

    async def _fetch(self, call: Call, deadline: Deadline, parse: Callable[[Any], T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return _core.parsing(call, parse)(await self._attempt(call, deadline))
            except LaminaError as exc:
                wait = self._config.next_wait(exc, attempt, deadline)
                if wait is None:
                    raise
                await asyncio.sleep(wait)

    async def _attempt(self, call: Call, deadline: Deadline) -> Any:
        request = self._http.build_request(
            call.method,
            self._config.url(call),
            json=call.json,
            headers=self._config.request_headers(),
            timeout=deadline.timeout(self._config),
        )
        try:
            async with asyncio.timeout(deadline.remaining()):
                response = await self._http.send(request, **self._send_options)
        except TimeoutError:
            raise deadline.error() from None
        except httpx.RequestError as exc:
            raise _core.transport_error(call, exc) from exc
        return _core.decode(call, response.status_code, response.headers, response.content)


async def _gather(coroutines: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run ``coroutines`` together; the first failure cancels the others and is raised
    (itself, not an ExceptionGroup)."""
    if len(coroutines) == 1:
        return [await coroutines[0]]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coroutine) for coroutine in coroutines]
    except BaseExceptionGroup as failed:
        raise _first(failed) from None
    return [task.result() for task in tasks]


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a group (a LaminaError if there is one), however nested."""
    leaves: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            leaves.append(error)

    walk(group)
    return next((e for e in leaves if isinstance(e, LaminaError)), leaves[0])
