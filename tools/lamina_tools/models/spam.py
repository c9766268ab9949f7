"""The demo spam detector: five hand-made features of a message -> ham or spam.

It exists to show that lamina serves *any* ONNX graph (``task: generic``, through the Open
Inference Protocol), not to catch real spam: it is trained on synthetic messages that
``generate`` makes from templates, and its inputs are numbers, not text, so a client
computes ``features(text)`` itself and sends a (n, 5) FP32 tensor.

``features`` and ``generate`` are pure Python (no numpy), so a client or a test can
compute exactly what the model was trained on. ``build`` is build-time only: it imports
scikit-learn, skl2onnx and onnx, which never enter a Lambda image.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lamina import __version__
from lamina.models.manifest import (
    EvaluationReport,
    Manifest,
    SourceInfo,
    file_entry,
    write_manifest,
)
from lamina_tools.models.monitoring_reference import write_tabular_reference

log = logging.getLogger(__name__)

MODEL_NAME = "spam-detector"
MODEL_ID = "lamina/spam-detector"
LABELS = ("ham", "spam")  # class 0, class 1: the columns of `probabilities`
OPSET = 17
ML_OPSET = 3  # ai.onnx.ml: TreeEnsembleClassifier v3 runs on every ONNX Runtime since 1.x

FEATURES = ("length", "uppercase_ratio", "link_count", "exclamation_count", "suspicious_words")

# Counted case-insensitively, every occurrence. Some are common in ordinary messages too
# ("free for lunch?", "the offer letter", "verify the account numbers"): on purpose, a
# word alone must not decide.
SUSPICIOUS_WORDS = frozenset(
    {
        "account",
        "bonus",
        "cash",
        "claim",
        "click",
        "congratulations",
        "credit",
        "deal",
        "discount",
        "exclusive",
        "free",
        "gift",
        "guaranteed",
        "limited",
        "loan",
        "lottery",
        "offer",
        "prize",
        "reward",
        "selected",
        "urgent",
        "verify",
        "win",
        "winner",
        "won",
    }
)

# A link starts with http://, https:// or www. (any case) and runs to the next whitespace.
# Bare domains ("bit.ly/x", "example.com") are not counted.
URL_PATTERN = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# A word: ASCII letters, with at most one apostrophe inside ("won't" is one word, not "won").
WORD_PATTERN = re.compile(r"[a-z]+(?:'[a-z]+)?")

TRAIN_SIZE, TRAIN_SEED = 4000, 1
HELD_OUT_SIZE, HELD_OUT_SEED = 1000, 2
# Drift monitoring's reference sample: the held-out stream's first messages.
MONITORING_REFERENCE_SIZE = 500
SPAM_SHARE = 0.5
CV_FOLDS = 5


def features(text: str) -> list[float]:
    """The model's input row for one message, in ``FEATURES`` order:

    - ``length``: characters (Unicode code points), ``len(text)``;
    - ``uppercase_ratio``: uppercase letters / letters (``str.isupper`` among
      ``str.isalpha``), 0.0 for a text without letters;
    - ``link_count``: matches of ``URL_PATTERN`` (http://, https:// or www. up to the next
      whitespace);
    - ``exclamation_count``: '!' characters;
    - ``suspicious_words``: words (``WORD_PATTERN`` on the lower-cased text, so words
      inside links count too) that are in ``SUSPICIOUS_WORDS``, every occurrence.
    """
    letters = [c for c in text if c.isalpha()]
    upper = sum(1 for c in letters if c.isupper())
    words = WORD_PATTERN.findall(text.lower())
    return [
        float(len(text)),
        upper / len(letters) if letters else 0.0,
        float(len(URL_PATTERN.findall(text))),
        float(text.count("!")),
        float(sum(1 for word in words if word in SUSPICIOUS_WORDS)),
    ]


# --- synthetic messages -----------------------------------------------------------------

_SLOTS: dict[str, tuple[str, ...]] = {
    "name": ("Sam", "Priya", "Tom", "Ana", "Kenji", "Lucia", "Ben", "Fatima", "Olga", "Mark"),
    "day": ("today", "tomorrow", "Monday", "Tuesday", "Friday", "this weekend", "next week"),
    "time": ("9:30", "10am", "noon", "2pm", "3:15", "5pm", "7 tonight"),
    "meal": ("lunch", "dinner", "coffee", "breakfast", "drinks"),
    "doc": ("report", "slides", "budget sheet", "contract draft", "notes", "invoice", "roadmap"),
    "meeting": ("review", "standup", "client call", "planning meeting", "1:1", "offsite"),
    "team": ("design", "backend", "sales", "ops", "data", "marketing"),
    "grocery": ("milk", "bread", "eggs", "some apples", "coffee beans", "dog food"),
    "thing": ("dinner", "help yesterday", "book", "ride", "flowers", "feedback"),
    "game": ("football", "pub quiz", "chess", "poker", "tennis"),
    "ham_url": (
        "https://docs.example.com/d/8f3a",
        "https://github.com/acme/app/pull/42",
        "https://calendar.example.org/event/77",
        "www.example.com/menu",
        "https://maps.example.com/?q=cafe",
    ),
    "prize": ("iPhone", "car", "holiday to Bali", "$1000 gift card", "laptop", "cruise"),
    "bank": ("bank", "PayPal", "Netflix", "Amazon", "Apple ID", "email"),
    "product": ("watches", "pills", "sunglasses", "software", "diet plan", "crypto course"),
    "lottery": ("national", "euro", "mega", "online", "holiday"),
    "spam_url": (
        "http://win-prize.example.net/claim",
        "https://secure-verify.example.info/login",
        "http://deals.example.biz/now",
        "www.cheap-offers.example.com",
        "bit.ly/3xYz9q",
        "http://192.0.2.7/pay",
    ),
}

_HAM = (
    "Hey {name}, are we still on for {meal} {day}?",
    "Can you send me the {doc} before the {meeting}?",
    "Running {minutes} minutes late, sorry",
    "Thanks for the {thing}, it was great!",
    "Meeting moved to {time}, room {count}",
    "Here is the link to the {doc}: {ham_url}",
    "Don't forget {name}'s birthday {day}!!",
    "Can you pick up {grocery} on the way home? We need {count}",
    "The {team} standup is cancelled {day}",
    "I won the {game} bet, you owe me a coffee",
    "Free for {meal} {day}?",
    "Please verify the account numbers in the {doc} before {day}",
    "FYI the {doc} is ready for review",
    "Got the offer letter today!!! Call me when you can",
    "URGENT: the build is broken, can you look at {ham_url}",
    "lol ok see you at {time}",
    "Mom says dinner is at {time}, bring {grocery}",
    "Did you see the {team} update? {ham_url}",
    "Can we move our {meeting} to {day} at {time}?",
    "Happy birthday {name}! Have a great day",
    "I'm at the station, where are you?",
    "The {doc} numbers look off, can we talk {day}",
    "Great deal on the flat, we signed it!",
    "Tickets for {day} are free if we go before {time}",
)

_SPAM = (
    "CONGRATULATIONS! You have WON a {prize}! Claim now at {spam_url}",
    "URGENT: your {bank} account has been suspended. Verify your details at {spam_url}",
    "You have been selected for a ${amount} cash reward. Reply YES to claim",
    "Limited offer: {percent}% off {product}, today only! {spam_url}",
    "Get a loan of ${amount} with no credit check. Call 0800 555 {digits}",
    "Your parcel could not be delivered. Pay the ${fee} fee: {spam_url}",
    "Hi dear, I have a business proposal for you. Reply for details",
    "Your subscription is expiring, update your payment details to continue",
    "Earn ${amount} a week working from home, no experience needed",
    "FREE {product} for the first {count} customers!!! Click {spam_url}",
    "Exclusive deal for you: {product} at {percent}% discount",
    "Winner notification: your number was drawn in the {lottery} lottery",
    "Last chance to get your bonus before midnight {spam_url}",
    "Hello, your {bank} payment failed. Log in at {spam_url} to keep your service",
    "We tried to reach you about your car warranty, call us back today",
    "Guaranteed returns of {percent}% a month, ask me how",
)

# Openers go before the message; both kinds share some ("Hi, ", "Quick one: ").
_HAM_OPENERS = ("", "", "", "Hi, ", "Hey {name}, ", "{name}: ", "Morning! ", "Quick one: ")
_SPAM_OPENERS = (
    "",
    "",
    "",
    "Dear customer, ",
    "Hi, ",
    "Hello {name}, ",
    "Attention: ",
    "Quick one: ",
)

_FILLERS = (
    "Let me know.",
    "Thanks.",
    "See you soon.",
    "Cheers",
    "No rush.",
    "Talk later.",
    "Sent from my phone",
    "Best regards, {name}",
    "Reply STOP to opt out.",
    "Act now.",
    "This is not a joke.",
    "Offer ends soon.",
)


# Slots filled with a number, so that the same template rarely gives the same text twice.
_NUMBERS: dict[str, Callable[[random.Random], str]] = {
    "minutes": lambda rng: str(rng.randint(2, 45)),
    "amount": lambda rng: str(rng.choice((50, 100, 250, 500, 1000, 5000)) * rng.randint(1, 9)),
    "percent": lambda rng: str(rng.randint(2, 18) * 5),
    "fee": lambda rng: f"{rng.randint(1, 4)}.{rng.randint(0, 99):02d}",
    "digits": lambda rng: f"{rng.randint(0, 9999):04d}",
    "count": lambda rng: str(rng.randint(2, 200)),
}


def _slot(name: str, rng: random.Random) -> str:
    number = _NUMBERS.get(name)
    return number(rng) if number else rng.choice(_SLOTS[name])


def _fill(template: str, rng: random.Random) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _slot(m.group(1), rng), template)


def _shout(text: str, rng: random.Random, share: float) -> str:
    """Upper-case each word with probability ``share`` (leaves links alone)."""
    words = text.split(" ")
    return " ".join(
        w.upper() if not URL_PATTERN.match(w) and rng.random() < share else w for w in words
    )


def _ham(rng: random.Random) -> str:
    text = _fill(rng.choice(_HAM_OPENERS) + rng.choice(_HAM), rng)
    if rng.random() < 0.15:  # excited friends
        text = text.rstrip("!.?") + "!" * rng.randint(1, 3)
    if rng.random() < 0.08:  # ASAP, OMG...
        text = _shout(text, rng, 0.5)
    if rng.random() < 0.12:  # two messages in one
        text += " " + _fill(rng.choice(_HAM), rng)
    return text


def _spam(rng: random.Random) -> str:
    text = _fill(rng.choice(_SPAM_OPENERS) + rng.choice(_SPAM), rng)
    roll = rng.random()
    if roll < 0.25:  # loud
        text = _shout(text, rng, 0.7)
        text = text.rstrip("!.?") + "!" * rng.randint(1, 4)
    elif roll < 0.45:  # quiet: written to look personal
        text = text.replace("!", ".").lower()
    return text


def generate(n: int, seed: int) -> list[tuple[str, int]]:
    """``n`` synthetic (message, label) pairs, label 1 for spam (about half), 0 for ham.

    Deterministic per ``seed`` (``random.Random(seed)`` only). Ham is everyday personal
    and work messages; spam is prizes, urgency, links, money and capitals. They overlap on
    purpose: some ham has links, '!', capitals or words such as "free" and "won"; a fifth
    of the spam is quiet (lower case, no '!'), some has no link; fillers such as "Act now."
    or "Thanks." go on either kind.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = random.Random(seed)
    out: list[tuple[str, int]] = []
    for _ in range(n):
        label = 1 if rng.random() < SPAM_SHARE else 0
        text = _spam(rng) if label else _ham(rng)
        if rng.random() < 0.3:
            text += " " + _fill(rng.choice(_FILLERS), rng)
        out.append((text, label))
    return out


