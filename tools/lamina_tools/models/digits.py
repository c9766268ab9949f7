"""Build the digits-classifier: handwritten digits 0-9 from 8x8 greyscale images.

Build-time only (scikit-learn, skl2onnx, onnx). The data ships inside scikit-learn
(``sklearn.datasets.load_digits``: 1,797 digits, 8x8 values 0..16, 16 = full ink), so
nothing is downloaded. Steps:

1. a stratified 80/20 split with a fixed seed (``held_out_split``: the tests use it too);
2. a few small candidates, each scored by 5-fold cross-validation on the training part and
   converted to ONNX (``pixels`` float (n, 64) -> ``label``, ``probabilities`` (n, 10));
   the best cross-validated one that converts is kept. It is chosen on the training part
   alone, so the held-out accuracy reported for it is not a number it was picked for;
3. held-out accuracy of the ONNX graph on the arrays, and again after the real image path:
   each held-out digit rendered as a 32x32 PNG (dark ink on white, the size of the bitmaps
   the data set was made from) and classified by ``OnnxImageClassifier``;
4. ``model.onnx``, ``labels.json``, ``MODEL_CARD.md`` and ``manifest.json`` (written last)
   in a staging directory, renamed into place.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from lamina.models.manifest import (
    EvaluationReport,
    ImageSpec,
    Manifest,
    SourceInfo,
    file_entry,
    write_manifest,
)

log = logging.getLogger(__name__)

MODEL_NAME = "digits-classifier"
SEED = 0
TEST_SIZE = 0.2
CV_FOLDS = 5
OPSET = 17
ML_OPSET = 3
LABELS = [str(digit) for digit in range(10)]
SIDE = 8  # the data set's images are 8x8
RENDER_SCALE = 4  # 8x8 -> 32x32, the bitmaps the data set was counted from
# Dark ink on white paper: 255 - pixel is the ink, and 16/255 maps full ink to 16, as in
# the data set. Box-shrinking a 32x32 bitmap to 8x8 averages each 4x4 block, which is the
# data set's "count the inked pixels of each 4x4 block" (see lamina.inference.image).
IMAGE_SPEC = ImageSpec(width=SIDE, height=SIDE, mode="L", invert=True, scale=16 / 255)
DATASET = "scikit-learn load_digits (UCI Optical Recognition of Handwritten Digits)"


@dataclass(frozen=True)
class Split:
    train_x: np.ndarray  # (n, 64) float32, values 0..16
    train_y: np.ndarray  # (n,) int, digits 0..9
    test_x: np.ndarray
    test_y: np.ndarray


@dataclass(frozen=True)
class Candidate:
    name: str
    description: str
    cv_accuracy: float  # mean over CV_FOLDS folds of the training part
    held_out_accuracy: float  # the ONNX graph's argmax of probabilities on the held-out part
    onnx_bytes: bytes


def held_out_split() -> Split:
    """The build's stratified 80/20 split (fixed seed): the held-out part is never trained on."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = np.asarray(digits.data, dtype=np.float32)
    y = np.asarray(digits.target)
    train_x, test_x, train_y, test_y = train_test_split(
        x, y, test_size=TEST_SIZE, stratify=y, random_state=SEED
    )
    return Split(train_x, train_y, test_x, test_y)


