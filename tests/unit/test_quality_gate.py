"""The quality gate's arithmetic (cosines, top-k overlap, thresholds) on hand-made vectors,
and the build refusing a variant that fails it (nothing written, a message saying why)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lamina.inference.embedder import OnnxEmbedder
from lamina.inference.pooling import row_cosines
from lamina.models.manifest import QualityReport, open_model_dir
from lamina_tools.cli import main
from lamina_tools.models import build
from lamina_tools.models.quality import (
    GateMetrics,
    GateThresholds,
    QualityGateError,
    enforce,
    failures,
    measure,
    nearest_neighbours,
    top_k_overlap,
)
from tests.conftest import ROOT

LOOSE = GateThresholds(min_texts=1, k=1)


def angles(*degrees: float) -> np.ndarray:
    """Unit vectors in the plane at these angles."""
    radians = np.radians(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1)


def metrics(mean: float, low: float, overlap: float, texts: int = 2000) -> GateMetrics:
    return GateMetrics(texts=texts, k=10, mean_cosine=mean, min_cosine=low, top_k_overlap=overlap)


# --- cosines and neighbours ------------------------------------------------------------------


def test_row_cosines_ignore_length_and_pair_rows_by_index() -> None:
    a = np.array([[3.0, 0.0], [0.0, 2.0]])
    b = np.array([[1.0, 1.0], [0.0, -5.0]])
    np.testing.assert_allclose(row_cosines(a, b), [np.sqrt(0.5), -1.0])


def test_nearest_neighbours_exclude_the_text_itself() -> None:
    vectors = angles(0, 10, 30, 100)
    near = nearest_neighbours(vectors, 1)[:, 0]
    assert near.tolist() == [1, 0, 1, 2]
    assert {frozenset(row) for row in nearest_neighbours(vectors, 2).tolist()} == {
        frozenset({1, 2}),
        frozenset({0, 2}),
        frozenset({0, 1}),
        frozenset({2, 1}),
    }


def test_top_k_overlap_counts_shared_neighbours() -> None:
    reference = angles(0, 10, 30, 100)
    # text 3 moves next to text 0: text 0's nearest becomes 3 (was 1), text 3's becomes 0
    # (was 2); texts 1 and 2 keep theirs (0 and 1).
    candidate = angles(0, 10, 30, -5)
    assert top_k_overlap(reference, reference, k=1) == 1.0
    assert top_k_overlap(candidate, reference, k=1) == pytest.approx(2 / 4)
    # k=2 for text 0: {1, 2} vs {3, 1} -> 1/2; text 1: {0, 2} vs {0, 3}... -> computed
    ours = nearest_neighbours(candidate, 2)
    theirs = nearest_neighbours(reference, 2)
    expected = np.mean([len(set(a) & set(b)) / 2 for a, b in zip(ours, theirs, strict=True)])
    assert top_k_overlap(candidate, reference, k=2) == pytest.approx(expected)
    assert top_k_overlap(candidate, reference, k=2) < 1.0


def test_overlap_is_one_for_any_rotation_and_scaling() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(50, 8))
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    scaled = (reference @ rotation) * rng.uniform(0.5, 2, size=(50, 1))
    assert top_k_overlap(scaled, reference @ rotation, k=10) == 1.0


def test_measure_reports_mean_min_and_overlap() -> None:
    reference = angles(0, 10, 30, 100)
    candidate = angles(0, 10, 30, 110)  # one text off by 10 degrees, neighbours unchanged
    got = measure(candidate, reference, k=1)
    assert got.texts == 4
    assert got.min_cosine == pytest.approx(np.cos(np.radians(10)))
    assert got.mean_cosine == pytest.approx((3 + np.cos(np.radians(10))) / 4)
    assert got.top_k_overlap == 1.0


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        top_k_overlap(np.ones((3, 2)), np.ones((4, 2)), k=1)
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbours(np.ones((3, 2)), 3)


# --- thresholds ------------------------------------------------------------------------------


def test_exactly_at_the_thresholds_passes() -> None:
    assert failures(metrics(0.995, 0.98, 0.95)) == []
    enforce("int8", metrics(0.995, 0.98, 0.95))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((0.9949, 0.99, 0.99), "mean cosine 0.994900 < 0.995 (short by 0.000100)"),
        ((0.999, 0.9799, 0.99), "min cosine 0.979900 < 0.98 (short by 0.000100)"),
        ((0.999, 0.99, 0.9499), "top-10 overlap 0.949900 < 0.95 (short by 0.000100)"),
    ],
)
def test_just_below_a_threshold_fails_naming_it(
    values: tuple[float, float, float], expected: str
) -> None:
    assert failures(metrics(*values)) == [expected]
    with pytest.raises(QualityGateError, match="variant int8 failed") as caught:
        enforce("int8", metrics(*values))
    assert expected in caught.value.message


def test_every_missed_threshold_is_listed() -> None:
    missed = failures(metrics(0.99, 0.96, 0.9, texts=1999))
    assert len(missed) == 4
    assert missed[0] == "only 1999 texts compared, the gate needs 2000"


def test_injected_thresholds_apply() -> None:
    strict = GateThresholds(mean_cosine=0.9999, min_cosine=0.999, top_k_overlap=1.0)
    assert len(failures(metrics(0.999, 0.99, 0.99), strict)) == 3


# --- the manifest keeps old quality reports loading --------------------------------------------


def test_quality_report_without_new_fields_still_loads() -> None:
    old = QualityReport.model_validate(
        {"reference": "st", "corpus_size": 46, "mean_cosine": 0.99, "min_cosine": 0.96}
    )
    assert old.top10_overlap is None
    assert old.baseline is None


# --- the build refuses a failing variant ------------------------------------------------------


def _fake_vectors(seed: int, n: int = 60) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 16)).astype(np.float32)


def test_gate_variant_refuses_and_leaves_nothing(tmp_path: Path) -> None:
    """gate_variant runs before the staging directory is renamed; a failure removes it."""
    staging = tmp_path / ".int8.partial"
    staging.mkdir()
    (staging / "model.onnx").write_bytes(b"graph")
    reference = _fake_vectors(1)
    degraded = reference + _fake_vectors(2) * 0.5  # far from the reference

    with pytest.raises(QualityGateError, match=r"variant int8 failed.*mean cosine"):
        build.gate_variant("int8", staging, degraded, reference, reference, thresholds=LOOSE)
    assert not staging.exists()
    assert list(tmp_path.iterdir()) == []


def test_gate_variant_passes_and_reports_both_references(tmp_path: Path) -> None:
    staging = tmp_path / ".fp32.partial"
    staging.mkdir()
    reference = _fake_vectors(1)
    report = build.gate_variant(
        "fp32", staging, reference, reference, reference * 2, thresholds=LOOSE
    )
    assert staging.is_dir()
    assert report.mean_cosine == pytest.approx(1.0)
    assert report.top10_overlap == pytest.approx(1.0)
    assert report.baseline is not None
    assert report.baseline.mean_cosine == pytest.approx(1.0)
    assert report.corpus_size == 60


BUILT_FP32 = ROOT / "build" / "models" / "all-MiniLM-L6-v2" / "fp32"


@pytest.fixture
def quick_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The real build on 200 texts, with export + fusion replaced by a copy of the built
    fp32 graph (no torch): quantization, staging, gate and manifest run for real."""
    if not (BUILT_FP32 / "model.onnx").is_file():
        pytest.fail("the embedding model is not built: run `make models`")

    def copy_fp32(raw: Path, target: Path, config: object) -> None:
        shutil.copyfile(BUILT_FP32 / "model.onnx", target)
        shutil.copyfile(BUILT_FP32 / "model.onnx.data", target.with_name("model.onnx.data"))

    monkeypatch.setattr(build, "export_onnx", lambda source, target: None)
    monkeypatch.setattr(build, "optimize_fp32", copy_fp32)
    monkeypatch.setattr(build, "GATE_CORPUS_SIZE", 200)
    monkeypatch.setattr(build, "CALIBRATION_SIZE", 64)
    output = tmp_path / "out"
    output.mkdir()
    return output