def monitoring_messages(start: int, stop: int) -> list[str]:
    """Messages ``start:stop`` of the held-out stream (never trained on): the first
    ``MONITORING_REFERENCE_SIZE`` are drift monitoring's reference sample, the next ones a
    stable stream of the same kind for tests."""
    return [text for text, _ in generate(stop, HELD_OUT_SEED)[start:stop]]


def feature_matrix(messages: Sequence[tuple[str, int]]) -> tuple[list[list[float]], list[int]]:
    """Rows of ``features`` and their labels."""
    return [features(text) for text, _ in messages], [label for _, label in messages]


# --- build ------------------------------------------------------------------------------


def _candidates() -> dict[str, Any]:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "logistic-regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "gradient-boosting": GradientBoostingClassifier(
            n_estimators=150, max_depth=3, learning_rate=0.1, random_state=0
        ),
    }


def _choose(x: Any, y: Any) -> tuple[str, Any, dict[str, float]]:
    """The candidate with the best cross-validated ROC AUC on the training set alone.

    Choosing on the held-out set would make its numbers optimistic; it is used once, to
    report the chosen model.
    """
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=0)
    scores: dict[str, float] = {}
    candidates = _candidates()
    for name, model in candidates.items():
        scores[name] = float(cross_val_score(model, x, y, cv=folds, scoring="roc_auc").mean())
        log.info("%s: cross-validated ROC AUC %.4f", name, scores[name])
    best = max(scores, key=lambda name: scores[name])
    return best, clone(candidates[best]).fit(x, y), scores