def candidates() -> dict[str, tuple[str, Any]]:
    """name -> (description, unfitted estimator): small models that skl2onnx converts."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return {
        "logistic-regression": (
            "StandardScaler + LogisticRegression(C=0.1)",
            make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000)),
        ),
        "mlp": (
            "StandardScaler + MLPClassifier(128 hidden units, alpha=1e-3)",
            make_pipeline(
                StandardScaler(),
                MLPClassifier(
                    hidden_layer_sizes=(128,), alpha=1e-3, max_iter=1000, random_state=SEED
                ),
            ),
        ),
        # SVC(probability=True) is deprecated since scikit-learn 1.9; this is its
        # replacement (one SVC, Platt-scaled per class). No scaler: every pixel already
        # shares the 0..16 range.
        "svc-rbf": (
            "CalibratedClassifierCV(SVC(rbf, C=10), sigmoid, ensemble=False)",
            CalibratedClassifierCV(
                SVC(C=10, gamma="scale"), method="sigmoid", ensemble=False, cv=CV_FOLDS
            ),
        ),
    }


def to_onnx_bytes(estimator: Any) -> bytes:
    """``pixels`` float (n, 64) -> ``label`` int64 (n,), ``probabilities`` float (n, 10)."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    with warnings.catch_warnings():
        # skl2onnx's SVC converter reads probA_/probB_ (empty here: the calibration is done
        # by CalibratedClassifierCV), which scikit-learn 1.9 deprecates.
        warnings.filterwarnings("ignore", r"Attribute `prob[AB]_`", FutureWarning)
        model = to_onnx(
            estimator,
            initial_types=[("pixels", FloatTensorType([None, SIDE * SIDE]))],
            options={"zipmap": False},
            target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
        )
    return bytes(model.SerializeToString())


