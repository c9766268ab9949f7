"""The worked example of docs/adding-a-model.md: a new kind of model on lamina's lifecycle.

A spam score for raw text: the spam detector (``lamina models build --model spam-detector``)
takes five numeric features, so this model computes them from the text (preprocess), runs
the graph (inference) and keeps the spam column (postprocess). tests/integration/
test_adding_a_model.py runs this very file, so the guide cannot drift from the code.

    python docs/examples/spam_scorer.py build/models/spam-detector "see you at lunch" \
        "CONGRATULATIONS!!! You have WON a FREE cash prize. Claim it at http://win.example"
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lamina.errors import InvalidInputError, ModelLoadError
from lamina.inference.lifecycle import InferenceModel
from lamina.inference.session import create_session
from lamina.models.manifest import open_model_dir, read_labels
from lamina_tools.models.spam import features


class SpamScorer(InferenceModel[Sequence[str], np.ndarray, np.ndarray, list[float]]):
    """texts -> probability that each is spam."""

    def __init__(self, model_dir: Path, *, verify: bool = True) -> None:
        # initialize: once per process (a Lambda cold start), never per request.
        self.model_dir = model_dir
        self.manifest = open_model_dir(model_dir, verify=verify)
        self.labels = read_labels(model_dir, self.manifest)
        if "spam" not in self.labels:
            raise ModelLoadError(f"{self.manifest.name} has no 'spam' label")
        self._spam = self.labels.index("spam")
        self._session = create_session(model_dir / self.manifest.model_file)

    def preprocess(self, request: Sequence[str]) -> np.ndarray:
        if not request:
            raise InvalidInputError("send at least one text", param="texts")
        return np.asarray([features(text) for text in request], dtype=np.float32)

    def inference(self, inputs: np.ndarray) -> np.ndarray:
        (probabilities,) = self._session.run(["probabilities"], {"features": inputs})
        return np.asarray(probabilities)

    def postprocess(self, raw: np.ndarray) -> list[float]:
        return [float(p) for p in raw[:, self._spam]]


if __name__ == "__main__":
    scorer = SpamScorer(Path(sys.argv[1]))
    handled = scorer.handle(sys.argv[2:])
    for text, score in zip(sys.argv[2:], handled.output, strict=True):
        print(f"{score:.3f}  {text}")
    print(f"stages (ms): {handled.timings}")