def test_cli_build_refuses_a_failing_variant(
    quick_build: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A gate nothing can pass (top-10 overlap > 1): exit 1, the message, no directory
    (a stale one from an earlier build is removed), the refusal in build-report.json."""
    monkeypatch.setattr(build, "GATE", GateThresholds(top_k_overlap=1.01, min_texts=1))
    stale = quick_build / "int8"
    stale.mkdir()
    (stale / "manifest.json").write_text("{}")

    code = main(["models", "build", "--variant", "int8", "--output", str(quick_build)])

    err = capsys.readouterr().err
    assert code == 1
    assert "lamina: error: variant int8 failed the quality gate" in err
    assert "top-10 overlap" in err
    assert "< 1.01 (short by" in err
    assert [p.name for p in quick_build.iterdir()] == [build.BUILD_REPORT]
    report = build.read_build_report(quick_build)
    assert report["variants"]["int8"]["passed"] is False
    assert "top-10 overlap" in report["variants"]["int8"]["reason"]
    assert "int8 GEMM:" in report["cpu"]
    assert main(["models", "pick", str(quick_build)]) == 1
    assert "no variant of" in capsys.readouterr().err


def test_cli_build_writes_a_passing_variant_with_its_numbers(
    quick_build: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(build, "GATE", GateThresholds(min_texts=200))
    # sentence-transformers stand-in (no torch): fp32 vectors with a little noise
    rng = np.random.default_rng(0)

    def fake_st(source: Path, texts: list[str]) -> np.ndarray:
        vectors = OnnxEmbedder.load(BUILT_FP32, warmup=False).embed(texts).vectors
        noisy: np.ndarray = vectors + rng.normal(scale=1e-3, size=vectors.shape)
        return noisy.astype(np.float32)

    monkeypatch.setattr(build, "sentence_transformers_vectors", fake_st)

    code = main(["models", "build", "--variant", "int8", "--output", str(quick_build)])

    out = capsys.readouterr().out
    assert code == 0
    assert sorted(p.name for p in quick_build.iterdir()) == [build.BUILD_REPORT, "int8"]
    manifest = open_model_dir(quick_build / "int8")
    quality = manifest.quality
    assert quality is not None
    assert quality.corpus_size == 200
    assert quality.reference == "lamina fp32 ONNX model of this build"
    assert quality.top10_overlap is not None
    assert quality.top10_overlap >= 0.95
    assert quality.min_cosine >= 0.98
    assert quality.baseline is not None
    assert quality.baseline.reference.startswith("sentence-transformers")
    assert manifest.quantization.startswith("w7a8-per-token")
    fidelity = manifest.fidelity
    assert fidelity is not None
    assert fidelity.texts == list(build.FIDELITY_TEXTS)
    assert fidelity.reference(384).shape == (len(build.FIDELITY_TEXTS), 384)
    assert "int8 GEMM:" in fidelity.built_on
    # `lamina models pick` serves it
    capsys.readouterr()
    assert main(["models", "pick", str(quick_build)]) == 0
    picked = capsys.readouterr()
    assert picked.out.strip() == str(quick_build / "int8")
    assert "serving int8: passed the quality gate on this machine" in picked.err
    assert "(fp32 not served" not in picked.err  # int8 comes first
    assert "passed the quality gate on 200 texts: mean cosine >= 0.995" in out
    assert f"top-10 overlap {quality.top10_overlap:.4f}" in out


def _built(output: Path, variant: str) -> build.BuiltModel:
    directory = output / variant
    directory.mkdir()
    (directory / "manifest.json").write_text("{}")
    return build.BuiltModel(variant=variant, path=directory, manifest=None)  # type: ignore[arg-type]


def test_pick_serves_fp32_and_says_why_when_int8_failed_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's `make serve` on a machine where int8 failed its gate: fp32, and why."""
    reason = "variant int8 failed the quality gate against the fp32 reference: min cosine"
    build.write_build_report(
        tmp_path, [_built(tmp_path, "fp32")], [build.FailedVariant("int8", reason)]
    )
    path, why = build.pick_variant(tmp_path)
    assert path == tmp_path / "fp32"
    assert why.startswith("fp32: passed the quality gate on this machine")
    assert f"int8 not served: {reason}" in why

    assert main(["models", "pick", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == str(tmp_path / "fp32")
    assert "int8 not served" in out.err
    # asked for int8 explicitly: refused, exit 1, the reason
    assert main(["models", "pick", str(tmp_path), "--prefer", "int8"]) == 1
    assert "no variant of" in capsys.readouterr().err


def test_build_report_keeps_variants_of_earlier_builds(tmp_path: Path) -> None:
    build.write_build_report(tmp_path, [_built(tmp_path, "fp32")], [])
    build.write_build_report(tmp_path, [_built(tmp_path, "int8")], [])
    variants = build.read_build_report(tmp_path)["variants"]
    assert variants == {
        "fp32": {"passed": True, "path": "fp32"},
        "int8": {"passed": True, "path": "int8"},
    }
    assert build.pick_variant(tmp_path)[0] == tmp_path / "int8"


def test_pick_without_a_build_says_so(tmp_path: Path) -> None:
    with pytest.raises(QualityGateError, match="int8 not served: not built; fp32 not served"):
        build.pick_variant(tmp_path)