def onnx_probabilities(onnx_bytes: bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(["probabilities"], {"pixels": x.astype(np.float32)})
    return np.asarray(probabilities)


def evaluate_candidates(split: Split) -> list[Candidate]:
    """Every candidate that converts, best cross-validated first."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=SEED)
    scored = []
    for name, (description, estimator) in candidates().items():
        cv = float(cross_val_score(estimator, split.train_x, split.train_y, cv=folds).mean())
        estimator.fit(split.train_x, split.train_y)
        if list(estimator.classes_) != list(range(len(LABELS))):
            raise RuntimeError(f"{name}: classes {estimator.classes_} are not 0..9 in order")
        try:
            onnx_bytes = to_onnx_bytes(estimator)
        except Exception as exc:  # skl2onnx raises many types for what it cannot convert
            log.warning("%s: skl2onnx cannot convert it (%s); skipped", name, exc)
            continue
        predicted = onnx_probabilities(onnx_bytes, split.test_x).argmax(axis=1)
        held_out = float(np.mean(predicted == split.test_y))
        log.info("%s: cv accuracy %.4f, held-out accuracy %.4f", name, cv, held_out)
        scored.append(Candidate(name, description, cv, held_out, onnx_bytes))
    if not scored:
        raise RuntimeError("no candidate converts to ONNX")
    return sorted(scored, key=lambda c: c.cv_accuracy, reverse=True)


def render_digit(
    values: np.ndarray,
    *,
    scale: int = RENDER_SCALE,
    fmt: str = "PNG",
    margin: int = 0,
    light_on_dark: bool = False,
) -> bytes:
    """One data set digit (64 values 0..16) as an image file: dark ink on white paper, each
    value a ``scale`` x ``scale`` block of grey ``255 - value * 255 / 16``; ``margin``
    white pixels around it; ``light_on_dark`` swaps ink and paper."""
    from PIL import Image

    ink = np.asarray(values, dtype=np.float64).reshape(SIDE, SIDE)
    grey = np.rint(255.0 - ink * 255.0 / 16.0).clip(0, 255).astype(np.uint8)
    pixels = np.pad(
        np.kron(grey, np.ones((scale, scale), dtype=np.uint8)), margin, constant_values=255
    )
    if light_on_dark:
        pixels = 255 - pixels
    buffer = io.BytesIO()
    Image.fromarray(pixels, "L").save(buffer, fmt)
    return buffer.getvalue()


@dataclass(frozen=True)
class ImagePathReport:
    """The held-out digits through serving's own code (bytes -> preprocess -> ONNX)."""

    png_accuracy: float  # 32x32 PNG, dark ink on white
    jpeg_accuracy: float  # the same as JPEG (Pillow's default quality, 75)
    max_abs_error: float  # largest |preprocessed PNG pixel - data set value|, 0..16 scale
    margin_accuracy: float  # the 32x32 PNG centred on a 40x40 white canvas
    light_on_dark_accuracy: float  # white ink on black


def image_path_report(model_dir: Path, manifest: Manifest, split: Split) -> ImagePathReport:
    from lamina.inference.image import OnnxImageClassifier, preprocess_image

    assert manifest.image is not None
    spec = manifest.image
    classifier = OnnxImageClassifier(model_dir, manifest)

    def accuracy(**render: Any) -> float:
        images = [render_digit(row, **render) for row in split.test_x]
        predictions = classifier.classify(images, top_k=1).predictions
        predicted = np.array([int(scores[0].label) for scores in predictions])
        return float(np.mean(predicted == split.test_y))

    rows = np.stack(
        [preprocess_image(render_digit(row), spec, max_pixels=10_000) for row in split.test_x]
    )
    return ImagePathReport(
        png_accuracy=accuracy(),
        jpeg_accuracy=accuracy(fmt="JPEG"),
        max_abs_error=float(np.abs(rows - split.test_x).max()),
        margin_accuracy=accuracy(margin=RENDER_SCALE),
        light_on_dark_accuracy=accuracy(light_on_dark=True),
    )


def source_info() -> SourceInfo:
    return SourceInfo(
        model_id="sklearn.datasets.load_digits",
        package="scikit-learn",
        package_version=metadata.version("scikit-learn"),
        license="BSD-3-Clause (scikit-learn); data: UCI optdigits, see MODEL_CARD.md",
    )


def model_card(
    chosen: Candidate, tried: list[Candidate], image: ImagePathReport, split: Split
) -> str:
    rows = "\n".join(
        f"| {c.name} | {c.description} | {c.cv_accuracy:.4f} | {c.held_out_accuracy:.4f} |"
        for c in tried
    )
    return f"""# {MODEL_NAME}

Recognizes one handwritten digit (0-9) in a small greyscale image. A demo of lamina's image
classification path: a tiny scikit-learn model, converted to ONNX, trained at build time.

## Data

- `sklearn.datasets.load_digits()` from scikit-learn {metadata.version("scikit-learn")}
  (`sklearn/datasets/data/digits.csv.gz`, shipped in the package: nothing is downloaded).
- It is a copy of the test set (`optdigits.tes`, 1,797 digits) of the UCI Machine Learning
  Repository data set "Optical Recognition of Handwritten Digits" (E. Alpaydin, C. Kaynak,
  Bogazici University, 1998; UCI id 80). NIST's programs extracted normalized 32x32
  bitmaps of digits from preprinted forms (43 writers); each 4x4 block of a bitmap became
  one value, the count of its inked pixels (0..16).
- License: scikit-learn's code is BSD-3-Clause (its package metadata). A license for the
  data itself is stated neither in scikit-learn's description of it nor in the UCI page
  text checked while writing this builder. The UCI repository generally licenses its data
  sets CC BY 4.0 and asks to be cited: confirm on https://archive.ics.uci.edu/dataset/80
  before relying on it.

## Model

{chosen.description} (`{chosen.name}`), trained on a stratified 80% split
({len(split.train_y)} digits, seed {SEED}). Candidates, chosen by {CV_FOLDS}-fold
cross-validation on the training part only; held-out accuracy is measured on the ONNX
graph (argmax of `probabilities`, what the API returns):

| name | model | CV accuracy | held-out accuracy |
|---|---|---|---|
{rows}

ONNX (opset {OPSET}, ai.onnx.ml {ML_OPSET}): input `pixels` float (n, 64), row-major 8x8,
values 0..16; outputs `label` int64 (n,) and `probabilities` float (n, 10), columns in
`labels.json` order ("0".."9").

## Evaluation (held-out {len(split.test_y)} digits, never trained on)

- accuracy on the arrays: {chosen.held_out_accuracy:.4f}
- accuracy after the real image path (each digit rendered as a 32x32 PNG, dark ink on
  white, then decoded and preprocessed by lamina): {image.png_accuracy:.4f}; as JPEG
  (quality 75): {image.jpeg_accuracy:.4f}
- largest difference between a preprocessed pixel and the data set's value:
  {image.max_abs_error:.4f} (on the 0..16 scale)

## How images are preprocessed

PNG or JPEG only. EXIF orientation applied; transparency flattened onto white; converted
to greyscale (ITU-R 601-2 luma); shrunk to 8x8 with a box filter (each output pixel is the
average of the pixels it covers: the data set's 4x4 ink count); inverted (255 - pixel, so
ink is high) and scaled by 16/255 (white paper 0, full ink 16).

## Limits

- One digit per image, filling the frame, as NIST normalized them: no margin beyond what
  the digit's own shape leaves. Margins shrink the digit on the 8x8 grid and the model
  misreads it: the same held-out PNGs centred on a 40x40 white canvas (4 pixels of margin
  on each side) score {image.margin_accuracy:.4f}. Crop to the digit first.
- Dark ink on a light background: light ink on dark scores {image.light_on_dark_accuracy:.4f}.
- Strokes as thick, relative to the digit, as a pen's in a small form box: a hairline on
  a large image averages out to faint values.
- 1998 forms from 43 writers: handwriting styles far from theirs are not represented.
  A demo, not an OCR system.
"""


def write_onnx(onnx_bytes: bytes, target: Path) -> None:
    """One file: the model is a few hundred kB, and an SVM's support vectors are node
    attributes, which ONNX cannot move to external data anyway."""
    target.write_bytes(onnx_bytes)
    target.chmod(0o644)  # Lambda runs the function as a non-root user


def build(output: Path, *, version: str = "1", embedding: Path | None = None) -> Path:
    """Train, convert, evaluate and write the model directory ``output``; return it.

    ``embedding`` is ignored: this model has no text encoder.
    """
    del embedding
    split = held_out_split()
    tried = evaluate_candidates(split)
    chosen = tried[0]
    log.info("keeping %s (cv accuracy %.4f)", chosen.name, chosen.cv_accuracy)

    staging = output.with_name(f".{output.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write_onnx(chosen.onnx_bytes, staging / "model.onnx")
    (staging / "labels.json").write_text(json.dumps(LABELS) + "\n", encoding="utf-8")
    manifest = Manifest(
        name=MODEL_NAME,
        version=version,
        task="image-classification",
        variant="fp32",
        quantization="none",
        labels_file="labels.json",
        image=IMAGE_SPEC,
        opset=OPSET,
        source=source_info(),
        files=[file_entry(staging, name) for name in ("model.onnx", "labels.json")],
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    image = image_path_report(staging, manifest, split)
    log.info("image path: %s", image)
    (staging / "MODEL_CARD.md").write_text(
        model_card(chosen, tried, image, split), encoding="utf-8"
    )
    manifest = manifest.model_copy(
        update={
            "card_file": "MODEL_CARD.md",
            "files": [file_entry(staging, p.name) for p in sorted(staging.iterdir())],
            "evaluation": EvaluationReport(
                dataset=f"{DATASET}: stratified {TEST_SIZE:.0%} held out, seed {SEED}",
                size=len(split.test_y),
                metrics={
                    "accuracy": chosen.held_out_accuracy,
                    "image_path_accuracy": image.png_accuracy,
                    "image_path_jpeg_accuracy": image.jpeg_accuracy,
                    "image_path_max_pixel_error": image.max_abs_error,
                    "cv_accuracy": chosen.cv_accuracy,
                },
            ),
        }
    )
    write_manifest(staging, manifest)
    shutil.rmtree(output, ignore_errors=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(output)
    return output
