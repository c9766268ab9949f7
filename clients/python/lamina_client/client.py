"""The synchronous client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, TypeVar, cast, overload

import httpx

from lamina_client import _core
from lamina_client._base import BaseClient
from lamina_client._core import OPENAPI, Call, Deadline, TopK
from lamina_client.errors import (
    BadRequestError,
    LaminaError,
    shift_texts_index,
)
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


class LaminaClient(BaseClient[httpx.Client]):
    """A client of the lamina API (one API Gateway URL serves every route).

    base_url: the API's URL, e.g. ``https://abc123.execute-api.eu-west-1.amazonaws.com``
        (with the stage's path for a REST API); locally ``http://127.0.0.1:8000``.
    classify_url: where ``classify`` and ``zero_shot`` go, if not ``base_url`` (locally the
        classify function is a server of its own: ``make serve-classify``).
    token: a JWT, or a callable returning one per request (ApiAuth=JWT).
    auth: any ``httpx.Auth``; ``SigV4Auth()`` for ApiAuth=IAM.
    connect_timeout, read_timeout: seconds, per attempt.
    deadline: seconds for a whole method call, all attempts and waits included (None: no
        deadline); an attempt's timeouts are cut to the time left.
    max_attempts: attempts per request (1: no retries). Retried: connection errors,
        timeouts, 429 and 5xx, after ``backoff_base * 2^(n-1)`` seconds at most (full
        jitter, capped at ``backoff_max``) or the server's Retry-After if longer; a 4xx
        other than 429 never.
    max_concurrency: concurrent sub-requests of one ``embed_batch`` (async client only).
    fallback: ``fallback(method_name, arguments, error)``, called when a call fails for a
        reason retries are for (connection, timeout, 429, 5xx) and retries did not help;
        what it returns is the call's result. Not called for a 4xx.
    limits: ``BatchLimits`` overriding the server's (its OpenAPI document, read once).
    headers: extra headers for every request.
    http_client: an ``httpx.Client`` to send with (custom transport, proxies); it is not
        closed by ``close()``.

    Use it as a context manager, or call ``close()``. It is safe to share between threads.
    """

    def _new_http(self) -> httpx.Client:
        return httpx.Client(follow_redirects=False)

    def close(self) -> None:
        """Close the connections (not an ``http_client`` that was passed in)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> LaminaClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- embeddings -----------------------------------------------------------------------

    def embed(
        self,
        text: str,
        *,
        model: str | None = None,
        input_type: InputType | None = None,
        normalize: bool = True,
    ) -> Embedding:
        """One text's embedding (``POST /api/v1/embed``). ``input_type``: "query" for a
        search query, "passage" for a stored text (the model's prompts, e.g. e5's)."""
        call = _core.embed_call(text, model, input_type, normalize)
        arguments = {"text": text, "model": model, "input_type": input_type, "normalize": normalize}
        return self._run("embed", arguments, lambda d: self._fetch(call, d, _core.parse_embedding))

    def embed_batch(
        self,
        texts: Iterable[str],
        *,
        model: str | None = None,
        input_type: InputType | None = None,
        normalize: bool = True,
    ) -> list[Embedding]:
        """Embeddings of any number of texts, in input order (``POST /api/v1/embed-batch``).

        The texts are sent in as few requests as the server's limits allow (most texts and
        most characters per request); a request the server finds over its token budget is
        split in two and sent again. A text longer than the server accepts is a
        ``BadRequestError`` naming its index (``texts[i]``) before any request; the
        server's errors name the caller's index too.
        """
        items = _core.as_texts(texts)
        arguments: dict[str, Any] = {"texts": items, "model": model, "input_type": input_type}
        arguments["normalize"] = normalize

        def work(deadline: Deadline) -> list[Embedding]:
            if not items:
                return []
            plan = _core.plan_batches(items, self._batch_limits(deadline))
            out: list[Embedding] = []
            for start, end in plan:
                out.extend(
                    self._embed_slice(items, start, end, model, input_type, normalize, deadline)
                )
            return out

        return self._run("embed_batch", arguments, work)

    def _embed_slice(
        self,
        texts: Sequence[str],
        start: int,
        end: int,
        model: str | None,
        input_type: InputType | None,
        normalize: bool,
        deadline: Deadline,
    ) -> list[Embedding]:
        call = _core.embed_batch_call(texts[start:end], model, input_type, normalize)
        try:
            vectors: list[Embedding] = self._fetch(call, deadline, _core.parse_embeddings)
        except BadRequestError as exc:
            if not _core.splittable(exc, start, end):
                raise shift_texts_index(exc, start) from None
            (a, b), (c, d) = _core.halves(start, end)
            first = self._embed_slice(texts, a, b, model, input_type, normalize, deadline)
            return first + self._embed_slice(texts, c, d, model, input_type, normalize, deadline)
        if len(vectors) != end - start:
            raise LaminaError(f"embed-batch answered {len(vectors)} vectors for {end - start}")
        return vectors

    def batch_limits(self) -> BatchLimits:
        """The limits ``embed_batch`` splits by (the server's, read once, and overrides)."""
        return self._run("batch_limits", {}, self._batch_limits)

    def _batch_limits(self, deadline: Deadline) -> BatchLimits:
        override = self._config.limits
        if override.complete:
            return override
        if self._shared.server_limits is None:
            document: Any = None
            error: LaminaError | None = None
            try:
                document = self._fetch(OPENAPI, deadline, lambda body: body)
            except BadRequestError as exc:  # no document here (404), refused (401/403)
                error = exc
            limits, keep = _core.limits_from(document, error)
            if not keep:
                return override.merged(limits)
            self._shared.server_limits = limits
        return override.merged(self._shared.server_limits)

    # --- search -----------------------------------------------------------------------------

    def search(
        self,
        collection: str,
        *,
        query: str | None = None,
        vector: Iterable[float] | None = None,
        top_k: int = 10,
        filter: Filter | None = None,
    ) -> SearchResults:
        """The stored items nearest a query text or a vector (exactly one), best first
        (``POST /api/v1/search``). ``filter``: metadata fields and the values they must
        equal. 404 ``collection_not_found``: ``NotFoundError``; 409 ``model_mismatch`` (a
        vector of another model's space): ``ConflictError``; 503 ``index_unavailable``
        (retried after Retry-After) or ``search_not_configured``:
        ``ServiceUnavailableError``."""
        call = _core.search_call(collection, query, vector, top_k, filter)
        arguments = {"collection": collection, "query": query, "vector": call.json.get("vector")}
        arguments.update(top_k=top_k, filter=filter)
        return self._run("search", arguments, lambda d: self._fetch(call, d, _core.parse_search))

    def recommend(
        self,
        collection: str,
        *,
        liked: Iterable[str],
        disliked: Iterable[str] = (),
        top_k: int = 10,
        exclude_seen: bool = True,
        filter: Filter | None = None,
    ) -> SearchResults:
        """Items like the ``liked`` ids (1 to 100) and unlike the ``disliked`` ones, best first
        (``POST /api/v1/recommend``); ``exclude_seen`` leaves out the ids given. Errors as
        ``search``."""
        call = _core.recommend_call(collection, liked, disliked, top_k, exclude_seen, filter)
        arguments = {key: call.json[key] for key in ("collection", "liked", "disliked")}
        arguments.update(top_k=top_k, exclude_seen=exclude_seen, filter=filter)
        return self._run("recommend", arguments, lambda d: self._fetch(call, d, _core.parse_search))

    # --- classification -----------------------------------------------------------------

    @overload
    def classify(self, texts_or_text: str, *, top_k: TopK = None) -> Classification: ...

    @overload
    def classify(
        self, texts_or_text: list[str] | tuple[str, ...], *, top_k: TopK = None
    ) -> list[Classification]: ...

    def classify(
        self, texts_or_text: str | list[str] | tuple[str, ...], *, top_k: TopK = None
    ) -> Classification | list[Classification]:
        """Labels of a text (a ``Classification``) or of a list of texts (one per text, in
        order; at most the server's batch limit) from the classify function
        (``POST /api/v1/classify``). ``top_k``: labels per text, most likely first; None:
        the server's default (5); "all": every label."""
        call = _core.classify_call(texts_or_text, top_k)
        one = isinstance(texts_or_text, str)
        arguments = {"texts_or_text": texts_or_text, "top_k": top_k}

        def work(deadline: Deadline) -> Classification | list[Classification]:
            results: list[Classification] = self._fetch(call, deadline, _core.parse_classify)
            return results[0] if one else results

        return self._run("classify", arguments, work)

    def zero_shot(
        self,
        text: str,
        labels: Iterable[str],
        *,
        hypothesis_template: str | None = None,
        multi_label: bool = False,
    ) -> ZeroShotResult:
        """Score ``labels`` (any words) for ``text`` by embedding similarity, best first
        (``POST /api/v1/classify/zero-shot``). ``hypothesis_template`` phrases a label
        (``"This text is about {}."``); ``multi_label`` scores each label on its own."""
        call = _core.zero_shot_call(text, labels, hypothesis_template, multi_label)
        arguments = {"text": text, "labels": call.json["labels"]}
        arguments.update(hypothesis_template=hypothesis_template, multi_label=multi_label)
        return self._run(
            "zero_shot", arguments, lambda d: self._fetch(call, d, _core.parse_zero_shot)
        )

    # --- batch jobs -------------------------------------------------------------------------

    def job(self, job_id: str) -> JobStatus:
        """A batch job's status and counts (``GET /api/v1/jobs/{job_id}``); 404:
        ``NotFoundError``."""
        call = _core.job_call(job_id)
        return self._run("job", {"job_id": job_id}, lambda d: self._fetch(call, d, _core.parse_job))

    # --- plumbing ---------------------------------------------------------------------------

    def _run(self, name: str, arguments: dict[str, Any], work: Callable[[Deadline], T]) -> T:
        """One method call: ``work`` within the deadline, else the fallback's answer."""
        try:
            return work(Deadline(self._config.deadline))
        except LaminaError as exc:
            if self._config.fallback is None or not exc.retryable:
                raise
            return cast(T, self._config.fallback(name, arguments, exc))

    def _fetch(self, call: Call, deadline: Deadline, parse: Callable[[Any], T]) -> T:
        """``call``'s answer, parsed, retried as the settings say."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return _core.parsing(call, parse)(self._attempt(call, deadline))
            except LaminaError as exc:
                wait = self._config.next_wait(exc, attempt, deadline)
                if wait is None:
                    raise
                time.sleep(wait)

    def _attempt(self, call: Call, deadline: Deadline) -> Any:
        request = self._http.build_request(
            call.method,
            self._config.url(call),
            json=call.json,
            headers=self._config.request_headers(),
            timeout=deadline.timeout(self._config),
        )
        try:
            response = self._http.send(request, stream=True, **self._send_options)
            try:
                chunks = []
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    if deadline.expired:  # a slow answer: each read has its own timeout
                        raise deadline.error()
            finally:
                response.close()
        except httpx.RequestError as exc:
            raise _core.transport_error(call, exc) from exc
        return _core.decode(call, response.status_code, response.headers, b"".join(chunks))
