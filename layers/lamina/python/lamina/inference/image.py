"""Image classifiers: PNG or JPEG bytes -> the model's input rows -> top-k labels.

Its lifecycle is every lamina model's (``lamina.inference.lifecycle``):
initialize (verify the directory, load the session and labels, classify two blank images)
-> preprocess (decode each image and turn it into one input row, as ``ImageSpec`` says)
-> inference (one ONNX run over the whole batch; the ``probabilities`` output)
-> postprocess (``lamina.inference.labels.top_k``).

Decoding refuses what should never reach a decoder: anything but PNG and JPEG, and an
image whose header declares more than ``max_pixels`` (checked before a single pixel is
decoded, so a tiny file that claims to be 100,000 x 100,000 costs nothing). Every image is
decoded to its end, so a truncated or corrupt file is an ``InvalidImageError`` that says
why, never a half-grey digit. Errors name the image at fault: ``images[i]``, or ``image``
for one sent on its own.

Preprocessing, in order: apply the EXIF orientation; bring 16-bit greyscale down to 8
bits by scaling (Pillow's own conversion clips everything above 255 to white); flatten
transparency onto white paper; convert to the spec's mode (``L`` is ITU-R 601-2 luma);
resize with a box filter; invert, scale, subtract the mean, divide by the std; lay the
pixels out flat (h*w*c, row-major) or as (c, h, w).

Why a box filter: shrinking with it averages exactly the source pixels that fall in each
target pixel, weighted by how much of each falls there (area averaging). That is how the
digits data set was made (each 8x8 value counts the inked pixels of a 4x4 block of a 32x32
bitmap), so a 32x32 rendering of a data set digit comes back to within half a grey level
of its 0..16 values. Pillow's bilinear, bicubic and Lanczos filters reach into the
neighbouring blocks and blur each value into the next: on the held-out digits they move
values by several grey levels and cost accuracy (docs/performance.md, "Image
preprocessing"). Nearest-neighbour keeps one pixel per block and misses thin strokes.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, PngImagePlugin, UnidentifiedImageError

from lamina.errors import ImageTooLargeError, InvalidImageError, InvalidInputError, ModelLoadError
from lamina.inference.labels import LabelScore, top_k
from lamina.inference.lifecycle import InferenceModel, StageTimings
from lamina.inference.session import create_session
from lamina.models.manifest import ImageSpec, Manifest, open_model_dir, read_labels
from lamina.settings import Settings

__all__ = [
    "ACCEPTED_FORMATS",
    "ImageClassification",
    "ImageRequest",
    "OnnxImageClassifier",
    "decode_image",
    "image_to_array",
    "preprocess_image",
]

ACCEPTED_FORMATS = ("PNG", "JPEG")
PROBABILITIES = "probabilities"
DRAFT_OVERSAMPLING = 32  # a reduced JPEG decode keeps >= 32x32 pixels per output pixel
_SIXTEEN_BIT = {"I", "I;16", "I;16L", "I;16B", "I;16N"}
# Magic numbers, to say in an error what the bytes were instead of showing them in hex.
_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"%PDF": "PDF",
}


@dataclass(frozen=True)
class ImageRequest:
    images: Sequence[bytes]
    top_k: int | None = None  # None: every label
    single: bool = False  # one image sent on its own: errors name it "image", not "images[0]"


@dataclass(frozen=True)
class ImageClassification:
    predictions: list[list[LabelScore]]  # per image, most likely label first
    timings: StageTimings


@dataclass(frozen=True)
class _Prepared:
    """Preprocess output: one input row per image, and how many labels to keep."""

    rows: np.ndarray
    top_k: int | None


@dataclass(frozen=True)
class _Scored:
    """Inference output: (n, labels) probabilities, and how many labels to keep."""

    probabilities: np.ndarray
    top_k: int | None


# --- decoding -----------------------------------------------------------------------------


def decode_image(
    data: bytes, *, max_pixels: int, param: str = "image", draft: ImageSpec | None = None
) -> Image.Image:
    """A PNG or JPEG, fully decoded and upright (EXIF orientation applied).

    ``draft``: the spec the image will be shrunk to. A large JPEG is then decoded at a
    reduced scale (libjpeg's DCT scaling, 1/2 to 1/8), but never below ``DRAFT_OVERSAMPLING``
    decoded pixels per output pixel: a reduced decode knows each 8x8 block only as a whole,
    so an edge can move by one decoded pixel. Measured on the held-out digits rendered as
    large JPEGs, against a full decode: several times faster, a larger but small pixel
    error, the same accuracy; one decoded pixel per output pixel instead loses grey levels
    and accuracy (docs/performance.md, "Image preprocessing").
    """
    if not data:
        raise InvalidImageError(f"{param} is empty (0 bytes)", param=param)
    try:
        # Pillow's own bomb check warns above ~89 megapixels; ours (below) is the one in force.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
    except Image.DecompressionBombError:
        raise _too_large(data, max_pixels, param) from None
    except UnidentifiedImageError:
        raise InvalidImageError(
            f"{param} is not a readable PNG or JPEG image: {_describe(data)}", param=param
        ) from None
    except Exception as exc:  # a header broken in any way a decoder can complain about
        raise InvalidImageError(f"{param} has a broken header: {exc}", param=param) from exc
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{param} is {width}x{height} = {width * height:,} pixels; "
            f"the limit is {max_pixels:,} pixels",
            param=param,
        )
    try:
        if draft is not None and image.format in ("JPEG", "MPO"):  # MPO: JPEG + more frames
            # Square: EXIF may turn the image after decoding.
            side = DRAFT_OVERSAMPLING * max(draft.width, draft.height)
            image.draft(draft.mode, (side, side))
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # in place: no copy when upright
    except MemoryError:
        raise
    except Exception as exc:
        # Decoders raise OSError, SyntaxError, ValueError, EOFError, zlib and struct errors
        # for bytes an attacker controls; each means the same thing here.
        raise InvalidImageError(
            f"{param} is not a complete {image.format} image: {exc}", param=param
        ) from exc
    return image


def _describe(data: bytes) -> str:
    """What the bytes look like, for the error message."""
    for magic, name in _SIGNATURES.items():
        if data.startswith(magic):
            if name in ACCEPTED_FORMATS:
                return f"it starts like a {name} but its header is broken"
            return f"it is {name}"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "it is WebP"
    if data[4:8] == b"ftyp":
        return "it is HEIF/AVIF"
    return f"{len(data)} bytes starting with {data[:8].hex()}"


def _too_large(data: bytes, max_pixels: int, param: str) -> ImageTooLargeError:
    """Pillow refused the header before we could read it (over 2x Image.MAX_IMAGE_PIXELS)."""
    limit = max_pixels
    if Image.MAX_IMAGE_PIXELS is not None:
        limit = min(limit, 2 * Image.MAX_IMAGE_PIXELS)
    size = _header_size(data)
    what = f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels" if size else "too large"
    return ImageTooLargeError(f"{param} is {what}; the limit is {limit:,} pixels", param=param)


def _header_size(data: bytes) -> tuple[int, int] | None:
    """Width and height as the header declares them; the plugins only parse the header."""
    for plugin in (PngImagePlugin.PngImageFile, JpegImagePlugin.JpegImageFile):
        try:
            with plugin(io.BytesIO(data)) as image:
                return image.size
        except Exception:
            continue
    return None


# --- pixels -------------------------------------------------------------------------------


def image_to_array(image: Image.Image, spec: ImageSpec) -> np.ndarray:
    """One decoded image -> the model's float32 input for it (no batch axis)."""
    image = _to_mode(image, spec.mode)
    size = (spec.width, spec.height)
    if image.size != size:
        image = image.resize(size, Image.Resampling.BOX)
    pixels = np.asarray(image, dtype=np.float32)
    if spec.invert:
        pixels = 255.0 - pixels
    pixels = (pixels * np.float32(spec.scale) - np.float32(spec.mean)) / np.float32(spec.std)
    if spec.layout == "flat":
        return pixels.reshape(-1)
    return pixels[np.newaxis] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def _to_mode(image: Image.Image, mode: str) -> Image.Image:
    """``image`` in ``mode`` (L or RGB), transparent parts on white paper."""
    if image.mode in _SIXTEEN_BIT:
        # 0..65535 -> 0..255 by scaling; convert("L") would clip everything above 255.
        # (A 16-bit PNG's single transparent grey level, if it has one, is not applied.)
        wide = np.asarray(image, dtype=np.float32)
        image = Image.fromarray(np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8), "L")
    elif image.has_transparency_data:
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image.convert("RGBA"))
    return image if image.mode == mode else image.convert(mode)


