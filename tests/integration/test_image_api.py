"""The image classification function on the built digits model: HTTP API and Lambda entry.

Needs `build/models/digits-classifier` (`lamina models build --model digits-classifier`).
"""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina_tools.models.digits import Split, held_out_split, render_digit
from tests.conftest import ROOT, LambdaContext, api_event

DIGITS_DIR = Path(os.environ.get("LAMINA_TEST_DIGITS_DIR", ROOT / "build/models/digits-classifier"))
ROUTE = "/api/v1/classify-image"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def png_claiming(width: int, height: int) -> bytes:
    """A real 8x8 PNG whose IHDR (checksum fixed) claims ``width`` x ``height``."""
    data = bytearray(render_digit(np.zeros(64), scale=1))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.fixture(scope="module")
def digits_dir() -> Path:
    if not (DIGITS_DIR / "manifest.json").is_file():
        pytest.fail(
            f"no built model at {DIGITS_DIR}: run `make models` "
            "(or `lamina models build --model digits-classifier`)",
            pytrace=False,
        )
    return DIGITS_DIR


@pytest.fixture(scope="module")
def image_app(digits_dir: Path) -> Any:
    from tests.conftest import import_app

    return import_app("functions.image_classify.app", {"MODEL_URI": str(digits_dir)})


