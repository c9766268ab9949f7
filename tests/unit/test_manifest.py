from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from lamina.errors import ModelLoadError
from lamina.models.manifest import (
    Manifest,
    open_model_dir,
)
from tests.factories import make_model_dir


def make_dir(root: Path) -> Manifest:
    return make_model_dir(
        root,
        {"model.onnx": b"\x08\x07onnx-bytes" * 100, "tokenizer.json": b'{"model": {}}'},
    )


def test_round_trip(tmp_path: Path) -> None:
    written = make_dir(tmp_path / "m")
    assert open_model_dir(tmp_path / "m") == written
    assert not list((tmp_path / "m").glob("*.tmp"))


def test_tampered_file_is_refused(tmp_path: Path) -> None:
    make_dir(tmp_path / "m")
    path = tmp_path / "m" / "model.onnx"
    data = bytearray(path.read_bytes())
    data[5] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="sha256"):
        open_model_dir(tmp_path / "m")
    # Without verification only sizes are checked, and they match.
    open_model_dir(tmp_path / "m", verify=False)


def test_truncated_file_is_refused_even_without_verification(tmp_path: Path) -> None:
    make_dir(tmp_path / "m")
    path = tmp_path / "m" / "model.onnx"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ModelLoadError, match="bytes"):
        open_model_dir(tmp_path / "m", verify=False)


def test_missing_file_and_missing_manifest(tmp_path: Path) -> None:
    make_dir(tmp_path / "m")
    (tmp_path / "m" / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        open_model_dir(tmp_path / "m")
    (tmp_path / "m" / "manifest.json").unlink()
    with pytest.raises(ModelLoadError, match=r"no manifest\.json"):
        open_model_dir(tmp_path / "m")
    with pytest.raises(ModelLoadError, match="does not exist"):
        open_model_dir(tmp_path / "nowhere")


def test_invalid_manifest(tmp_path: Path) -> None:
    make_dir(tmp_path / "m")
    (tmp_path / "m" / "manifest.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        open_model_dir(tmp_path / "m")
    (tmp_path / "m" / "manifest.json").write_text('{"name": "m"}')
    with pytest.raises(ModelLoadError, match="not a valid lamina manifest"):
        open_model_dir(tmp_path / "m")


def test_fidelity_check_round_trips_vectors_and_picks_the_tolerance() -> None:
    from lamina.models.manifest import FidelityCheck

    vectors = np.random.default_rng(0).normal(size=(2, 8)).astype(np.float32)
    check = FidelityCheck(
        texts=["a", "b"],
        vectors=[FidelityCheck.encode(v) for v in vectors],
        min_cosine=0.9999,
        min_cosine_other_machine=0.995,
        machine="x86_64",
        built_on="x86_64 test",
    )
    np.testing.assert_array_equal(check.reference(8), vectors)
    assert check.tolerance("x86_64") == 0.9999
    assert check.tolerance("aarch64") == 0.995
    with pytest.raises(ModelLoadError, match="must each have 16 values"):
        check.reference(16)
    with pytest.raises(ValidationError, match="2 texts but 1 vectors"):
        FidelityCheck(texts=["a", "b"], vectors=check.vectors[:1], min_cosine=0.9, built_on="x")
