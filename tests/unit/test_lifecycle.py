"""The model lifecycle (initialize -> preprocess -> inference -> postprocess), manifest
tasks, the shared top-k postprocess and zero-shot scoring, on small stand-ins: no model."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from pydantic import ValidationError

from lamina.errors import ModelLoadError
from lamina.inference.labels import top_k
from lamina.inference.lifecycle import InferenceModel
from lamina.inference.zeroshot import LabelCache, ZeroShotClassifier, ZeroShotRequest
from lamina.models.manifest import Manifest, SourceInfo, read_labels
from tests.factories import make_model_dir

SOURCE = SourceInfo(model_id="x/y", package="p", package_version="1", license="MIT")


def manifest(**fields: Any) -> Manifest:
    base: dict[str, Any] = {
        "name": "m",
        "version": "1",
        "variant": "fp32",
        "quantization": "none",
        "opset": 17,
        "source": SOURCE,
        "files": [],
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    return Manifest(**{**base, **fields})


class Doubler(InferenceModel[list[int], np.ndarray, np.ndarray, list[int]]):
    """A handler that records the order of its stages and sleeps in inference."""

    def __init__(self) -> None:
        self.manifest = manifest(task="generic")
        self.calls: list[str] = []

    def preprocess(self, request: list[int]) -> np.ndarray:
        self.calls.append("preprocess")
        return np.asarray(request)

    def inference(self, inputs: np.ndarray) -> np.ndarray:
        self.calls.append("inference")
        time.sleep(0.02)
        return inputs * 2

    def postprocess(self, raw: np.ndarray) -> list[int]:
        self.calls.append("postprocess")
        return [int(x) for x in raw]


def test_handle_runs_the_stages_in_order_and_times_each(caplog: pytest.LogCaptureFixture) -> None:
    handler = Doubler()
    with caplog.at_level(logging.DEBUG, logger="lamina.model"):
        handled = handler.handle([1, 2, 3])
    assert handled.output == [2, 4, 6]
    assert handler.calls == ["preprocess", "inference", "postprocess"]
    assert handled.timings.inference_ms >= 15
    assert handled.timings.preprocess_ms < handled.timings.inference_ms
    assert handled.timings.total_ms == pytest.approx(
        handled.timings.preprocess_ms
        + handled.timings.inference_ms
        + handled.timings.postprocess_ms
    )
    assert any("m: preprocess" in r.getMessage() for r in caplog.records)


def test_a_failing_stage_stops_the_call() -> None:
    handler = Doubler()
    with pytest.raises(TypeError):
        handler.handle(["not", "numbers"])  # type: ignore[list-item]
    assert handler.calls == ["preprocess", "inference"]


# --- manifests per task -----------------------------------------------------------------


def test_each_task_requires_its_fields() -> None:
    with pytest.raises(ValidationError, match="embedding model needs"):
        manifest(task="embedding")
    with pytest.raises(ValidationError, match="labels_file"):
        manifest(task="text-classification", max_seq_length=8, tokenizer_file="t.json")
    with pytest.raises(ValidationError, match="image"):
        manifest(task="image-classification", labels_file="labels.json")
    assert manifest(task="generic").required_files == ["model.onnx"]


def test_old_embedding_manifests_still_name_their_tokenizer() -> None:
    old = manifest(embedding_dim=4, max_seq_length=8, pooling="mean", normalize=True)
    assert old.task == "embedding"
    assert old.tokenizer_file == "tokenizer.json"
    assert old.text_spec().max_seq_length == 8
    with pytest.raises(ModelLoadError, match="not a text model"):
        manifest(task="generic").text_spec()


def test_labels_are_read_and_checked(tmp_path: Path) -> None:
    m = make_model_dir(tmp_path / "ok", {"model.onnx": b"x", "labels.json": b'["a", "b"]'})
    m = m.model_copy(update={"labels_file": "labels.json"})
    assert read_labels(tmp_path / "ok", m) == ["a", "b"]
    for bad in (b"[]", b'["a", "a"]', b'{"a": 1}', b"[1, 2]", b"not json"):
        (tmp_path / "ok" / "labels.json").write_bytes(bad)
        with pytest.raises(ModelLoadError):
            read_labels(tmp_path / "ok", m)
    with pytest.raises(ModelLoadError, match="no labels_file"):
        read_labels(tmp_path / "ok", m.model_copy(update={"labels_file": None}))


# --- top-k ------------------------------------------------------------------------------


def test_top_k_sorts_and_cuts() -> None:
    probabilities = np.array([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25]])
    rows = top_k(probabilities, ["a", "b", "c"], 2)
    assert [[x.label for x in row] for row in rows] == [["b", "c"], ["a", "b"]]
    assert rows[0][0].confidence == pytest.approx(0.6)
    everything = top_k(probabilities, ["a", "b", "c"], None)
    assert all(len(row) == 3 for row in everything)
    assert sum(x.confidence for x in everything[1]) == pytest.approx(1.0)
    assert len(top_k(probabilities, ["a", "b", "c"], 99)[0]) == 3  # capped at the labels
    with pytest.raises(ValueError, match="do not match"):
        top_k(probabilities, ["a", "b"], 1)


# --- zero-shot --------------------------------------------------------------------------


class CountingEncoder:
    """Unit vectors by hand: 'x' is along x, 'y' along y, anything else along z."""

    AXES: ClassVar[dict[str, list[float]]] = {"x": [1.0, 0.0, 0.0], "y": [0.0, 1.0, 0.0]}

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        rows = []
        for text in texts:
            key = text.split()[-1].strip(".")
            rows.append(self.AXES.get(key, [0.0, 0.0, 1.0]))
        return np.asarray(rows, dtype=np.float32)


def test_zero_shot_single_label_is_a_softmax_over_similarities() -> None:
    encoder = CountingEncoder()
    model = ZeroShotClassifier(manifest(task="generic"), encoder)
    out = model.handle(ZeroShotRequest("about x", ["x", "y", "z"])).output
    assert [s.label for s in out] == ["x", "y", "z"]  # y and z tie: request order
    assert sum(s.score for s in out) == pytest.approx(1.0)
    assert out[0].similarity == pytest.approx(1.0)
    assert out[1].similarity == pytest.approx(0.0)
    # exp(1/0.05) / (exp(1/0.05) + 2): the temperature sharpens the softmax.
    assert out[0].score == pytest.approx(np.exp(20) / (np.exp(20) + 2))


def test_zero_shot_multi_label_scores_each_label_alone() -> None:
    model = ZeroShotClassifier(manifest(task="generic"), CountingEncoder())
    out = model.handle(ZeroShotRequest("about x", ["y", "x"], multi_label=True)).output
    assert [(s.label, s.score) for s in out] == [("x", 1.0), ("y", 0.0)]


def test_zero_shot_caches_label_embeddings_between_calls() -> None:
    encoder = CountingEncoder()
    model = ZeroShotClassifier(manifest(task="generic"), encoder)
    model.handle(ZeroShotRequest("first x", ["x", "y"], template="It is {}."))
    assert encoder.seen == ["first x", "It is x.", "It is y."]
    encoder.seen.clear()
    model.handle(ZeroShotRequest("second y", ["y", "x", "w"], template="It is {}."))
    assert encoder.seen == ["second y", "It is w."]  # only the new label is embedded
    assert (model.cache.hits, model.cache.misses) == (2, 3)


def test_label_cache_evicts_the_least_recently_used() -> None:
    cache = LabelCache(size=2)
    cache.put_many({"a": np.zeros(1), "b": np.ones(1)})
    cache.get_many(["a"])  # a is now the most recent
    cache.put_many({"c": np.ones(1)})
    assert set(cache.get_many(["a", "b", "c"])) == {"a", "c"}
    assert len(cache) == 2


def test_labels_file_round_trips_as_json(tmp_path: Path) -> None:
    labels = ["translate", "oos", "follow_up"]
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    m = manifest(task="generic", labels_file="labels.json")
    assert read_labels(tmp_path, m) == labels
