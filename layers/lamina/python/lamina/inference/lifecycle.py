"""The one lifecycle every lamina model goes through (embedding, classifiers, any ONNX model).

    initialize (once per process: load, verify, warm up)
      -> preprocess  (request -> tensors: tokenize, decode an image, check a signature)
      -> inference   (ONNX Runtime runs)
      -> postprocess (tensors -> answer: pool and normalize, softmax and top-k, encode)

``InferenceModel.handle`` runs the three per-request stages in order, times each one and logs
the timings at DEBUG on the ``lamina.model`` logger; the API layer turns them into metrics
(``Telemetry.stages``). A new kind of model subclasses ``InferenceModel`` and implements the
three stages (docs/adding-a-model.md walks through one). Each stage returns a value the next
stage takes whole, so whatever postprocess needs from preprocess travels inside it.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from lamina.models.manifest import Manifest

log = logging.getLogger("lamina.model")

In = TypeVar("In")  # the request, as the model takes it
Pre = TypeVar("Pre")  # preprocess -> inference
Raw = TypeVar("Raw")  # inference -> postprocess
Out = TypeVar("Out")  # the answer


@dataclass(frozen=True)
class StageTimings:
    """Milliseconds spent in each stage of one call."""

    preprocess_ms: float = 0.0
    inference_ms: float = 0.0
    postprocess_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.inference_ms + self.postprocess_ms


@dataclass(frozen=True)
class Handled(Generic[Out]):
    """A model's answer and how long each stage took to make it."""

    output: Out
    timings: StageTimings


class InferenceModel(ABC, Generic[In, Pre, Raw, Out]):
    """One loaded model. Implementations are created once per process and reused.

    ``model_dir`` and ``manifest`` are the verified directory it was loaded from
    (``lamina.models.manifest.open_model_dir``); ``initialize`` is the usual constructor.
    """

    model_dir: Path
    manifest: Manifest

    @property
    def name(self) -> str:
        return self.manifest.name

    @abstractmethod
    def preprocess(self, request: In) -> Pre:
        """Check and convert the request into what ``inference`` feeds to the model."""

    @abstractmethod
    def inference(self, inputs: Pre) -> Raw:
        """Run the model."""

    @abstractmethod
    def postprocess(self, raw: Raw) -> Out:
        """Turn the model's outputs into the answer."""

    def handle(self, request: In) -> Handled[Out]:
        """preprocess -> inference -> postprocess, each stage timed."""
        t0 = time.perf_counter()
        inputs = self.preprocess(request)
        t1 = time.perf_counter()
        raw = self.inference(inputs)
        t2 = time.perf_counter()
        output = self.postprocess(raw)
        t3 = time.perf_counter()
        timings = StageTimings((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s: preprocess %.2f ms, inference %.2f ms, postprocess %.2f ms",
                self.name,
                timings.preprocess_ms,
                timings.inference_ms,
                timings.postprocess_ms,
            )
        return Handled(output, timings)
