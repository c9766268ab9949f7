"""The drift check and its report, on synthetic sample records (seeded numpy streams)."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.monitoring.drift import Check, DriftResult, DriftThresholds, check_drift
from lamina.monitoring.report import render_html, render_text

Record = dict[str, Any]

DIM = 32
MAX_TOKENS = 96
FEATURES = ("length", "uppercase_ratio", "link_count", "exclamation_count", "suspicious_words")
FEATURE_MEANS = (120.0, 0.1, 1.0, 0.5, 0.8)
FEATURE_SDS = (40.0, 0.05, 0.8, 0.6, 0.7)


def _unit(vector: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    unit: npt.NDArray[np.float64] = vector / np.linalg.norm(vector)
    return unit


MEAN_DIRECTION = _unit(np.random.default_rng(1234).standard_normal(DIM))


def _rotated(angle_degrees: float) -> npt.NDArray[np.float64]:
    """The mean direction rotated by ``angle_degrees`` towards an orthogonal direction."""
    other = np.random.default_rng(4321).standard_normal(DIM)
    other = _unit(other - (other @ MEAN_DIRECTION) * MEAN_DIRECTION)
    angle = math.radians(angle_degrees)
    return math.cos(angle) * MEAN_DIRECTION + math.sin(angle) * other


def texts(
    n: int,
    seed: int,
    *,
    token_scale: float = 1.0,
    korean: float = 0.0,
    direction: npt.NDArray[np.float64] = MEAN_DIRECTION,
    spam: float = 0.1,
    confidence: tuple[float, float] = (8.0, 2.0),
) -> list[Record]:
    """English-like texts sent to an embedding model that also labels them.

    Tokens ~ lognormal around 15 (cut at ``MAX_TOKENS``), almost no unknown tokens, Latin
    letters; vectors normalized gaussians around ``direction``. ``korean`` of the texts are
    Hangul with 30% unknown tokens; the top-1 label is "spam" for ``spam`` of them, with a
    confidence of ``0.5 + beta(*confidence) / 2``.
    """
    rng = np.random.default_rng(seed)
    raw = rng.lognormal(math.log(15 * token_scale), 0.6, n)
    tokens = np.minimum(np.ceil(raw), MAX_TOKENS).astype(int)
    is_korean = rng.random(n) < korean
    vectors = direction + rng.standard_normal((n, DIM)) / math.sqrt(DIM)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = np.where(rng.random(n) < spam, "spam", "ham")
    confidences = 0.5 + rng.beta(*confidence, n) / 2
    records = []
    for i in range(n):
        count = int(tokens[i])
        chars = int(rng.poisson(4.2 * count))
        if is_korean[i]:
            unk = int(rng.binomial(count, 0.3))
            scripts = {"hangul": int(chars * 0.7), "latin": int(rng.integers(0, 3))}
        else:
            unk = int(rng.binomial(count, 0.001))
            scripts = {"hangul": 0, "latin": int(chars * 0.8)}
        records.append(
            {
                "time": "2026-12-05T21:00:00Z",
                "model": "all-MiniLM-L6-v2",
                "version": "1.0.0-int8",
                "variant": "control",
                "kind": "text",
                "chars": chars,
                "tokens": count,
                "truncated": bool(raw[i] > MAX_TOKENS),
                "unk": unk,
                "scripts": {**scripts, "han": 0, "cyrillic": 0, "other": 0},
                "vector": vectors[i].tolist(),
                "label": str(labels[i]),
                "confidence": float(confidences[i]),
            }
        )
    return records


def rows(n: int, seed: int, *, shifted: str | None = None) -> list[Record]:
    """Tabular rows of the spam detector's 5 features; ``shifted`` moves one by 1 sd."""
    rng = np.random.default_rng(seed)
    records = []
    values = rng.standard_normal((n, len(FEATURES)))
    for i in range(n):
        features = {
            name: FEATURE_MEANS[j] + FEATURE_SDS[j] * (values[i, j] + (name == shifted))
            for j, name in enumerate(FEATURES)
        }
        records.append({"model": "spam", "version": "2", "kind": "tabular", "features": features})
    return records


@pytest.fixture(scope="module")
def reference() -> list[Record]:
    return texts(2000, 1)


@pytest.fixture(scope="module")
def tabular_reference() -> list[Record]:
    return rows(2000, 1)


def checks(result: DriftResult) -> dict[str, Check]:
    return {check.name: check for check in result.checks}


def drifted(result: DriftResult) -> set[str]:
    return {check.name for check in result.checks if check.drifted}


