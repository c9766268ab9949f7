"""Image decoding and preprocessing (lamina.inference.image), without the built model.

The classifier tests run on a tiny ONNX graph written here (a fixed linear layer and a
softmax), so they need no `make models`.
"""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lamina.errors import ImageTooLargeError, InvalidImageError, InvalidInputError, ModelLoadError
from lamina.inference.image import (
    OnnxImageClassifier,
    decode_image,
    image_to_array,
    preprocess_image,
)
from lamina.models.manifest import ImageSpec, Manifest, SourceInfo, file_entry, write_manifest

# The digits model's spec: dark ink on white -> 0 (paper) .. 16 (full ink), 8x8 flat.
SPEC = ImageSpec(width=8, height=8, mode="L", invert=True, scale=16 / 255)
LIMIT = 4_000_000
INK = 16 / 255  # one grey level, on the 0..16 scale


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def pixels(data: bytes, spec: ImageSpec = SPEC, max_pixels: int = LIMIT) -> np.ndarray:
    return preprocess_image(data, spec, max_pixels=max_pixels)


def png_claiming(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose IHDR (checksum fixed) claims ``width`` x ``height``."""
    data = bytearray(encode(Image.new("L", (1, 1), 255)))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


# --- formats and modes ------------------------------------------------------------------


def test_greyscale_png_maps_ink_to_0_16() -> None:
    image = Image.new("L", (8, 8), 255)  # white paper
    image.putpixel((0, 0), 0)  # full ink
    image.putpixel((7, 7), 128)
    row = pixels(encode(image))
    assert row.shape == (64,)
    assert row.dtype == np.float32
    assert row[0] == pytest.approx(16.0)
    assert row[63] == pytest.approx((255 - 128) * INK)
    assert np.count_nonzero(row) == 2


def test_jpeg_decodes_close_to_its_source() -> None:
    image = Image.new("RGB", (64, 64), "white")
    image.paste((0, 0, 0), (0, 0, 32, 64))  # left half inked
    row = pixels(encode(image, "JPEG", quality=95)).reshape(8, 8)
    np.testing.assert_allclose(row[:, :4], 16.0, atol=0.5)
    np.testing.assert_allclose(row[:, 4:], 0.0, atol=0.5)


def test_rgb_is_converted_with_luma_weights() -> None:
    red = Image.new("RGB", (8, 8), (255, 0, 0))
    grey = round(255 * 0.299)  # ITU-R 601-2 luma of pure red
    np.testing.assert_allclose(pixels(encode(red)), (255 - grey) * INK, atol=INK)


def test_rgba_transparency_is_white_paper() -> None:
    image = Image.new("RGBA", (8, 8), (0, 0, 0, 0))  # black but fully transparent
    image.putpixel((0, 0), (0, 0, 0, 255))  # opaque black
    image.putpixel((1, 0), (0, 0, 0, 128))  # half-transparent black over white
    row = pixels(encode(image))
    assert row[0] == pytest.approx(16.0)
    assert row[1] == pytest.approx(8.0, abs=0.1)
    assert np.count_nonzero(row) == 2  # the transparent black stayed paper


def test_palette_png_with_and_without_transparency() -> None:
    image = Image.new("P", (8, 8), 1)
    image.putpalette([255, 255, 255, 0, 0, 0, 40, 40, 40] + [0, 0, 0] * 253)
    image.putpixel((0, 0), 2)
    row = pixels(encode(image))
    assert row[1:].max() == 16.0  # palette entry 1 is black
    assert row[0] == pytest.approx((255 - 40) * INK)
    transparent = pixels(encode(image, transparency=1))  # black entry made transparent
    assert transparent[1:].max() == 0.0
    assert transparent[0] == pytest.approx((255 - 40) * INK)


def test_16_bit_greyscale_is_scaled_not_clipped() -> None:
    levels = np.full((8, 8), 65535, dtype=np.uint16)  # white
    levels[0, 0] = 32896  # 128 x 257: mid grey
    levels[0, 1] = 0
    data = encode(Image.fromarray(levels))
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    row = pixels(data)
    # Pillow's convert("L") would clip 32896 to 255 (no ink at all).
    assert row[0] == pytest.approx((255 - 128) * INK)
    assert row[1] == pytest.approx(16.0)
    assert row[2:].max() == 0.0


def test_one_bit_png() -> None:
    image = Image.new("1", (16, 16), 1)
    image.paste(0, (0, 0, 2, 2))  # one 2x2 black block = the top-left output pixel
    row = pixels(encode(image))
    assert row[0] == pytest.approx(16.0)
    assert row[1:].max() == 0.0


def test_exif_orientation_is_applied() -> None:
    stored = Image.new("L", (64, 64), 255)
    stored.paste(0, (0, 0, 32, 32))  # ink in the stored top-left quadrant
    exif = Image.Exif()
    exif[0x0112] = 6  # viewers turn the image 90 degrees clockwise
    upright = pixels(encode(stored, "JPEG", quality=95, exif=exif)).reshape(8, 8)
    plain = pixels(encode(stored, "JPEG", quality=95)).reshape(8, 8)
    assert plain[:4, :4].mean() > 15
    assert plain[:4, 4:].mean() < 1
    # Turned clockwise, the stored top-left quadrant is the top-right one.
    assert upright[:4, 4:].mean() > 15
    assert upright[:4, :4].mean() < 1
    assert upright[4:].mean() < 1


def test_box_filter_averages_every_pixel() -> None:
    # A one-pixel checkerboard: every 2x2 block holds two ink pixels. A box filter gives
    # exactly half ink everywhere; point-sampling filters would alias it.
    board = (np.indices((16, 16)).sum(axis=0) % 2 * 255).astype(np.uint8)
    row = pixels(encode(Image.fromarray(board, "L")))
    np.testing.assert_allclose(row, 8.0, atol=INK)


def full_decode(data: bytes) -> np.ndarray:
    with decode_image(data, max_pixels=LIMIT) as image:  # no draft: every pixel decoded
        return image_to_array(image, SPEC)


def test_large_jpeg_decoded_at_reduced_scale_is_close_to_full_decode() -> None:
    from lamina_tools.models.digits import render_digit

    values = np.zeros(64)
    values[[10, 11, 12, 18, 26, 34, 42, 50, 51, 52]] = 16
    jpeg = render_digit(values, scale=150, fmt="JPEG")  # 1200x1200: decoded at 1/4
    with decode_image(jpeg, max_pixels=LIMIT, draft=SPEC) as reduced:
        assert reduced.size == (300, 300)
    fast = pixels(jpeg)
    np.testing.assert_allclose(fast, full_decode(jpeg), atol=0.5)
    np.testing.assert_allclose(fast, values, atol=1.0)  # JPEG rings around sharp edges


def test_mid_size_jpeg_is_decoded_in_full() -> None:
    from lamina_tools.models.digits import render_digit

    values = np.zeros(64)
    values[[9, 17, 25, 33, 41, 49]] = 16
    jpeg = render_digit(values, scale=12, fmt="JPEG")  # 96x96: 12 pixels per output pixel
    np.testing.assert_array_equal(pixels(jpeg), full_decode(jpeg))


def test_rgb_nchw_layout_and_normalization() -> None:
    spec = ImageSpec(width=2, height=2, mode="RGB", mean=0.5, std=0.25, layout="nchw")
    image = Image.new("RGB", (4, 4), (255, 0, 0))
    out = pixels(encode(image), spec)
    assert out.shape == (3, 2, 2)
    np.testing.assert_allclose(out[0], (1.0 - 0.5) / 0.25)
    np.testing.assert_allclose(out[1:], (0.0 - 0.5) / 0.25)


def test_rendered_dataset_digit_round_trips() -> None:
    from sklearn.datasets import load_digits

    from lamina_tools.models.digits import IMAGE_SPEC, render_digit

    digits = load_digits()
    for values in digits.data[:50]:
        row = preprocess_image(render_digit(values), IMAGE_SPEC, max_pixels=LIMIT)
        # 255 grey levels carry the 17 ink levels: at most half a grey level off.
        np.testing.assert_allclose(row, values, atol=0.5 * INK + 1e-6)


# --- refused ----------------------------------------------------------------------------


def test_gif_is_refused_by_name() -> None:
    with pytest.raises(InvalidImageError, match="it is GIF") as caught:
        pixels(encode(Image.new("L", (8, 8), 255), "GIF"))
    assert caught.value.param == "image"


@pytest.mark.parametrize("fmt", ["BMP", "WEBP", "TIFF"])
def test_other_formats_are_refused(fmt: str) -> None:
    with pytest.raises(InvalidImageError, match="not a readable PNG or JPEG"):
        pixels(encode(Image.new("RGB", (8, 8), "white"), fmt))


def test_random_bytes() -> None:
    noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(InvalidImageError, match="4096 bytes starting with"):
        pixels(noise)


def test_empty_bytes() -> None:
    with pytest.raises(InvalidImageError, match=r"empty \(0 bytes\)"):
        pixels(b"")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image(fmt: str) -> None:
    noise = np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)
    data = encode(Image.fromarray(noise, "L"), fmt)
    with pytest.raises(InvalidImageError, match=f"not a complete {fmt} image.*truncated"):
        pixels(data[: len(data) // 2])


def test_corrupt_png_data() -> None:
    data = bytearray(encode(Image.new("L", (64, 64), 255)))
    start = data.index(b"IDAT") + 4
    data[start : start + 8] = b"\xff" * 8  # compressed pixels replaced by garbage
    with pytest.raises(InvalidImageError):
        pixels(bytes(data))


def test_broken_png_header_says_so() -> None:
    data = bytearray(png_claiming(8, 8))
    data[20] ^= 0xFF  # IHDR no longer matches its checksum
    with pytest.raises(InvalidImageError, match="starts like a PNG but its header is broken"):
        pixels(bytes(data))


def test_huge_header_refused_before_decoding_and_fast() -> None:
    data = png_claiming(100_000, 100_000)
    began = time.perf_counter()
    with pytest.raises(ImageTooLargeError) as caught:
        pixels(data, max_pixels=16_000_000)
    assert time.perf_counter() - began < 0.1
    assert "100000x100000 = 10,000,000,000 pixels" in caught.value.message
    assert "16,000,000" in caught.value.message


def test_pixel_limit_is_checked_on_the_header() -> None:
    data = png_claiming(3000, 2000)  # under Pillow's own limit, over ours
    with pytest.raises(ImageTooLargeError, match=r"3000x2000 = 6,000,000 pixels.*5,000,000"):
        pixels(data, max_pixels=5_000_000)
    assert pixels(encode(Image.new("L", (100, 50), 255)), max_pixels=5000).shape == (64,)
    with pytest.raises(ImageTooLargeError):
        pixels(encode(Image.new("L", (100, 51), 255)), max_pixels=5000)


# --- the classifier on a tiny graph -----------------------------------------------------


LABELS = ["top", "bottom", "blank"]


def write_tiny_model(root: Path, labels: list[str] = LABELS) -> Path:
    """pixels (n, 64) -> probabilities (n, 3): ink in the top half, the bottom half, none."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.zeros((64, 3), dtype=np.float32)
    weights[:32, 0] = 1 / 64  # a fully inked half (32 x 16) scores 8
    weights[32:, 1] = 1 / 64
    bias = np.array([0.0, 0.0, 4.0], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["pixels", "w"], ["logits0"]),
            helper.make_node("Add", ["logits0", "b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3])],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    root.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(root / "model.onnx"))
    (root / "labels.json").write_text(json.dumps(labels), encoding="utf-8")
    manifest = Manifest(
        name="tiny",
        version="0",
        task="image-classification",
        variant="fp32",
        quantization="none",
        labels_file="labels.json",
        image=SPEC,
        opset=17,
        source=SourceInfo(model_id="test", package="none", package_version="0", license="none"),
        files=[file_entry(root, name) for name in ("model.onnx", "labels.json")],
        created_at=datetime.now(UTC).isoformat(),
    )
    write_manifest(root, manifest)
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> OnnxImageClassifier:
    return OnnxImageClassifier.load(write_tiny_model(tmp_path_factory.mktemp("tiny")))


def half_inked(top: bool) -> bytes:
    image = Image.new("L", (32, 32), 255)
    image.paste(0, (0, 0, 32, 16) if top else (0, 16, 32, 32))
    return encode(image)


def test_classifier_batch_top_k(tiny: OnnxImageClassifier) -> None:
    result = tiny.classify([half_inked(True), half_inked(False)], top_k=2)
    assert [[s.label for s in scores] for scores in result.predictions] == [
        ["top", "blank"],
        ["bottom", "blank"],
    ]
    assert result.predictions[0][0].confidence > 0.98
    everything = tiny.classify([encode(Image.new("L", (8, 8), 255))], top_k=None).predictions[0]
    assert everything[0].label == "blank"
    assert sum(s.confidence for s in everything) == pytest.approx(1.0, abs=1e-6)
    confidences = [s.confidence for s in everything]
    assert confidences == sorted(confidences, reverse=True)
    assert result.timings.preprocess_ms > 0
    assert result.timings.inference_ms > 0


def test_classifier_names_the_bad_image(tiny: OnnxImageClassifier) -> None:
    with pytest.raises(InvalidImageError) as caught:
        tiny.classify([half_inked(True), b"nope", b""], top_k=1)
    assert caught.value.param == "images[1]"
    assert caught.value.message.startswith("images[1] ")
    with pytest.raises(InvalidImageError) as single:
        tiny.classify([b"nope"], top_k=1, single=True)
    assert single.value.param == "image"


def test_classifier_refuses_empty_batch_and_bad_top_k(tiny: OnnxImageClassifier) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        tiny.classify([], top_k=1)
    with pytest.raises(InvalidInputError) as caught:
        tiny.classify([half_inked(True)], top_k=0)
    assert caught.value.param == "top_k"


def test_classifier_pixel_limit(tmp_path: Path) -> None:
    small = OnnxImageClassifier.load(write_tiny_model(tmp_path / "m"), max_pixels=100)
    with pytest.raises(ImageTooLargeError) as caught:
        small.classify([encode(Image.new("L", (8, 8))), encode(Image.new("L", (11, 10)))], 1)
    assert caught.value.param == "images[1]"


def test_labels_that_do_not_match_the_graph_are_refused(tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m", labels=["a", "b"])
    with pytest.raises(ModelLoadError, match="3 columns but there are 2 labels"):
        OnnxImageClassifier.load(root)


def test_image_spec_that_does_not_match_the_graph_is_refused(tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    manifest = Manifest.model_validate_json((root / "manifest.json").read_text())
    wrong = manifest.model_copy(update={"image": SPEC.model_copy(update={"width": 16})})
    with pytest.raises(ModelLoadError, match=r"spec \(16x8 L, flat\) needs \(n, 128\)"):
        OnnxImageClassifier(root, wrong)


def test_a_text_model_is_not_an_image_model(tmp_path: Path) -> None:
    root = write_tiny_model(tmp_path / "m")
    manifest = Manifest.model_validate_json((root / "manifest.json").read_text())
    text = manifest.model_copy(update={"task": "generic"})
    with pytest.raises(ModelLoadError, match="not an image one"):
        OnnxImageClassifier(root, text)
