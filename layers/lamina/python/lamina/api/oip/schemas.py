"""Request and response models of the Open Inference Protocol (KServe v2 REST)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from lamina.inference.onnx_model import MAX_RANK

SERVER_NAME = "lamina"
PLATFORM = "onnxruntime_onnx"  # what Triton calls an ONNX Runtime model
SQL_PLATFORM = "duckdb_sql"  # a query model (manifest task sql)

_PARAMETERS = (
    "Free-form parameters (protocol extensions). lamina reads those of the binary tensor data "
    "extension and ignores the others."
)
_INPUT_PARAMETERS = (
    "Free-form parameters. `binary_data_size` (integer): this input's data is that many raw "
    "bytes after the JSON header (binary tensor data extension); lamina ignores the others."
)
_OUTPUT_PARAMETERS = (
    "Free-form parameters. `binary_data` (boolean): return this output as raw bytes after "
    "the JSON header (binary tensor data extension), overriding the request's "
    "`binary_data_output`; lamina ignores the others."
)
_REQUEST_PARAMETERS = (
    "Free-form parameters. `binary_data_output` (boolean): return every output as raw "
    "bytes unless its own `binary_data` says otherwise; lamina ignores the others."
)


# --- protocol models --------------------------------------------------------------------


class MetadataTensor(BaseModel):
    name: str = Field(description="The tensor's name in the graph.")
    datatype: str = Field(
        description="BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64 or BYTES; a type the "
        "protocol cannot carry shows ONNX Runtime's name, e.g. tensor(bfloat16)."
    )
    shape: list[int] = Field(description="Sizes, -1 for a variable dimension.")


class ServerMetadataResponse(BaseModel):
    name: str = Field(description="The server's name.")
    version: str = Field(description="The server's version (lamina's).")
    extensions: list[str] = Field(description="Protocol extensions supported: binary_tensor_data.")


class ServerLiveResponse(BaseModel):
    live: bool = Field(description="True: the process answers requests.")


class ServerReadyResponse(BaseModel):
    ready: bool = Field(description="True: every configured model is loaded.")


class ModelReadyResponse(BaseModel):
    name: str = Field(description="The model's name.")
    ready: bool = Field(description="True: the model is loaded and can infer.")


class ModelMetadataResponse(BaseModel):
    name: str = Field(description="The model's name (its manifest's).")
    versions: list[str] = Field(description="Versions served: the one loaded.")
    platform: str = Field(description="The framework that runs it.")
    inputs: list[MetadataTensor] = Field(description="Inputs, all required, in graph order.")
    outputs: list[MetadataTensor] = Field(description="Outputs, in graph order.")


class RequestInput(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(description="The model input it feeds.")
    shape: list[StrictInt] = Field(
        description="The tensor's actual sizes (no -1): at most 64 dimensions, whose product "
        "(the element count) is at most LAMINA_MAX_TENSOR_ELEMENTS (400 otherwise, checked "
        "before the data is read).",
        json_schema_extra={"maxItems": MAX_RANK},
    )
    datatype: str = Field(description="The model input's datatype, e.g. FP32.")
    parameters: dict[str, Any] | None = Field(default=None, description=_INPUT_PARAMETERS)
    data: list[Any] | None = Field(
        default=None,
        description="Values in row-major order, flat or nested to match the shape; absent "
        "when `parameters.binary_data_size` gives them as binary data.",
    )


class RequestOutput(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(description="An output of the model to return.")
    parameters: dict[str, Any] | None = Field(default=None, description=_OUTPUT_PARAMETERS)


class InferenceRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = Field(default=None, description="Echoed in the response.")
    parameters: dict[str, Any] | None = Field(default=None, description=_REQUEST_PARAMETERS)
    inputs: list[RequestInput] = Field(min_length=1, description="One tensor per model input.")
    outputs: list[RequestOutput] | None = Field(
        default=None, description="Outputs to return, in this order; absent: all of them."
    )


class ResponseOutput(BaseModel):
    name: str = Field(description="The output's name.")
    shape: list[int] = Field(description="The tensor's sizes.")
    datatype: str = Field(description="The output's datatype.")
    parameters: dict[str, Any] | None = Field(
        default=None,
        description="`binary_data_size`: the output is that many raw bytes after the JSON "
        "header, in the order of the outputs (binary tensor data extension).",
    )
    data: list[Any] | None = Field(
        default=None, description="Values, flat, row-major; absent for a binary output."
    )


class InferenceResponse(BaseModel):
    model_name: str = Field(description="The model that answered.")
    model_version: str = Field(description="Its version.")
    id: str = Field(description="The request's id, else the X-Request-ID of this request.")
    parameters: dict[str, Any] | None = Field(default=None, description=_PARAMETERS)
    outputs: list[ResponseOutput] = Field(description="The requested outputs, in order.")


class OipError(BaseModel):
    """The protocol's error body, every error under /v2."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="What went wrong, for a human; names the input at fault.")


class ServedModel(BaseModel):
    name: str = Field(description="Model name.")
    version: str = Field(description="Model version.")


class OipHealthResponse(BaseModel):
    status: Literal["ok"] = Field(description="ok when every model is loaded and serving.")
    model_loaded: bool = Field(description="Whether the models are loaded.")
    models: list[ServedModel] = Field(description="The models served.")


# --- the plain route of query models: POST /api/v1/models/{name}/predict ------------------

ParameterValue = StrictBool | StrictInt | StrictFloat | StrictStr | None


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, ParameterValue] = Field(
        default_factory=dict,
        description="The query model's parameters by name (its metadata lists them: GET "
        "/v2/models/{name}); a missing one takes its default, or is refused if it has none.",
        examples=[{"region": "seoul", "top_k": 5}],
    )


class PredictColumn(BaseModel):
    name: str = Field(description="The column's name.")
    datatype: str = Field(description="BOOL, INT64, FP64 or BYTES (text; dates as ISO 8601).")


class PredictResponse(BaseModel):
    model: str = Field(description="The model that answered.")
    model_version: str = Field(description="Its version.")
    columns: list[PredictColumn] = Field(description="The columns of every row, in order.")
    rows: list[dict[str, ParameterValue]] = Field(
        description="The query's rows, in its order, each by column name (null where the "
        "query gives NULL)."
    )
    row_count: int = Field(description="Rows returned.")
    truncated: bool = Field(
        description="True when the query gave more rows than the model's max_rows, which "
        "were cut off."
    )