class RequestTooManyPixelsError(ImageTooLargeError):
    """The images of one request are over LAMINA_MAX_REQUEST_PIXELS together (413)."""

    code = "request_too_many_pixels"


def check_request_pixels(
    images: Sequence[bytes], max_pixels: int, *, max_image_pixels: int, single: bool
) -> None:
    """All images of a request together, by their headers' sizes, before any is decoded
    (an image whose header cannot be read counts 0: decoding it fails on its own). An image
    over ``max_image_pixels`` on its own is that image's error (413 image_too_large)."""
    total = 0
    for index, data in enumerate(images):
        size = _header_size(data)
        if size is None:
            continue
        width, height = size
        if width * height > max_image_pixels:
            param = "image" if single else f"images[{index}]"
            raise ImageTooLargeError(
                f"{param} is {width}x{height} = {width * height:,} pixels; "
                f"the limit is {max_image_pixels:,} pixels",
                param=param,
            )
        total += width * height
    if total > max_pixels:
        raise RequestTooManyPixelsError(
            f"the request's images are {total:,} pixels together; the limit is "
            f"{max_pixels:,} pixels per request",
            param="image" if single else "images",
        )


def preprocess_image(
    data: bytes, spec: ImageSpec, *, max_pixels: int, param: str = "image"
) -> np.ndarray:
    """Encoded bytes -> the model's input for one image: decode, then ``image_to_array``."""
    with decode_image(data, max_pixels=max_pixels, param=param, draft=spec) as image:
        return image_to_array(image, spec)