def run(reference: list[Record], current: list[Record], **kwargs: Any) -> DriftResult:
    return check_drift(reference, current, model="all-MiniLM-L6-v2", version="1.0.0", **kwargs)


@pytest.mark.parametrize("seed", range(100, 120))
def test_a_stable_stream_never_drifts(
    seed: int, reference: list[Record], tabular_reference: list[Record]
) -> None:
    size = 150 if seed % 2 else 1500  # small samples are the noisy ones
    result = run(reference, texts(size, seed))
    assert result.status == "ok", render_text([result])
    assert result.score is not None
    assert result.score < 1
    assert result.skipped == 0
    assert set(checks(result)) == {
        "tokens",
        "chars",
        "unknown_token_rate",
        "truncation_rate",
        "script_mix",
        "vector_centroid",
        "vector_projections",
        "label_mix",
        "confidence",
    }
    tabular = run(tabular_reference, rows(size, seed))
    assert tabular.status == "ok", render_text([tabular])
    assert {name for name in checks(tabular)} == {f"feature:{name}" for name in FEATURES}


def test_korean_into_an_english_model(reference: list[Record]) -> None:
    result = run(reference, texts(1000, 2, korean=1.0))
    assert result.status == "drift"
    assert {"script_mix", "unknown_token_rate"} <= drifted(result)
    by_name = checks(result)
    assert by_name["unknown_token_rate"].effect == pytest.approx(0.3, abs=0.02)
    assert by_name["script_mix"].effect > 0.9  # Cramér's V: almost no category in common
    assert "hangul" in by_name["script_mix"].current_value
    assert result.score == max(check.score for check in result.checks)


def test_longer_texts(reference: list[Record]) -> None:
    result = run(reference, texts(1000, 3, token_scale=3.0))
    assert {"tokens", "chars", "truncation_rate"} <= drifted(result)
    assert "script_mix" not in drifted(result)
    assert "unknown_token_rate" not in drifted(result)
    assert checks(result)["truncation_rate"].statistic > 0  # z: more truncation, not less


def test_label_mix_and_confidence(reference: list[Record]) -> None:
    result = run(reference, texts(1000, 4, spam=0.4, confidence=(3.0, 3.0)))
    assert {"label_mix", "confidence"} <= drifted(result)
    label_mix = checks(result)["label_mix"]
    assert label_mix.effect == pytest.approx(0.33, abs=0.05)
    assert label_mix.plot is not None
    assert label_mix.plot.kind == "bars"
    assert set(label_mix.plot.labels) == {"spam", "ham"}
    assert drifted(result) <= {"label_mix", "confidence"}


def test_only_the_shifted_feature_drifts(tabular_reference: list[Record]) -> None:
    result = run(tabular_reference, rows(1000, 5, shifted="link_count"))
    assert drifted(result) == {"feature:link_count"}
    assert checks(result)["feature:link_count"].effect > 0.5  # PSI of a 1 sd shift


@pytest.mark.parametrize(("angle", "drifts"), [(0.0, False), (90.0, True)])
def test_vectors(reference: list[Record], angle: float, drifts: bool) -> None:
    result = run(reference, texts(1000, 6, direction=_rotated(angle)))
    vector_checks = {"vector_centroid", "vector_projections"}
    assert (vector_checks <= drifted(result)) is drifts
    assert (vector_checks & drifted(result) == set()) is not drifts
    centroid = checks(result)["vector_centroid"]
    assert centroid.p_value is None
    assert (centroid.effect > 1.0) is drifts
    projections = checks(result)["vector_projections"]
    assert projections.plot is not None
    assert projections.plot.kind == "ecdf"
    assert 0 < len(projections.plot.current) <= 200
    assert projections.plot.current == sorted(projections.plot.current)


def test_insufficient_data(reference: list[Record]) -> None:
    result = run(reference, texts(99, 7, korean=1.0))
    assert result.status == "insufficient_data"
    assert result.score is None
    assert result.checks == []
    assert result.current_count == 99
    # nothing in common with the reference: no check can run either
    nothing = run(reference, rows(500, 7))
    assert nothing.status == "insufficient_data"
    assert nothing.score is None


def test_a_significant_p_value_is_needed_to_drift(reference: list[Record]) -> None:
    # a tiny PSI threshold: every numeric check's effect is far above it, but by chance only
    result = run(reference, texts(300, 8), thresholds=DriftThresholds(psi=1e-6))
    tokens = checks(result)["tokens"]
    assert tokens.effect / tokens.threshold > 1
    assert tokens.p_value is not None
    assert tokens.p_value > 0.001
    assert tokens.score == 0.99
    assert not tokens.drifted
    assert result.status == "ok"


