"""What every text model shares: tokenizer and session loading, the preprocess stage
(tokenize, refuse or flag over-long texts, plan length-aware batches) and the batched
inference loop. The embedder and the text classifier differ only in what they keep of each
run's outputs and in their postprocess.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self, TypeVar

import numpy as np

from lamina.errors import InvalidInputError, ModelLoadError, TextTooLongError
from lamina.inference.batching import plan_batches
from lamina.inference.lifecycle import InferenceModel
from lamina.inference.session import create_session
from lamina.inference.tokenizer import Encoded, TextTokenizer, pad_batch
from lamina.models.manifest import Manifest, Task, open_model_dir
from lamina.settings import Settings

In = TypeVar("In")
Pre = TypeVar("Pre")
Raw = TypeVar("Raw")
Out = TypeVar("Out")

# What a run keeps: (outputs of one ONNX run, attention mask) -> one (batch, ...) array each.
Reduce = Callable[[list[np.ndarray], np.ndarray], list[np.ndarray]]


@dataclass(frozen=True)
class TokenizedTexts:
    """Preprocess output: unpadded token ids and the batches they will run in."""

    encoded: Encoded
    batches: list[list[int]]

    @property
    def count(self) -> int:
        return len(self.encoded.ids)


@dataclass(frozen=True)
class TokenizeResult:
    ids: list[int]
    tokens: list[str]
    truncated: bool


def require_texts(texts: Sequence[str]) -> None:
    """InvalidInputError for an empty list of texts."""
    if not texts:
        raise InvalidInputError("nothing to process: the list of texts is empty")


class TextModel(InferenceModel[In, Pre, Raw, Out]):
    """A tokenizer and an ONNX session whose inputs are ``input_ids`` and ``attention_mask``.

    Subclasses name the manifest ``TASK`` they serve and implement ``warm_up``; ``load`` is
    their initialize stage.
    """

    TASK: ClassVar[Task]

    def __init__(
        self,
        model_dir: Path,
        manifest: Manifest,
        *,
        token_budget: int = 8192,
        max_run_batch: int = 64,
        intra_op_threads: int = 0,
    ) -> None:
        text = manifest.text_spec()
        self.model_dir = model_dir
        self.manifest = manifest
        self.max_seq_length = text.max_seq_length
        self.token_budget = token_budget
        self.max_run_batch = max_run_batch
        try:
            self._tokenizer = TextTokenizer(model_dir / text.tokenizer_file, text.max_seq_length)
            self._session = create_session(model_dir / manifest.model_file, intra_op_threads)
        except Exception as exc:  # onnxruntime and tokenizers raise their own types
            raise ModelLoadError(f"cannot load model from {model_dir}: {exc}") from exc
        self._input_names = {item.name for item in self._session.get_inputs()}
        self.output_names = [item.name for item in self._session.get_outputs()]
        missing = {"input_ids", "attention_mask"} - self._input_names
        if missing:
            raise ModelLoadError(f"{manifest.model_file} lacks inputs {sorted(missing)}")

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        verify: bool = True,
        token_budget: int = 8192,
        max_run_batch: int = 64,
        intra_op_threads: int = 0,
        warmup: bool = True,
    ) -> Self:
        """initialize: verify the directory, check its task, open the session, warm up."""
        manifest = open_model_dir(model_dir, verify=verify)
        if manifest.task != cls.TASK:
            raise ModelLoadError(
                f"{manifest.name} is a {manifest.task} model, not a {cls.TASK} one"
            )
        model = cls(
            model_dir,
            manifest,
            token_budget=token_budget,
            max_run_batch=max_run_batch,
            intra_op_threads=intra_op_threads,
        )
        if warmup:
            model.warm_up()
        return model

    @classmethod
    def from_settings(cls, model_dir: Path, *, verify: bool, settings: Settings) -> Self:
        """``load`` with this deployment's settings (the cold-start loader's entry point)."""
        return cls.load(
            model_dir,
            verify=verify,
            token_budget=settings.batch_token_budget,
            max_run_batch=settings.max_run_batch,
            intra_op_threads=settings.intra_op_threads,
        )

    def warm_up(self) -> None:
        """Run the graph once, so the first request does not pay ONNX Runtime's first run."""
        self.run_batches(self.tokenize_texts(["warm up the session"]), self.output_names[:1])

    def tokenize_texts(self, texts: Sequence[str], *, truncate: bool = True) -> TokenizedTexts:
        """The heart of every text model's preprocess stage."""
        require_texts(texts)
        encoded = self._tokenizer.encode(texts)
        if not truncate:
            for index, was_cut in enumerate(encoded.truncated):
                if was_cut:
                    raise TextTooLongError(
                        f"text {index} is longer than the model's limit of "
                        f"{self.max_seq_length} tokens (truncate is off)",
                        index=index,
                    )
        return self.batched(encoded)

    def batched(self, encoded: Encoded) -> TokenizedTexts:
        """``encoded`` and the length-aware batches it will run in (under the token budget)."""
        batches = plan_batches(encoded.lengths, self.token_budget, self.max_run_batch)
        return TokenizedTexts(encoded, batches)

    def run_batches(
        self, tokens: TokenizedTexts, outputs: Sequence[str], reduce: Reduce | None = None
    ) -> list[np.ndarray]:
        """Run every batch; return each requested output for all texts, in input order.

        ``reduce`` shrinks a run's outputs before they are kept (the embedder pools
        ``last_hidden_state`` here, so no (n, seq, hidden) tensor outlives its run).
        """
        results: list[np.ndarray] | None = None
        for batch in tokens.batches:
            ids, mask = pad_batch([tokens.encoded.ids[i] for i in batch])
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            ran = self._session.run(list(outputs), feeds)
            kept = reduce(ran, mask) if reduce else ran
            if results is None:
                results = [np.empty((tokens.count, *k.shape[1:]), dtype=k.dtype) for k in kept]
            for whole, part in zip(results, kept, strict=True):
                whole[batch] = part
        assert results is not None  # tokenize_texts refuses an empty list
        return results

    def tokenize(self, text: str) -> TokenizeResult:
        """The model's view of one text (for /api/v1/tokenize)."""
        ids, tokens, truncated = self._tokenizer.tokens(text)
        return TokenizeResult(ids=ids, tokens=tokens, truncated=truncated)