# --- the model ----------------------------------------------------------------------------


class OnnxImageClassifier(InferenceModel[ImageRequest, _Prepared, _Scored, list[list[LabelScore]]]):
    """An ``image-classification`` model: (n, pixels) float input -> (n, labels) probabilities."""

    def __init__(
        self,
        model_dir: Path,
        manifest: Manifest,
        *,
        intra_op_threads: int = 0,
        max_pixels: int = 16_000_000,
        max_request_pixels: int = 64_000_000,
    ) -> None:
        if manifest.task != "image-classification" or manifest.image is None:
            raise ModelLoadError(f"{manifest.name} is a {manifest.task} model, not an image one")
        self.model_dir = model_dir
        self.manifest = manifest
        self.spec: ImageSpec = manifest.image
        self.max_pixels = max_pixels
        self.max_request_pixels = max_request_pixels
        self.labels = read_labels(model_dir, manifest)
        try:
            self._session = create_session(model_dir / manifest.model_file, intra_op_threads)
        except Exception as exc:  # onnxruntime raises its own types
            raise ModelLoadError(f"cannot load model from {model_dir}: {exc}") from exc
        self._input_name = self._check_signature()

    def _check_signature(self) -> str:
        """The input's name; refuse a graph whose shapes disagree with the spec or labels."""
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelLoadError(f"{self.manifest.model_file} must have one input")
        outputs = {item.name: item for item in self._session.get_outputs()}
        if PROBABILITIES not in outputs:
            raise ModelLoadError(f"{self.manifest.model_file} has no {PROBABILITIES!r} output")
        spec = self.spec
        channels = 1 if spec.mode == "L" else 3
        want = (
            [spec.height * spec.width * channels]
            if spec.layout == "flat"
            else [channels, spec.height, spec.width]
        )
        got = list(inputs[0].shape[1:])
        if len(got) != len(want) or any(
            isinstance(g, int) and g != w for g, w in zip(got, want, strict=True)
        ):
            raise ModelLoadError(
                f"input {inputs[0].name} has shape {inputs[0].shape}; the image spec "
                f"({spec.width}x{spec.height} {spec.mode}, {spec.layout}) needs "
                f"(n, {', '.join(map(str, want))})"
            )
        columns = outputs[PROBABILITIES].shape[-1]
        if isinstance(columns, int) and columns != len(self.labels):
            raise ModelLoadError(
                f"{PROBABILITIES} has {columns} columns but there are {len(self.labels)} labels"
            )
        return str(inputs[0].name)

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        verify: bool = True,
        intra_op_threads: int = 0,
        max_pixels: int = 16_000_000,
        max_request_pixels: int = 64_000_000,
        warmup: bool = True,
    ) -> OnnxImageClassifier:
        """initialize: verify the directory, load session and labels, classify a PNG and a
        JPEG (imports both decoders and runs the session once before the first request)."""
        manifest = open_model_dir(model_dir, verify=verify)
        classifier = cls(
            model_dir,
            manifest,
            intra_op_threads=intra_op_threads,
            max_pixels=max_pixels,
            max_request_pixels=max_request_pixels,
        )
        if warmup:
            classifier.classify(_blank_images(classifier.spec), top_k=1)
        return classifier

    @classmethod
    def from_settings(
        cls, model_dir: Path, *, verify: bool, settings: Settings
    ) -> OnnxImageClassifier:
        """``load`` with this deployment's settings (the cold-start loader's entry point)."""
        return cls.load(
            model_dir,
            verify=verify,
            intra_op_threads=settings.intra_op_threads,
            max_pixels=settings.max_image_pixels,
            max_request_pixels=settings.max_request_pixels,
        )

    def preprocess(self, request: ImageRequest) -> _Prepared:
        if not request.images:
            raise InvalidInputError("nothing to classify: the list of images is empty")
        if request.top_k is not None and request.top_k < 1:
            raise InvalidInputError("top_k must be at least 1", param="top_k")
        if request.single and len(request.images) != 1:
            raise ValueError("single=True means exactly one image")
        check_request_pixels(
            request.images,
            self.max_request_pixels,
            max_image_pixels=self.max_pixels,
            single=request.single,
        )
        rows = [
            preprocess_image(
                data,
                self.spec,
                max_pixels=self.max_pixels,
                param="image" if request.single else f"images[{i}]",
            )
            for i, data in enumerate(request.images)
        ]
        return _Prepared(np.stack(rows), request.top_k)

    def inference(self, inputs: _Prepared) -> _Scored:
        (probabilities,) = self._session.run([PROBABILITIES], {self._input_name: inputs.rows})
        return _Scored(np.asarray(probabilities), inputs.top_k)

    def postprocess(self, raw: _Scored) -> list[list[LabelScore]]:
        return top_k(raw.probabilities, self.labels, raw.top_k)

    def classify(
        self, images: Sequence[bytes], top_k: int | None, *, single: bool = False
    ) -> ImageClassification:
        """Per image, the ``top_k`` most likely labels (all when None), and the stage timings.

        An error names the image at fault: ``images[i]``, or ``image`` when ``single`` (one
        image that the caller sent on its own, not as a list).
        """
        handled = self.handle(ImageRequest(images, top_k, single))
        return ImageClassification(handled.output, handled.timings)


def _blank_images(spec: ImageSpec) -> list[bytes]:
    encoded = []
    for fmt in ACCEPTED_FORMATS:
        buffer = io.BytesIO()
        Image.new("RGB", (spec.width, spec.height), "white").save(buffer, fmt)
        encoded.append(buffer.getvalue())
    return encoded