def _to_onnx(model: Any) -> Any:
    """features float (n, 5) -> label int64 (n), probabilities float (n, 2); no ZipMap."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    return to_onnx(
        model,
        initial_types=[("features", FloatTensorType([None, len(FEATURES)]))],
        final_types=[
            ("label", Int64TensorType([None])),
            ("probabilities", FloatTensorType([None, len(LABELS)])),
        ],
        options={
            LogisticRegression: {"zipmap": False},
            GradientBoostingClassifier: {"zipmap": False},
        },
        target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
    )


def _evaluate(model_path: Path, model: Any, x: Any, y: Any) -> dict[str, float]:
    """Held-out accuracy and ROC AUC of the ONNX graph itself (what is served), after
    checking it agrees with scikit-learn."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from lamina.inference.session import create_session

    session = create_session(model_path, 1)
    labels, probabilities = session.run(["label", "probabilities"], {"features": x})
    reference = model.predict_proba(x)
    drift = float(np.abs(probabilities - reference).max())
    if drift > 1e-4 or not np.array_equal(labels, model.predict(x)):
        raise RuntimeError(f"the ONNX graph disagrees with scikit-learn (max |dp| {drift:.2e})")
    log.info("ONNX vs scikit-learn: max |probability difference| %.2e", drift)
    return {
        "accuracy": float((labels == y).mean()),
        "roc_auc": float(roc_auc_score(y, probabilities[:, 1])),
    }


