"""Zero-shot classification: score any labels against a text by embedding similarity.

On the model lifecycle like every lamina model:
preprocess (phrase each label with the template; look its embedding up in the cache)
-> inference (embed the text and the labels the cache lacks)
-> postprocess (cosine similarities -> scores, highest first).

Single-label scores are a softmax over the similarities divided by a temperature, so they
sum to 1; multi-label scores are each label's similarity clipped to 0..1, one label at a
time (not probabilities: pick a threshold). The label cache keeps the embeddings of the
labels callers send for as long as the process lives (a warm Lambda container), bounded
in count and in bytes.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lamina.inference.lifecycle import InferenceModel
from lamina.models.manifest import Manifest

Encode = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, dim) unit vectors


@dataclass(frozen=True)
class ZeroShotRequest:
    text: str
    labels: Sequence[str]  # distinct
    multi_label: bool = False
    template: str = "{}"
    temperature: float = 0.05


@dataclass(frozen=True)
class ZeroShotScore:
    label: str
    score: float
    similarity: float


@dataclass(frozen=True)
class _Prepared:
    request: ZeroShotRequest
    phrases: list[str]
    cached: dict[str, np.ndarray]


@dataclass(frozen=True)
class _Embedded:
    request: ZeroShotRequest
    text: np.ndarray  # (dim,)
    labels: np.ndarray  # (n_labels, dim)


# The label cache's bound in bytes (phrases and vectors together): 4096 phrases of e.g. 384
# float32 dimensions and 100 characters are ~7 MiB, so the count binds first for usual labels
# and the bytes for long ones.
CACHE_BYTES = 32 * 1024 * 1024


def phrase(template: str, label: str) -> str:
    """A label as the template phrases it (every ``{}`` replaced by the label)."""
    return template.replace("{}", label)


def phrase_chars(template: str, label: str) -> int:
    """``len(phrase(template, label))``, without making the phrase."""
    return len(template) + template.count("{}") * (len(label) - 2)


def _entry_bytes(key: str, value: np.ndarray) -> int:
    return sys.getsizeof(key) + int(value.nbytes)


class LabelCache:
    """phrase -> embedding, least recently used out first; safe across threads.

    Bounded twice: at most ``size`` phrases and ``max_bytes`` bytes (each phrase's string
    and vector); a single entry larger than ``max_bytes`` is not kept at all.
    """

    def __init__(self, size: int = 4096, max_bytes: int = CACHE_BYTES) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        with self._lock:
            found: dict[str, np.ndarray] = {}
            for key in dict.fromkeys(keys):
                if key in self._items:
                    self._items.move_to_end(key)
                    found[key] = self._items[key]
                    self.hits += 1
                else:
                    self.misses += 1
            return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._lock:
            for key, value in items.items():
                size = _entry_bytes(key, value)
                if size > self.max_bytes:
                    continue
                old = self._items.pop(key, None)
                if old is not None:
                    self.bytes -= _entry_bytes(key, old)
                self._items[key] = value
                self.bytes += size
            while len(self._items) > self.size or self.bytes > self.max_bytes:
                key, value = self._items.popitem(last=False)
                self.bytes -= _entry_bytes(key, value)

    def __len__(self) -> int:
        return len(self._items)


class ZeroShotClassifier(
    InferenceModel[ZeroShotRequest, _Prepared, _Embedded, list[ZeroShotScore]]
):
    """Zero-shot on top of any sentence encoder (``encode``: texts -> unit vectors)."""

    def __init__(
        self,
        manifest: Manifest,
        encode: Encode,
        cache_size: int = 4096,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self.manifest = manifest
        self.encode = encode
        self.cache = LabelCache(cache_size, cache_bytes)

    def preprocess(self, request: ZeroShotRequest) -> _Prepared:
        phrases = [phrase(request.template, label) for label in request.labels]
        return _Prepared(request, phrases, self.cache.get_many(phrases))

    def inference(self, inputs: _Prepared) -> _Embedded:
        missing = [p for p in dict.fromkeys(inputs.phrases) if p not in inputs.cached]
        vectors = self.encode([inputs.request.text, *missing])
        fresh = dict(zip(missing, vectors[1:], strict=True))
        self.cache.put_many(fresh)
        by_phrase = {**inputs.cached, **fresh}
        labels = np.stack([by_phrase[p] for p in inputs.phrases])
        return _Embedded(inputs.request, vectors[0], labels)

    def postprocess(self, raw: _Embedded) -> list[ZeroShotScore]:
        # A NaN similarity (a degenerate vector) counts as 0: no NaN or inf ever leaves here.
        similarities = np.nan_to_num(
            (raw.labels @ raw.text).astype(np.float64), nan=0.0, posinf=1.0, neginf=-1.0
        )
        if raw.request.multi_label:
            scores = np.clip(similarities, 0.0, 1.0)
        else:
            scores = softmax(similarities, raw.request.temperature)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        return [
            ZeroShotScore(raw.request.labels[i], float(scores[i]), float(similarities[i]))
            for i in order
        ]


def softmax(values: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(values / temperature), safe for any finite values and positive temperature:
    the largest value is subtracted before dividing, so every exponent is <= 0 (no overflow;
    a tiny temperature gives -inf, whose exponent is 0) and the largest scores exp(0) = 1,
    so the sum is at least 1 (no 0/0)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, not {temperature}")
    with np.errstate(over="ignore", under="ignore"):  # -inf and 0 are the intended results
        exp = np.exp((values - values.max()) / temperature)
    result: np.ndarray = exp / exp.sum()
    return result
