"""The Open Inference Protocol (KServe v2, REST): any ONNX model by its signature.

``OipService`` serves one or more model directories (``LAMINA_MODELS``, else
``MODEL_URI``), each under its manifest's name and version; the protocol's request and
response models are in ``lamina.api.oip.schemas``, the binary tensor data extension's body
in ``lamina.api.oip.binary``, the OpenAPI document's protocol parts in
``lamina.api.oip.openapi``. No HTTP here: ``functions/onnx/app.py`` maps one route to one
method.

Endpoints (routes in the function):

- ``GET /v2``: server metadata; ``GET /v2/health/live``, ``GET /v2/health/ready``;
- ``GET /v2/models/{name}[/versions/{version}]``: model metadata (inputs and outputs with
  name, datatype and shape, -1 for a variable dimension);
- ``GET /v2/models/{name}[/versions/{version}]/ready``;
- ``POST /v2/models/{name}[/versions/{version}]/infer``.

Errors under ``/v2`` have the protocol's body, ``{"error": "<message>"}`` (lamina.api.errors):
a malformed body or a tensor that does not match the signature is a 400 naming the input
(never a 422), an unknown model or version a 404, a body over the limit a 413, models that
failed to load a 503. NaN and infinity are refused, in inputs and in outputs (400): JSON
cannot carry them and clients do not expect them.

The binary tensor data extension is supported, both ways (``extensions`` lists
``binary_tensor_data``): inputs as raw bytes after the JSON header, outputs too when asked
(``binary_data`` / ``binary_data_output``). The shared-memory and classification extensions
are not: their parameters are refused; other ``parameters`` are accepted and ignored.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Mapping

from lamina import __version__
from lamina.api.monitor import Monitor, top_labels
from lamina.api.oip.binary import ParsedRequest, binary_outputs
from lamina.api.oip.schemas import (
    PLATFORM,
    SERVER_NAME,
    SQL_PLATFORM,
    InferenceRequest,
    InferenceResponse,
    MetadataTensor,
    ModelMetadataResponse,
    ModelReadyResponse,
    OipHealthResponse,
    PredictColumn,
    PredictRequest,
    PredictResponse,
    ResponseOutput,
    ServedModel,
    ServerMetadataResponse,
)
from lamina.api.variants import Variants, ab_variants
from lamina.errors import ModelNotFoundError, ParameterError
from lamina.inference.classifier import PROBABILITIES
from lamina.inference.generic import GenericModel, TensorModel
from lamina.inference.load import load_candidates, load_models
from lamina.inference.onnx_model import (
    InferRequest,
    InferResult,
    InputTensor,
    TensorSpec,
)
from lamina.models.manifest import Manifest, read_labels
from lamina.observability import Telemetry
from lamina.settings import Settings

EXTENSIONS = ["binary_tensor_data"]


def server_metadata() -> ServerMetadataResponse:
    """Answerable with or without models: it describes the server."""
    return ServerMetadataResponse(name=SERVER_NAME, version=__version__, extensions=EXTENSIONS)


def _metadata(specs: list[TensorSpec]) -> list[MetadataTensor]:
    return [MetadataTensor(name=s.name, datatype=s.datatype, shape=list(s.shape)) for s in specs]


# --- the service ------------------------------------------------------------------------


class OipService:
    """The models of one function, by name; each serves the version it was loaded with."""

    def __init__(
        self,
        models: Mapping[str, TensorModel],
        settings: Settings,
        telemetry: Telemetry,
        candidates: Mapping[str, TensorModel] | None = None,
    ) -> None:
        self.models = dict(models)
        self.settings = settings
        self.telemetry = telemetry
        # Each model's versions: the control and an A/B test's candidate (lamina.api.variants).
        self.variants = ab_variants(self.models, candidates or {}, settings.ab_weight)
        self.monitor = Monitor.from_settings(settings, telemetry)
        self._labels = {
            id(m): read_labels(m.model_dir, m.manifest)
            for versions in self.variants.values()
            for m in (versions.control, versions.candidate)
            if m is not None and m.manifest.labels_file is not None
        }

    @classmethod
    def load(cls, settings: Settings, telemetry: Telemetry) -> OipService:
        """Cold start: fetch (if in S3), verify, load and warm up every configured model
        (and the A/B candidates of LAMINA_AB_CANDIDATES)."""
        models = load_models(GenericModel(), settings, telemetry)
        candidates = load_candidates(GenericModel(), settings, telemetry, models)
        return cls(models, settings, telemetry, candidates)

    @property
    def ab_tests(self) -> Mapping[str, Variants[TensorModel]]:
        return self.variants

    def _versions(self, name: str) -> Variants[TensorModel]:
        versions = self.variants.get(name)
        if versions is None:
            served = ", ".join(repr(n) for n in self.models)
            raise ModelNotFoundError(
                f"model {name!r} is not served here (models: {served})", param="model_name"
            )
        return versions

    def model(self, name: str, version: str | None = None) -> TensorModel:
        """The model called ``name`` in the version that answers the current request (an
        A/B test draws it); ``version``, if given, must be one loaded."""
        versions = self._versions(name)
        model = versions.pick(version=version)
        self._check_version(versions, model, version)
        return model

    def _described(self, name: str, version: str | None) -> TensorModel:
        """The model a metadata request names: ``version``, else the control (no draw)."""
        versions = self._versions(name)
        model = versions.control
        candidate = versions.candidate
        if version is not None and candidate is not None and candidate.manifest.version == version:
            model = candidate
        self._check_version(versions, model, version)
        return model

    @staticmethod
    def _check_version(
        versions: Variants[TensorModel], model: TensorModel, version: str | None
    ) -> None:
        if version is not None and version != model.manifest.version:
            served = [versions.control.manifest.version]
            if versions.candidate is not None:
                served.append(versions.candidate.manifest.version)
            raise ModelNotFoundError(
                f"model {versions.name!r} has no version {version!r} here; served: "
                + ", ".join(repr(v) for v in served),
                param="model_version",
            )

    def model_metadata(self, name: str, version: str | None = None) -> ModelMetadataResponse:
        model = self._described(name, version)
        versions = self.variants[name]
        return ModelMetadataResponse(
            name=model.name,
            versions=[
                m.manifest.version for m in (versions.control, versions.candidate) if m is not None
            ],
            platform=SQL_PLATFORM if model.manifest.task == "sql" else PLATFORM,
            inputs=_metadata(model.inputs),
            outputs=_metadata(model.outputs),
        )

    def model_ready(self, name: str, version: str | None = None) -> ModelReadyResponse:
        model = self._described(name, version)
        return ModelReadyResponse(name=model.name, ready=True)

    def infer(
        self,
        name: str,
        version: str | None,
        parsed: ParsedRequest | InferenceRequest,
        request_id: str | None = None,
    ) -> tuple[InferenceResponse, list[bytes]]:
        """The response and the binary data of its binary outputs, in order (none: all JSON)."""
        if isinstance(parsed, InferenceRequest):
            parsed = ParsedRequest(parsed, [None] * len(parsed.inputs))
        req = parsed.request
        model = self.model(name, version)
        result = model.infer(
            InferRequest(
                inputs=[
                    InputTensor(t.name, t.datatype, t.shape, t.data or (), raw)
                    for t, raw in zip(req.inputs, parsed.raw, strict=True)
                ],
                outputs=[o.name for o in req.outputs] if req.outputs else None,
            )
        )
        self._record(model.manifest, result)
        self._monitor(model, result)
        outputs: list[ResponseOutput] = []
        raw_outputs: list[bytes] = []
        binary = binary_outputs(req, [o.name for o in result.outputs])
        for output, as_bytes in zip(result.outputs, binary, strict=True):
            if as_bytes:
                data = output.raw()
                raw_outputs.append(data)
                outputs.append(
                    ResponseOutput(
                        name=output.name,
                        shape=output.shape,
                        datatype=output.datatype,
                        parameters={"binary_data_size": len(data)},
                    )
                )
            else:
                outputs.append(
                    ResponseOutput(
                        name=output.name,
                        shape=output.shape,
                        datatype=output.datatype,
                        data=output.data,
                    )
                )
        response = InferenceResponse(
            model_name=model.name,
            model_version=model.manifest.version,
            id=req.id or request_id or uuid.uuid4().hex,
            outputs=outputs,
        )
        return response, raw_outputs

    def predict(self, name: str, request: PredictRequest) -> PredictResponse:
        """A query model's rows for named parameters (the plain JSON route)."""
        from lamina.inference.sql_model import SqlModel

        model = self.model(name)
        if not isinstance(model, SqlModel):
            raise ParameterError(
                f"model {name!r} is an ONNX graph: it takes tensors, not named parameters "
                f"(POST /v2/models/{name}/infer)",
                param="name",
            )
        result = model.predict(request.parameters)
        self._record(model.manifest, InferResult([], len(result.rows), result.timings))
        names = [column.name for column in result.columns]
        return PredictResponse(
            model=model.name,
            model_version=model.manifest.version,
            columns=[PredictColumn(name=c.name, datatype=c.datatype) for c in result.columns],
            rows=[dict(zip(names, row, strict=True)) for row in result.rows],
            row_count=len(result.rows),
            truncated=result.truncated,
        )

    def health(self) -> OipHealthResponse:
        return OipHealthResponse(
            status="ok",
            model_loaded=True,
            models=[
                ServedModel(name=m.name, version=m.manifest.version) for m in self.models.values()
            ],
        )

    def _monitor(self, model: TensorModel, result: InferResult) -> None:
        """Drift monitoring: a classifier's labels (from its ``probabilities`` output) and a
        tabular model's feature rows (``lamina.api.monitor``)."""
        labels = self._labels.get(id(model))
        probabilities = next((o for o in result.outputs if o.name == PROBABILITIES), None)
        top: tuple[list[str], list[float]] | None = None
        if labels is not None and probabilities is not None:
            scores = probabilities.array
            if scores.ndim == 2 and scores.shape[1] == len(labels) and scores.shape[0]:
                top = top_labels(scores, labels)
        self.monitor.rows(
            model.manifest,
            result.inputs,
            labels=None if top is None else top[0],
            confidences=None if top is None else top[1],
        )

    def _record(self, manifest: Manifest, result: InferResult) -> None:
        """Stage metrics of one call, under the model that made it.

        One function may serve several models, so the model's dimensions are added per
        request (an invocation serves one request; they are cleared when metrics flush).
        """
        metrics = self.telemetry.metrics
        with warnings.catch_warnings():
            # One model and an A/B candidate: the model's default dimensions are replaced,
            # on purpose, by the version that answered.
            warnings.filterwarnings("ignore", message="Dimension .* has already been added")
            metrics.add_dimension("ModelName", manifest.name)
            metrics.add_dimension("ModelVersion", manifest.version)
        self.telemetry.stages(result.timings, result.items)