def _model_card(chosen: str, cv: dict[str, float], metrics: dict[str, float], seen: float) -> str:
    words = ", ".join(sorted(SUSPICIOUS_WORDS))
    tried = "\n".join(f"- {name}: {score:.4f}" for name, score in cv.items())
    return f"""# spam-detector (lamina demo)

A {chosen} classifier (scikit-learn, converted with skl2onnx) that labels a message
`ham` or `spam` from five numbers computed from its text. It is lamina's demonstration of a
*generic* model served through the Open Inference Protocol (`/v2/models/spam-detector/infer`),
and is not meant to filter real messages.

## Inputs and outputs

- input `features`: FP32 `[-1, 5]`, one row per message, in this order
  (`lamina_tools.models.spam.features(text)` computes them):
  1. `length`: characters (Unicode code points);
  2. `uppercase_ratio`: uppercase letters / letters (0 without letters);
  3. `link_count`: substrings that start with `http://`, `https://` or `www.` (any case)
     and run to the next whitespace; bare domains are not counted;
  4. `exclamation_count`: `!` characters;
  5. `suspicious_words`: words (ASCII letters, at most one inner apostrophe, lower-cased)
     from this list, every occurrence: {words}.
- output `label`: INT64 `[-1]`, 0 = ham, 1 = spam (`labels.json`);
- output `probabilities`: FP32 `[-1, 2]`, P(ham), P(spam); each row sums to 1.

## Data

Synthetic only: `lamina_tools.models.spam.generate(n, seed)` fills {len(_HAM)} ham and
{len(_SPAM)} spam templates from word lists, with noise on both sides (ham with links,
`!`, capitals and words such as "free" or "won"; quiet spam in lower case without `!`,
and spam without links).
Training: {TRAIN_SIZE} messages (seed {TRAIN_SEED}); held out: {HELD_OUT_SIZE} messages
(seed {HELD_OUT_SEED}). No real message was used. Short templates without slots repeat, so
{seen:.1%} of the held-out messages also occur, verbatim, in the training set.

## How it was chosen and how well it does

Candidates, by {CV_FOLDS}-fold cross-validated ROC AUC on the training set:

{tried}

Held-out ({HELD_OUT_SIZE} synthetic messages), measured on the ONNX graph:
accuracy {metrics["accuracy"]:.4f}, ROC AUC {metrics["roc_auc"]:.4f}.

## Limits

- The numbers describe the generator, not real traffic: real spam uses words, languages
  and tricks (bare domains, images, Unicode look-alikes) these features do not see.
- Five shallow features cannot read meaning; a polite scam without links or keywords
  looks like ham, an excited friend with a link looks like spam.
- English, ASCII word list only.

## License

Apache-2.0 (code and synthetic data are lamina's).
"""


