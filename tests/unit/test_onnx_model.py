"""OnnxModel on small graphs built here with onnx.helper: signature, every refusal of a
request tensor, conversions both ways, nested data, output order, unsupported types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from lamina.errors import TensorError
from lamina.inference.onnx_model import InferRequest, InputTensor, OnnxModel, TensorSpec
from lamina.models.manifest import Manifest, SourceInfo, file_entry, write_manifest

F, I64, BOOL, U8 = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL, TensorProto.UINT8


def write_model_dir(root: Path, graph: onnx.GraphProto, name: str) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    root.mkdir(parents=True)
    onnx.save_model(model, str(root / "model.onnx"))
    write_manifest(
        root,
        Manifest(
            name=name,
            version="3",
            task="generic",
            variant="fp32",
            quantization="none",
            opset=17,
            source=SourceInfo(
                model_id=f"test/{name}", package="lamina", package_version="0", license="MIT"
            ),
            files=[file_entry(root, "model.onnx")],
            created_at="2026-01-01T00:00:00+00:00",
        ),
    )
    return root


def value(name: str, elem: int, shape: list[Any] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> OnnxModel:
    """x FP32 [batch, 3], y INT64 [2, ?], b BOOL [batch], u UINT8 [n] -> five outputs."""
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["x", "x"], ["x2"]),
            helper.make_node("Identity", ["y"], ["y_out"]),
            helper.make_node("Not", ["b"], ["not_b"]),
            helper.make_node("Identity", ["u"], ["u_out"]),
            helper.make_node("Cast", ["x"], ["half"], to=TensorProto.FLOAT16),
        ],
        "toy",
        [
            value("x", F, ["batch", 3]),
            value("y", I64, [2, None]),
            value("b", BOOL, ["batch"]),
            value("u", U8, ["n"]),
        ],
        [
            value("x2", F, ["batch", 3]),
            value("y_out", I64, [2, None]),
            value("not_b", BOOL, ["batch"]),
            value("u_out", U8, ["n"]),
            value("half", TensorProto.FLOAT16, ["batch", 3]),
        ],
    )
    root = write_model_dir(tmp_path_factory.mktemp("toy") / "toy", graph, "toy")
    return OnnxModel.load(root, warmup=True)


def tensors(**overrides: Any) -> list[InputTensor]:
    """A valid request for the toy model; ``name=None`` drops an input, a dict replaces it."""
    base = {
        "x": InputTensor("x", "FP32", [2, 3], [0.5, 1, 2, 3, 4, 5]),
        "y": InputTensor("y", "INT64", [2, 2], [1, -2, 3, 2**40]),
        "b": InputTensor("b", "BOOL", [2], [True, False]),
        "u": InputTensor("u", "UINT8", [3], [0, 7, 255]),
    }
    for name, change in overrides.items():
        if change is None:
            del base[name]
        else:
            base[name] = InputTensor(**{**base[name].__dict__, **change})
    return list(base.values())


def test_signature_from_the_graph(toy: OnnxModel) -> None:
    assert toy.inputs == [
        TensorSpec("x", "FP32", (-1, 3), ("batch", None)),
        TensorSpec("y", "INT64", (2, -1), (None, None)),
        TensorSpec("b", "BOOL", (-1,), ("batch",)),
        TensorSpec("u", "UINT8", (-1,), ("n",)),
    ]
    assert [(o.name, o.datatype, o.shape) for o in toy.outputs] == [
        ("x2", "FP32", (-1, 3)),
        ("y_out", "INT64", (2, -1)),
        ("not_b", "BOOL", (-1,)),
        ("u_out", "UINT8", (-1,)),
        ("half", "FP16", (-1, 3)),
    ]


def test_warm_up_runs_the_graph_on_zeros(toy: OnnxModel) -> None:
    assert toy.warm_up() is True


def test_infer_converts_both_ways(toy: OnnxModel) -> None:
    result = toy.infer(InferRequest(tensors()))
    out = {o.name: o for o in result.outputs}
    assert [o.name for o in result.outputs] == ["x2", "y_out", "not_b", "u_out", "half"]
    assert out["x2"].shape == [2, 3]
    assert out["x2"].data == [1.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert out["y_out"].data == [1, -2, 3, 2**40]
    assert all(type(v) is int for v in out["y_out"].data)
    assert out["not_b"].data == [False, True]
    assert all(type(v) is bool for v in out["not_b"].data)
    assert (out["u_out"].datatype, out["u_out"].data) == ("UINT8", [0, 7, 255])
    # FP16 comes back as plain floats, rounded as float16 rounds them.
    assert out["half"].datatype == "FP16"
    assert all(type(v) is float for v in out["half"].data)
    assert out["half"].data[0] == 0.5
    assert result.items == 2
    assert result.timings.total_ms > 0


def test_fp32_values_are_rounded_like_float32(toy: OnnxModel) -> None:
    result = toy.infer(InferRequest(tensors(x={"data": [0.1, 0, 0, 0, 0, 0]}), outputs=["x2"]))
    assert result.outputs[0].data[0] == float(np.float32(0.1) * 2)


def test_requested_outputs_come_in_the_requested_order(toy: OnnxModel) -> None:
    result = toy.infer(InferRequest(tensors(), outputs=["u_out", "x2"]))
    assert [o.name for o in result.outputs] == ["u_out", "x2"]


def test_nested_data_equals_flat(toy: OnnxModel) -> None:
    nested = tensors(x={"data": [[0.5, 1, 2], [3, 4, 5]]}, y={"data": [[1, -2], [3, 2**40]]})
    flat = toy.infer(InferRequest(tensors())).outputs
    assert toy.infer(InferRequest(nested)).outputs == flat


def test_integral_floats_are_accepted_as_integers(toy: OnnxModel) -> None:
    result = toy.infer(InferRequest(tensors(y={"data": [1.0, 2, 3, 4]}), outputs=["y_out"]))
    assert result.outputs[0].data == [1, 2, 3, 4]


def test_input_order_does_not_matter(toy: OnnxModel) -> None:
    reordered = list(reversed(tensors()))
    assert toy.infer(InferRequest(reordered)).outputs == toy.infer(InferRequest(tensors())).outputs


REFUSALS = [
    # (what, request inputs, requested outputs, param, words in the message)
    (
        "unknown input",
        [*tensors(), InputTensor("z", "FP32", [1], [1.0])],
        None,
        "inputs[4]",
        ["'z'", "not an input"],
    ),
    ("missing input", tensors(u=None), None, "inputs", ["'u'", "lacks"]),
    (
        "duplicate input",
        [tensors()[0], *tensors()],
        None,
        "inputs[1]",
        ["'x'", "twice", "inputs[0]"],
    ),
    ("other datatype", tensors(x={"datatype": "FP64"}), None, "inputs[0]", ["'x'", "FP64"]),
    ("unknown datatype", tensors(b={"datatype": "FLOAT"}), None, "inputs[2]", ["'b'", "FLOAT"]),
    (
        "rank",
        tensors(x={"shape": [6], "data": [1.0] * 6}),
        None,
        "inputs[0]",
        ["'x'", "rank 1", "rank 2"],
    ),
    (
        "fixed dimension",
        tensors(x={"shape": [2, 4], "data": [1.0] * 8}, b={"shape": [2]}),
        None,
        "inputs[0]",
        ["'x'", "size 4 in dimension 1"],
    ),
    (
        "fixed leading dimension",
        tensors(y={"shape": [4, 1]}),
        None,
        "inputs[1]",
        ["'y'", "size 4 in dimension 0"],
    ),
    (
        "data length",
        tensors(x={"data": [1.0, 2.0]}),
        None,
        "inputs[0]",
        ["'x'", "2 values", "needs 6"],
    ),
    ("negative size", tensors(u={"shape": [-1]}), None, "inputs[3]", ["'u'", "negative"]),
    (
        "zero size",
        tensors(u={"shape": [0], "data": []}),
        None,
        "inputs[3]",
        ["'u'", "empty"],
    ),
    (
        "string in FP32",
        tensors(x={"data": [1, 2, "3", 4, 5, 6]}),
        None,
        "inputs[0]",
        ["'x'", "'3'", "index 2", "not a number"],
    ),
    (
        "bool in FP32",
        tensors(x={"data": [1, 2, 3, True, 5, 6]}),
        None,
        "inputs[0]",
        ["'x'", "True", "not a number"],
    ),
    (
        "FP32 overflow",
        tensors(x={"data": [1, 2, 3, 4, 5, 1e39]}),
        None,
        "inputs[0]",
        ["'x'", "1e+39", "in range"],
    ),
    (
        "integer beyond float64",
        tensors(x={"data": [1, 2, 3, 4, 5, 10**400]}),
        None,
        "inputs[0]",
        ["'x'", "in range"],
    ),
    (
        "1.5 in INT64",
        tensors(y={"data": [1, 1.5, 3, 4]}),
        None,
        "inputs[1]",
        ["'y'", "1.5", "not an integer"],
    ),
    (
        "bool in INT64",
        tensors(y={"data": [1, 2, False, 4]}),
        None,
        "inputs[1]",
        ["'y'", "not an integer"],
    ),
    (
        "INT64 overflow",
        tensors(y={"data": [1, 2, 3, 2**63]}),
        None,
        "inputs[1]",
        ["'y'", str(2**63), "in range"],
    ),
    (
        "300 in UINT8",
        tensors(u={"data": [0, 300, 1]}),
        None,
        "inputs[3]",
        ["'u'", "300", "index 1", "0..255"],
    ),
    (
        "negative UINT8",
        tensors(u={"data": [0, 1, -1]}),
        None,
        "inputs[3]",
        ["'u'", "-1", "0..255"],
    ),
    (
        "number in BOOL",
        tensors(b={"data": [True, 1]}),
        None,
        "inputs[2]",
        ["'b'", "true or false"],
    ),
    (
        "nested data of another shape",
        tensors(x={"data": [[1, 2, 3, 4], [5, 6]]}),
        None,
        "inputs[0]",
        ["'x'", "nested", "depth 1"],
    ),
    (
        "nested deeper than the shape",
        tensors(u={"data": [[0], [1], [2]]}),
        None,
        "inputs[3]",
        ["'u'", "deeper"],
    ),
    (
        "shared symbolic size",
        tensors(b={"shape": [3], "data": [True, True, False]}),
        None,
        "inputs[2]",
        ["'b'", "'batch'", "'x'"],
    ),
    ("unknown output", tensors(), ["x2", "nope"], "outputs[1]", ["'nope'", "not an output"]),
    ("duplicate output", tensors(), ["x2", "x2"], "outputs[1]", ["'x2'", "twice"]),
]


@pytest.mark.parametrize(
    ("inputs", "outputs", "param", "words"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_refusals_name_the_tensor_and_say_why(
    toy: OnnxModel,
    inputs: list[InputTensor],
    outputs: list[str] | None,
    param: str,
    words: list[str],
) -> None:
    with pytest.raises(TensorError) as caught:
        toy.infer(InferRequest(inputs, outputs))
    assert caught.value.param == param
    for word in words:
        assert word in caught.value.message


def test_bytes_in_and_out(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["s"], ["s_out"])],
        "strings",
        [value("s", TensorProto.STRING, [None])],
        [value("s_out", TensorProto.STRING, [None])],
    )
    model = OnnxModel.load(write_model_dir(tmp_path / "s", graph, "strings"))
    assert model.inputs[0].datatype == "BYTES"
    result = model.infer(InferRequest([InputTensor("s", "BYTES", [3], ["héllo", "", "ok"])]))
    assert result.outputs[0].data == ["héllo", "", "ok"]
    with pytest.raises(TensorError, match="not a string"):
        model.infer(InferRequest([InputTensor("s", "BYTES", [1], [5])]))


def test_unsupported_output_type_loads_and_is_refused_by_name(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [
            helper.make_node("Identity", ["x"], ["y"]),
            helper.make_node("SequenceConstruct", ["x"], ["seq"]),
        ],
        "odd_out",
        [value("x", F, [None])],
        [value("y", F, [None]), helper.make_tensor_sequence_value_info("seq", F, None)],
    )
    model = OnnxModel.load(write_model_dir(tmp_path / "o", graph, "odd"), warmup=True)
    assert model.outputs[1].datatype == "seq(tensor(float))"
    assert model.warm_up() is True  # on the outputs it can carry
    request = [InputTensor("x", "FP32", [2], [1.0, 2.0])]
    with pytest.raises(TensorError, match=r"'seq'.*cannot carry.*outputs") as caught:
        model.infer(InferRequest(request))
    assert caught.value.param == "outputs"
    with pytest.raises(TensorError, match="'seq'") as caught:
        model.infer(InferRequest(request, outputs=["seq"]))
    assert caught.value.param == "outputs[0]"
    assert model.infer(InferRequest(request, outputs=["y"])).outputs[0].data == [1.0, 2.0]


def test_unsupported_input_type_loads_and_is_refused(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Cast", ["bf"], ["f"], to=F)],
        "odd_in",
        [value("bf", TensorProto.BFLOAT16, [2])],
        [value("f", F, [2])],
    )
    model = OnnxModel.load(write_model_dir(tmp_path / "i", graph, "odd_in"), warmup=True)
    assert model.inputs[0].datatype == "tensor(bfloat16)"
    assert model.warm_up() is False  # nothing to feed it with
    with pytest.raises(TensorError, match=r"'bf'.*tensor\(bfloat16\)") as caught:
        model.infer(InferRequest([InputTensor("bf", "tensor(bfloat16)", [2], [1.0, 2.0])]))
    assert caught.value.param == "inputs[0]"


def test_runtime_refusal_is_a_tensor_error(tmp_path: Path) -> None:
    """Values that pass the signature but not the graph (an index out of range)."""
    table = helper.make_tensor("table", F, [3], [1.0, 2.0, 3.0])
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "i"], ["picked"])],
        "gather",
        [value("i", I64, [None])],
        [value("picked", F, [None])],
        initializer=[table],
    )
    model = OnnxModel.load(write_model_dir(tmp_path / "g", graph, "gather"), warmup=True)
    assert model.infer(InferRequest([InputTensor("i", "INT64", [2], [2, 0])])).outputs[0].data == [
        3.0,
        1.0,
    ]
    with pytest.raises(TensorError, match="gather cannot run on these inputs"):
        model.infer(InferRequest([InputTensor("i", "INT64", [1], [7])]))


def test_warm_up_failure_is_not_a_load_failure(tmp_path: Path) -> None:
    """Zeros mean nothing to this graph (reshape one value to shape [0]); it still loads."""
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "to"], ["y"], allowzero=1)],
        "reshape",
        [value("x", F, [None]), value("to", I64, [1])],
        [value("y", F, [None])],
    )
    model = OnnxModel.load(write_model_dir(tmp_path / "r", graph, "reshape"), warmup=True)
    assert model.warm_up() is False
    request = [InputTensor("x", "FP32", [2], [1.0, 2.0]), InputTensor("to", "INT64", [1], [2])]
    assert model.infer(InferRequest(request)).outputs[0].data == [1.0, 2.0]