def test_malformed_records_are_skipped_and_counted(reference: list[Record]) -> None:
    good = texts(1000, 9)  # the bad copies of good[0] still count where valid
    template = good[0]
    bad: list[Any] = [
        "not a record",
        None,
        42,
        {},  # no kind
        {"kind": "image"},
        {"kind": "text"},  # no tokens or chars
        {**template, "tokens": "14"},
        {**template, "chars": float("nan")},
        {**template, "tokens": -3},
        {**template, "tokens": 2.5},
        {**template, "chars": 10**400},  # no float holds it
        {**template, "unk": template["tokens"] + 1},
        {**template, "truncated": "yes"},
        {**template, "scripts": {"latin": "many"}},
        {**template, "scripts": ["latin"]},
        {**template, "vector": template["vector"][:-1]},
        {**template, "vector": [*template["vector"][:-1], "x"]},
        {**template, "vector": [*template["vector"][:-1], float("inf")]},
        {**template, "vector": "0.1,0.2"},
        {**template, "vector": [*template["vector"][:-1], 10**400]},
        {**template, "vector": [*template["vector"][:-1], None]},
        {**template, "vector": [*template["vector"][:-1], [0.1]]},
        {**template, "label": 3},
        {**template, "confidence": 1.5},
        {**template, "confidence": None},
        {"kind": "tabular", "features": {"length": "long"}},
        {"kind": "tabular", "features": []},
    ]
    result = run(reference, good + bad)
    assert result.skipped == len(bad)
    assert result.current_count == len(good) + len(bad)
    assert result.status == "ok", render_text([result])
    # the reference may be malformed too
    again = run([*reference, *bad], good)
    assert again.skipped == 0
    assert again.status == "ok"


def test_vectors_of_another_dimension_are_skipped(reference: list[Record]) -> None:
    current = texts(300, 10)
    for record in current:
        record["vector"] = record["vector"][:16]
    result = run(reference, current)
    assert result.skipped == len(current)
    assert result.status == "insufficient_data"  # every record is malformed


def test_json_is_finite(reference: list[Record]) -> None:
    constant = [{**record, "tokens": 5, "truncated": False, "unk": 0} for record in reference]
    for result in (
        run(reference, texts(500, 11, korean=0.5, direction=_rotated(60))),
        run(constant, constant[:300]),  # degenerate: no spread at all in tokens
        run(reference, texts(20, 11)),
    ):
        data = result.to_json()
        text = json.dumps(data, allow_nan=False)
        assert json.loads(text)["model"] == "all-MiniLM-L6-v2"
        for check in data["checks"]:
            assert all(
                isinstance(value, float) and math.isfinite(value)
                for key in ("statistic", "effect", "threshold", "score")
                for value in [check[key]]
            )


class _StrictParser(HTMLParser):
    """Every element closed, in order (html.parser itself accepts anything)."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self.svgs += 1
            assert ("role", "img") in attrs
            assert any(name == "aria-label" for name, _ in attrs)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def test_report(reference: list[Record]) -> None:
    evil = "<script>alert(1)</script>"
    current = texts(600, 12, korean=0.4, spam=0.3)
    for record in current[:200]:
        record["label"] = evil
    drifting = check_drift(reference, current, model="<b>model</b>", version="1 & 2")
    stable = run(reference, texts(400, 13))
    short = run(reference, texts(10, 14))
    results = [stable, drifting, short]

    page = render_html(
        results, title="Drift <weekly>", generated_at="2026-12-05T21:00:00Z", window="24h"
    )
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>model</b>" not in page
    assert "&lt;b&gt;model&lt;/b&gt;" in page
    assert "1 &amp; 2" in page
    parser = _StrictParser()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    plotted = sum(check.plot is not None for result in results for check in result.checks)
    assert plotted > 0
    assert parser.svgs == plotted == page.count("<svg")
    assert page.count('class="drifted"') >= 2 * len(drifted(drifting))  # row and figure
    assert "insufficient data" in page

    text = render_text(results)
    for result in results:
        assert result.model in text
        for check in result.checks:
            assert check.name in text
    assert "DRIFT" in text


def test_thresholds_are_validated() -> None:
    with pytest.raises(ValueError, match="alpha"):
        DriftThresholds(alpha=0)
    with pytest.raises(ValueError, match="psi"):
        DriftThresholds(psi=-1)
    with pytest.raises(ValueError, match="min_samples"):
        DriftThresholds(min_samples=1)