@pytest.fixture(scope="module")
def client(image_app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(image_app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def split() -> Split:
    return held_out_split()


def labels_of(body: dict[str, Any]) -> list[str]:
    return [scores[0]["label"] for scores in body["predictions"]]


def test_health_and_model_info(client: Any, digits_dir: Path) -> None:
    health = client.get("/health").json()
    assert health == {
        "status": "ok",
        "model_loaded": True,
        "model": "digits-classifier",
        "model_version": "1",
    }
    info = client.get("/api/v1/model-info").json()
    manifest = json.loads((digits_dir / "manifest.json").read_text())
    assert info["labels"] == [str(d) for d in range(10)]
    assert info["image"] == manifest["image"]
    assert info["evaluation"]["metrics"]["image_path_accuracy"] >= 0.95
    assert info["source"]["package"] == "scikit-learn"
    assert info["limits"]["max_image_pixels"] == 16_000_000
    assert info["limits"]["max_request_pixels"] == 64_000_000
    assert info["limits"]["max_batch_images"] == 256
    # The path the shared HTTP API routes to this function (template.yaml).
    assert client.get("/api/v1/classify-image/model-info").json() == info


def test_one_base64_image(client: Any, split: Split) -> None:
    response = client.post(ROUTE, json={"image": b64(render_digit(split.test_x[0]))})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "digits-classifier"
    assert body["model_version"] == "1"
    assert len(body["predictions"]) == 1
    assert len(body["predictions"][0]) == 5  # default top_k
    assert labels_of(body) == [str(split.test_y[0])]


def test_data_url_and_wrapped_base64_are_accepted(client: Any, split: Split) -> None:
    encoded = b64(render_digit(split.test_x[3]))
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    for image in (f"data:image/png;base64,{encoded}", wrapped):
        response = client.post(ROUTE, json={"image": image})
        assert response.status_code == 200
        assert labels_of(response.json()) == [str(split.test_y[3])]


def test_several_images_keep_their_order(client: Any, split: Split) -> None:
    picks = [int(np.flatnonzero(split.test_y == digit)[0]) for digit in (3, 1, 4, 1, 5, 9)]
    images = [b64(render_digit(split.test_x[i])) for i in picks]
    body = client.post(ROUTE, json={"images": images, "top_k": 1}).json()
    assert labels_of(body) == ["3", "1", "4", "1", "5", "9"]
    assert all(len(scores) == 1 for scores in body["predictions"])


@pytest.mark.parametrize(("media", "fmt"), [("image/png", "PNG"), ("image/jpeg", "JPEG")])
def test_raw_image_body(client: Any, split: Split, media: str, fmt: str) -> None:
    index = int(np.flatnonzero(split.test_y == 8)[0])
    data = render_digit(split.test_x[index], scale=16, fmt=fmt)
    response = client.post(f"{ROUTE}?top_k=2", content=data, headers={"content-type": media})
    assert response.status_code == 200
    body = response.json()
    assert labels_of(body) == ["8"]
    assert len(body["predictions"][0]) == 2


def test_raw_body_is_decoded_by_content_not_declared_type(client: Any, split: Split) -> None:
    jpeg = render_digit(split.test_x[1], fmt="JPEG")
    response = client.post(ROUTE, content=jpeg, headers={"content-type": "image/png"})
    assert response.status_code == 200
    assert labels_of(response.json()) == [str(split.test_y[1])]


def test_top_k_sorted_capped_and_summing_to_one(client: Any, split: Split) -> None:
    image = b64(render_digit(split.test_x[2]))
    for k in (1, 3, 10):
        scores = client.post(ROUTE, json={"image": image, "top_k": k}).json()["predictions"][0]
        assert len(scores) == k
        confidences = [s["confidence"] for s in scores]
        assert confidences == sorted(confidences, reverse=True)
    everything = client.post(ROUTE, json={"image": image, "top_k": 50}).json()["predictions"][0]
    assert sorted(s["label"] for s in everything) == [str(d) for d in range(10)]
    assert sum(s["confidence"] for s in everything) == pytest.approx(1.0, abs=1e-5)
    response = client.post(ROUTE, json={"image": image, "top_k": 0})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "top_k"


def test_held_out_accuracy_through_http(client: Any, split: Split) -> None:
    """The build's held-out digits, as PNGs through the whole HTTP path."""
    images = [b64(render_digit(row)) for row in split.test_x]
    predicted: list[str] = []
    for start in range(0, len(images), 200):
        response = client.post(ROUTE, json={"images": images[start : start + 200], "top_k": 1})
        assert response.status_code == 200
        predicted += labels_of(response.json())
    accuracy = float(np.mean(np.array(predicted) == split.test_y.astype(str)))
    assert len(predicted) == 360
    assert accuracy >= 0.95


def error_of(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def test_bad_base64_is_422_naming_the_field(client: Any) -> None:
    response = client.post(ROUTE, json={"images": [b64(b"x"), "not base64!"]})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_image"
    assert error["param"] == "images[1]"
    assert "base64" in error["message"]


def test_corrupt_image_is_422_invalid_image(client: Any, split: Split) -> None:
    png = render_digit(split.test_x[0])
    response = client.post(ROUTE, json={"image": b64(png[: len(png) // 2])})
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_image"
    assert error_of(response)["param"] == "image"
    raw = client.post(ROUTE, content=b"\x89PNG garbage", headers={"content-type": "image/png"})
    assert raw.status_code == 422
    assert error_of(raw)["code"] == "invalid_image"


@pytest.mark.parametrize("side", [5000, 100_000])
def test_too_many_pixels_is_413(client: Any, side: int) -> None:
    response = client.post(ROUTE, json={"images": [b64(png_claiming(side, side))]})
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "image_too_large"
    assert error["param"] == "images[0]"
    assert f"{side}x{side}" in error["message"]


def test_gif_body_is_415(client: Any) -> None:
    response = client.post(ROUTE, content=b"GIF89a\x01\x00", headers={"content-type": "image/gif"})
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"image": "AAAA", "images": ["AAAA"]},
        {"top_k": 3},
        {"images": []},
        # Found by schemathesis or stated by the schema (tests/integration/test_contract.py):
        {"image": None, "images": ["AAAA"]},
        {"images": None, "image": "AAAA"},
        {"image": "AAAA", "top_k": 2.5},
        {"image": "AAAA", "top_k": True},
        {"image": "AAAA", "top_k": "3"},
        {"image": "AAAA", "top_k": 0},
        {"image": 5},
    ],
)
def test_bad_json_requests_are_422(client: Any, body: dict[str, Any]) -> None:
    response = client.post(ROUTE, json=body)
    assert response.status_code == 422
    assert error_of(response)["code"] == "validation_error"


def test_integral_float_top_k_is_an_integer(client: Any, split: Split) -> None:
    """JSON Schema's integer includes 3.0, so the server takes it as 3."""
    response = client.post(ROUTE, json={"image": b64(render_digit(split.test_x[0])), "top_k": 3.0})
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"][0]) == 3


def test_openapi_states_the_limits(client: Any) -> None:
    from lamina.settings import Settings

    spec = client.get("/openapi.json").json()
    body = spec["paths"][ROUTE]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"] == [{"required": ["image"]}, {"required": ["images"]}]
    assert body["properties"]["images"]["maxItems"] == Settings().max_batch_images
    for name in ("LAMINA_MAX_IMAGE_PIXELS", "LAMINA_MAX_REQUEST_PIXELS"):
        assert name in body["properties"]["images"]["description"]
    assert body["properties"]["image"]["type"] == "string"  # not nullable
    assert body["properties"]["top_k"]["minimum"] == 1


def test_too_many_images(client: Any, image_app: Any) -> None:
    from functions.image_classify.app import served

    settings = served.settings

    images = ["AAAA"] * (settings.max_batch_images + 1)
    response = client.post(ROUTE, json={"images": images})
    assert response.status_code == 422
    assert error_of(response)["code"] == "too_many_items"
    assert f"at most {settings.max_batch_images}" in error_of(response)["message"]


def test_request_pixel_budget_is_checked_before_decoding(client: Any) -> None:
    """LAMINA_MAX_REQUEST_PIXELS (64 M): five images of 16 M pixels each are each within
    LAMINA_MAX_IMAGE_PIXELS, 80 M together; refused from their headers (the PNGs only claim
    the size: decoding one would fail as invalid_image)."""
    from lamina.settings import Settings

    side = 4000
    assert side * side <= Settings().max_image_pixels
    images = [b64(png_claiming(side, side))] * 5
    response = client.post(ROUTE, json={"images": images})
    assert response.status_code == 413, response.text
    error = error_of(response)
    assert (error["code"], error["param"]) == ("request_too_many_pixels", "images")
    assert "80,000,000" in error["message"]
    within = client.post(ROUTE, json={"images": images[:4]})
    assert error_of(within)["code"] == "invalid_image"  # 64 M: the budget lets it through


def test_query_top_k_with_json_body_is_refused(client: Any) -> None:
    response = client.post(f"{ROUTE}?top_k=3", json={"image": "AAAA"})
    assert response.status_code == 422
    assert error_of(response)["param"] == "top_k"


def test_lambda_event_with_base64_png_body(
    image_app: Any, split: Split, lambda_context: LambdaContext
) -> None:
    from functions.image_classify.handler import handler

    index = int(np.flatnonzero(split.test_y == 6)[0])
    event = api_event("http", "POST", ROUTE)
    event.update(
        rawQueryString="top_k=3",
        headers={"content-type": "image/png"},
        body=b64(render_digit(split.test_x[index])),
        isBase64Encoded=True,
    )
    response = handler(event, lambda_context)
    assert response["statusCode"] == 200
    raw = response["body"]
    body = json.loads(base64.b64decode(raw) if response.get("isBase64Encoded") else raw)
    assert labels_of(body) == ["6"]
    assert len(body["predictions"][0]) == 3