def build(output: Path, *, version: str = "1", embedding: Path | None = None) -> Path:
    """Train, convert and write the spam detector's model directory at ``output``.

    ``embedding`` is the CLI's common argument; this model does not use it. Like every
    lamina build, the directory is written under a staging name, ``manifest.json`` last,
    and renamed into place, so ``output`` is never half-written.
    """
    del embedding
    import numpy as np
    import onnx

    train, held_out = generate(TRAIN_SIZE, TRAIN_SEED), generate(HELD_OUT_SIZE, HELD_OUT_SEED)
    x_train, y_train = (np.asarray(a) for a in feature_matrix(train))
    x_test, y_test = (np.asarray(a) for a in feature_matrix(held_out))
    known = {text for text, _ in train}
    seen = sum(1 for text, _ in held_out if text in known) / len(held_out)
    x_train, x_test = x_train.astype(np.float32), x_test.astype(np.float32)
    chosen, model, cv = _choose(x_train, y_train)
    log.info("chose %s", chosen)

    staging = output.with_name(f".{output.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    # One file: the graph is small, so external weights (memory-mapped, as for MiniLM)
    # would only add a file.
    onnx.save_model(_to_onnx(model), str(staging / "model.onnx"))
    metrics = _evaluate(staging / "model.onnx", model, x_test, y_test)
    log.info("held-out: accuracy %.4f, ROC AUC %.4f", metrics["accuracy"], metrics["roc_auc"])
    (staging / "labels.json").write_text(json.dumps(list(LABELS)) + "\n", encoding="utf-8")
    (staging / "MODEL_CARD.md").write_text(_model_card(chosen, cv, metrics, seen), encoding="utf-8")
    for path in staging.iterdir():
        path.chmod(0o644)  # Lambda runs the function as a non-root user

    manifest = Manifest(
        name=MODEL_NAME,
        version=version,
        task="generic",
        variant="fp32",
        quantization="none",
        labels_file="labels.json",
        card_file="MODEL_CARD.md",
        opset=OPSET,
        source=SourceInfo(
            model_id=MODEL_ID, package="lamina", package_version=__version__, license="Apache-2.0"
        ),
        files=[file_entry(staging, p.name) for p in sorted(staging.iterdir())],
        evaluation=EvaluationReport(
            dataset=f"synthetic held-out messages (lamina_tools.models.spam.generate, "
            f"seed {HELD_OUT_SEED}); {chosen}",
            size=HELD_OUT_SIZE,
            metrics=metrics,
        ),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    write_manifest(staging, manifest)
    reference = monitoring_messages(0, MONITORING_REFERENCE_SIZE)  # drift monitoring's
    write_tabular_reference(staging, FEATURES, [features(text) for text in reference])
    shutil.rmtree(output, ignore_errors=True)
    staging.rename(output)
    return output
