"""Single ops of multilingual-e5-small's q4 graph, run natively or under an emulator, to
show which kernels compute the same bits on every CPU path and which do not.

    python -m tests.cpu.q4_ops build MODEL_DIR WORK_DIR   (host: needs onnx)
    python -m tests.cpu.q4_ops run WORK_DIR OUT.npz       (numpy + onnxruntime only)

``build`` writes one-node graphs with random inputs: two MatMulNBits taken from the model
(layer 0's query projection, K=384, and FFN down projection, K=1536; 4-bit, blocks of 32,
accuracy_level 0) applied to 128 rows, and a Softmax over rows of 128 (attention's). ``run``
runs each on one thread and saves the outputs (key = graph name).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

ROWS = 128
GRAPHS = ("matmulnbits_q", "matmulnbits_ffn_down", "softmax")


def build(model_dir: Path, work: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(model_dir / "model.onnx"))
    weights = {init.name: init for init in model.graph.initializer}
    rng = np.random.default_rng(0)
    work.mkdir(parents=True, exist_ok=True)

    def save(
        name: str, node: onnx.NodeProto, inputs: dict[str, np.ndarray], inits: list[Any]
    ) -> None:
        graph = helper.make_graph(
            [node],
            name,
            [
                helper.make_tensor_value_info(key, TensorProto.FLOAT, list(value.shape))
                for key, value in inputs.items()
            ],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
            inits,
        )
        opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
        one = helper.make_model(graph, opset_imports=opsets)
        one.ir_version = model.ir_version
        onnx.save(one, str(work / f"{name}.onnx"))
        np.savez(work / f"{name}.npz", **inputs)  # type: ignore[arg-type]

    for name, prefix in (("matmulnbits_q", "l0.q"), ("matmulnbits_ffn_down", "l0.fo")):
        (source,) = [
            n
            for n in model.graph.node
            if n.op_type == "MatMulNBits" and n.input[1] == f"{prefix}.q4"
        ]
        attributes = {a.name: helper.get_attribute_value(a) for a in source.attribute}
        if attributes["bits"] != 4 or attributes["accuracy_level"] != 0:
            raise ValueError(f"{prefix}: not 4-bit with fp32 activations: {attributes}")
        node = helper.make_node(
            "MatMulNBits", ["A", *source.input[1:]], ["Y"], domain="com.microsoft", **attributes
        )
        a = rng.standard_normal((1, ROWS, attributes["K"])).astype(np.float32)
        save(name, node, {"A": a}, [weights[i] for i in source.input[1:] if i])
    scores = (rng.standard_normal((1, 12, ROWS, ROWS)) * 3).astype(np.float32)
    save("softmax", helper.make_node("Softmax", ["X"], ["Y"], axis=-1), {"X": scores}, [])


def run(work: Path, out: Path) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    outputs = {}
    for name in GRAPHS:
        session = ort.InferenceSession(
            str(work / f"{name}.onnx"), options, providers=["CPUExecutionProvider"]
        )
        with np.load(work / f"{name}.npz") as feeds:
            outputs[name] = session.run(None, {key: feeds[key] for key in feeds.files})[0]
    np.savez(out, **outputs)


def main(argv: list[str]) -> int:
    command, first, second = argv
    if command == "build":
        build(Path(first), Path(second))
    else:
        run(Path(first), Path(second))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
