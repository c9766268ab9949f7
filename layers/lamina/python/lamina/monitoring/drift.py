"""The drift check: a recent sample of a model's traffic against the model's reference sample.

Both samples are lists of sample records (``lamina.monitoring.samples``: one JSON object per
text or tabular row, with its input statistics and the model's output). The reference sample
ships in the model directory, made at build time from the data the model was built and
evaluated on; the recent sample is what the serving functions wrote in the last window.
``check_drift`` runs every check below that both samples have data for and returns a
``DriftResult``; the scheduled function publishes its ``score`` as the ``DriftScore`` metric
(alarm at >= 1.0) and ``lamina.monitoring.report`` draws it.

How a check decides
-------------------
Every check measures two things:

- an **effect size**: how different the two samples are, in units that mean something
  whatever the sample sizes (a PSI, a Kolmogorov-Smirnov distance, a rate difference, ...),
  compared with the check's **threshold** (``DriftThresholds``). ``score = effect /
  threshold``: 1.0 is "as much change as we call drift", 3.0 three times that.
- a **p-value**: how likely a difference at least this large is from sampling noise alone,
  had nothing changed. A score of 1 or more counts only when the difference is also
  statistically significant: ``p < alpha / m``, where ``m`` is the number of checks of this
  run that have a p-value (Bonferroni: the chance that *any* check fires on a stable stream
  stays below ``alpha``, 0.001 by default). A check whose p-value is not significant has its
  score capped at 0.99: it is reported, but cannot raise the alarm.

Both are needed. With large samples a tiny, harmless change is significant (p-value alone
would page someone about a 0.3% shift in text length); with small samples noise looks like a
large change (the PSI of two 100-record samples of the *same* distribution is about 0.1-0.2
by chance alone). An alarm therefore means: "this much change, and not by chance".

The result's ``score`` is the largest check score; its ``status`` is ``drift`` when any check
scored >= 1, ``ok`` otherwise, and ``insufficient_data`` (score ``None``, no checks) when the
recent sample has fewer than ``min_samples`` well-formed records or no check could run (the
reference sample lacks everything the recent one has).

The checks
----------
A check runs only when both samples have at least ``min_samples / 2`` valid values for it.

``tokens``, ``chars`` (text inputs), ``feature:<name>`` (each tabular feature on both sides)
    Test "psi+ks". Effect: the Population Stability Index over 10 bins at the reference's
    deciles, ``sum((c - r) * ln(c / r))`` over the bins' proportions. Threshold ``psi`` = 0.2:
    the usual reading of PSI is < 0.1 stable, 0.1-0.2 moderate, > 0.2 significant change.
    The statistic and p-value are the two-sample Kolmogorov-Smirnov test's (D, the largest
    gap between the two empirical CDFs). Longer texts (a new client pasting documents),
    shorter ones (keywords instead of sentences), or a feature whose pipeline changed units
    show here. Plot: histograms of both samples.
``unknown_token_rate`` (text inputs)
    Test "two-proportion z" on the pooled rate: unknown tokens (``[UNK]`` ids) / all tokens
    on each side. Effect: the absolute rate difference; threshold ``rate`` = 0.02 (two
    percentage points of all tokens are unknown to the vocabulary). An English vocabulary
    meeting Korean or emoji produces unknown tokens, and every unknown token is information
    the model cannot see: the vectors or labels degrade silently. Plot: the two rates.
``truncation_rate`` (text inputs)
    Test "two-proportion z": texts cut at the model's maximum length / texts. Effect: the
    absolute rate difference; threshold ``rate`` = 0.02. A cut text is embedded or classified
    from its beginning only. Plot: the two rates.
``script_mix`` (text inputs)
    Each text's dominant script (the ``scripts`` key with the most letters; ``none`` when
    it has no letters) is a category. Test "chi-square" (homogeneity of the two category
    mixes) for the p-value; effect Cramér's V, ``sqrt(chi2 / n)`` for two samples, from 0
    (same mix) to 1 (no category in common); threshold ``cramers_v`` = 0.1 (the
    conventional "small" effect: e.g. about 10% of traffic moving to a new language). A
    model meeting a language it was not built for is the most common input drift. Plot:
    the category proportions.
``vector_centroid`` (embedding models, vectors of the same dimension on both sides)
    Test "centroid". Effect: ``||mean(current) - mean(reference)||`` divided by the
    reference's spread, the root mean square distance of reference vectors to their
    centroid; threshold ``centroid`` = 0.5 (the traffic's centre moved half the typical
    distance between a vector and the centre). Sampling noise alone gives about
    ``sqrt(1/n_ref + 1/n_cur)``, 0.14 at 100 + 100 vectors, so there is no p-value: the
    check is taken as significant when it has at least ``min_samples`` current vectors.
    The topic of the traffic moved (a new product category, another domain). Plot:
    histograms of each vector's distance to the reference centroid.
``vector_projections`` (embedding models)
    Test "ks on projections": ``projections`` (16) random unit directions (seeded, so runs
    are comparable), both samples projected on each, a KS test per direction. Effect: the
    largest D; threshold ``ks`` = 0.1; p-value: the smallest p times the number of
    directions (Bonferroni inside the check, at most 1). It catches changes of shape that
    leave the centroid in place (a spread that grows or shrinks, a new cluster on one
    side). Plot: both samples' empirical CDFs along the worst direction.
``label_mix`` (classifiers)
    The top-1 labels as categories: "chi-square" p-value, Cramér's V effect, threshold
    ``cramers_v`` = 0.1, as ``script_mix``. Spam rising from 10% to 40% of predictions is
    V = 0.33. Either the world changed or the model's inputs did. Plot: the label mix.
``confidence`` (classifiers)
    Test "ks": the top-1 probability's distributions. Effect: KS D; threshold ``ks`` = 0.1
    (10% of predictions on the other side of some confidence level than before). Falling
    confidence is the model meeting inputs unlike its training data. Plot: histograms.

Malformed records
-----------------
Records come from storage and may be anything: not an object, no or an unknown ``kind``, a
text without ``tokens`` or ``chars``, a string where a number belongs, NaN, a negative count,
more unknown tokens than tokens, a vector of another dimension than the reference's (or with
non-numbers in it), a confidence outside [0, 1]. Every invalid field is left out of the
checks that read it (its other valid fields still count, except when the record is not an
object or its kind is unknown), and every current record with at least one invalid field
counts once in ``skipped``. Nothing in a record raises.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from lamina.monitoring import stats

FloatArray = npt.NDArray[np.float64]

SCRIPT_ORDER = ("hangul", "latin", "han", "cyrillic", "other")  # ties: the first wins
PSI_BINS = 10
HISTOGRAM_BINS = 20
MAX_ECDF_POINTS = 200
MAX_CATEGORIES = 12  # plotted categories; the rest are summed into OTHERS
OTHERS = "(all others)"
_EFFECT_CAP = 1e9  # keeps a pathological effect finite (JSON has no infinity)


@dataclass(frozen=True)
class DriftThresholds:
    """Significance and the effect sizes at which each kind of check has drifted."""

    alpha: float = 0.001  # family-wise significance, Bonferroni-split over checks with a p
    min_samples: int = 100  # fewer well-formed current records: insufficient_data
    psi: float = 0.2  # PSI (0.1-0.2 moderate, > 0.2 significant: common practice)
    ks: float = 0.1  # KS D
    centroid: float = 0.5  # centroid shift / reference spread
    cramers_v: float = 0.1  # category mix
    rate: float = 0.02  # absolute difference of a rate (unknown tokens, truncated texts)
    projections: int = 16  # random 1-D projections of the vectors
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), not {self.alpha}")
        if self.min_samples < 2:
            raise ValueError(f"min_samples must be at least 2, not {self.min_samples}")
        if self.projections < 1:
            raise ValueError(f"projections must be at least 1, not {self.projections}")
        for name in ("psi", "ks", "centroid", "cramers_v", "rate"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, not {value}")


@dataclass(frozen=True)
class Plot:
    """What ``report`` draws for a check: plain, JSON-serializable data.

    - ``histogram``: ``labels`` are the bin edges as text (one more than the bins),
      ``reference`` and ``current`` the proportion of each sample in each bin.
    - ``bars``: ``labels`` are category names, ``reference`` and ``current`` proportions
      (or rates) per category.
    - ``ecdf``: ``labels`` is empty, ``reference`` and ``current`` are sorted sample values
      (at most ``MAX_ECDF_POINTS``: the k-th of m points is the (k+1)/m quantile).
    """

    kind: Literal["histogram", "bars", "ecdf"]
    labels: list[str]
    reference: list[float]
    current: list[float]


@dataclass(frozen=True)
class Check:
    """One comparison of the two samples (the module docstring describes each)."""

    name: str
    test: str
    statistic: float
    p_value: float | None
    effect: float
    threshold: float
    score: float
    drifted: bool
    reference_value: str
    current_value: str
    plot: Plot | None


@dataclass(frozen=True)
class DriftResult:
    """Every check of one model version's recent sample against its reference.

    ``reference_count`` and ``current_count`` are the records given (malformed ones
    included); ``skipped`` is how many current records had at least one invalid field.
    ``checks`` is empty when ``status`` is ``insufficient_data``.
    """

    model: str
    version: str
    status: Literal["ok", "drift", "insufficient_data"]
    score: float | None
    reference_count: int
    current_count: int
    skipped: int
    checks: list[Check] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict: floats rounded to 6 digits, NaN and infinity as ``null``."""
        safe = _json_safe(asdict(self))
        assert isinstance(safe, dict)
        return safe


def _json_safe(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float | np.floating):
        number = float(value)
        return round(number, 6) if math.isfinite(number) else None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return str(value)


# -- reading records -------------------------------------------------------------------------


def _number(value: object) -> float | None:
    """A finite real number (not a bool, not a string), else ``None``."""
    if type(value) is float:  # the common case first: this runs for every field
        number = value
    elif isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    else:
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float (JSON allows it)
            return None
    return number if math.isfinite(number) else None


def _count(value: object) -> float | None:
    """A non-negative whole number, else ``None``."""
    number = _number(value)
    return number if number is not None and number >= 0 and number.is_integer() else None


def _dominant_script(scripts: Mapping[str, float]) -> str:
    order = [name for name in SCRIPT_ORDER if name in scripts]
    order += sorted(name for name in scripts if name not in SCRIPT_ORDER)
    best = max(order, key=lambda name: scripts[name], default=None)
    return best if best is not None and scripts[best] > 0 else "none"


@dataclass
class _Record:
    """A record's valid fields (``None``: absent or invalid) and whether any was invalid."""

    malformed: bool = False
    tokens: float | None = None
    chars: float | None = None
    truncated: bool | None = None
    unk: float | None = None
    script: str | None = None
    features: dict[str, float] = field(default_factory=dict)
    vector: Any = None  # a list, tuple or array still to validate (it needs the dimension)
    label: str | None = None
    confidence: float | None = None


def _parse(raw: object) -> _Record:
    record = _Record()
    if not isinstance(raw, Mapping):
        record.malformed = True
        return record
    kind = raw.get("kind")
    if kind not in ("text", "tabular"):
        record.malformed = True
        return record
    bad = False
    if kind == "text":
        record.tokens = _count(raw.get("tokens"))
        record.chars = _count(raw.get("chars"))
        bad = record.tokens is None or record.chars is None
        if "truncated" in raw:
            truncated = raw["truncated"]
            if isinstance(truncated, bool):
                record.truncated = truncated
            else:
                bad = True
        if "unk" in raw:
            unk = _count(raw["unk"])
            if unk is not None and record.tokens is not None and unk <= record.tokens:
                record.unk = unk
            else:
                bad = True
        if "scripts" in raw:
            scripts = raw["scripts"]
            letters = (
                {str(key): _count(value) for key, value in scripts.items()}
                if isinstance(scripts, Mapping)
                else {"": None}
            )
            if all(value is not None for value in letters.values()):
                record.script = _dominant_script(
                    {key: value for key, value in letters.items() if value is not None}
                )
            else:
                bad = True
    else:
        features = raw.get("features")
        if isinstance(features, Mapping) and features:
            for name, value in features.items():
                number = _number(value)
                if isinstance(name, str) and number is not None:
                    record.features[name] = number
                else:
                    bad = True
        else:
            bad = True
    if "vector" in raw:
        vector = raw["vector"]
        if isinstance(vector, list | tuple | np.ndarray) and len(vector) > 0:
            record.vector = vector
        else:
            bad = True
    if "label" in raw:
        label = raw["label"]
        if isinstance(label, str) and label:
            record.label = label
        else:
            bad = True
    if "confidence" in raw:
        confidence = _number(raw["confidence"])
        if confidence is not None and 0.0 <= confidence <= 1.0:
            record.confidence = confidence
        else:
            bad = True
    record.malformed = bad
    return record


def _vector_dimension(records: Sequence[_Record]) -> int | None:
    lengths = Counter(len(record.vector) for record in records if record.vector is not None)
    return lengths.most_common(1)[0][0] if lengths else None


def _vectors(records: Sequence[_Record], dimension: int | None) -> FloatArray:
    """The valid vectors as rows; a record whose vector is invalid is marked malformed."""
    rows = [i for i, record in enumerate(records) if record.vector is not None]
    keep: list[int] = []
    for i in rows:
        if len(records[i].vector) == dimension:
            keep.append(i)
        else:
            records[i].malformed = True
    if dimension is None or not keep:
        return np.empty((0, dimension or 0), dtype=np.float64)
    matrix: FloatArray | None = None
    try:  # one conversion for the whole sample when every vector is numbers
        array = np.asarray([records[i].vector for i in keep])
        if array.ndim == 2 and array.dtype.kind in "fiu":
            matrix = array.astype(np.float64, copy=False)
    except (ValueError, TypeError, OverflowError):
        pass
    if matrix is None:  # some vector holds something else: one at a time
        converted = np.zeros((len(keep), dimension), dtype=np.float64)
        for row, i in enumerate(keep):
            try:
                one = np.asarray(records[i].vector)
            except (ValueError, TypeError, OverflowError):
                converted[row] = np.nan
                continue
            if one.ndim == 1 and one.dtype.kind in "fiu":
                converted[row] = one
            else:
                converted[row] = np.nan
        matrix = converted
    finite = np.isfinite(matrix).all(axis=1)
    for bad_row in np.flatnonzero(~finite):
        records[keep[int(bad_row)]].malformed = True
    result: FloatArray = matrix[finite]
    return result


def _values(records: Sequence[_Record], name: str) -> FloatArray:
    values = [getattr(record, name) for record in records]
    return np.asarray([value for value in values if value is not None], dtype=np.float64)


def _feature(records: Sequence[_Record], name: str) -> FloatArray:
    values = [record.features.get(name) for record in records]
    return np.asarray([value for value in values if value is not None], dtype=np.float64)


# -- formatting ------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:.4g}" if magnitude >= 1e6 else f"{value:.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return "0" if value == 0 else f"{value:.3g}"


def _percent(value: float) -> str:
    return f"{100 * value:.2f}%" if value < 0.1 else f"{100 * value:.1f}%"


def _summary(values: FloatArray, unit: str) -> str:
    suffix = f" {unit}" if unit else ""
    return (
        f"mean {_fmt(float(values.mean()))}{suffix}, median {_fmt(float(np.median(values)))}, "
        f"sd {_fmt(float(values.std()))} (n {values.size})"
    )


def _mix(counts: Mapping[str, float], total: float) -> str:
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:3]
    text = ", ".join(f"{name} {_percent(count / total)}" for name, count in top)
    more = len(counts) - len(top)
    return f"{text}{f' (+{more} more)' if more > 0 else ''} (n {int(total)})"


# -- plots -----------------------------------------------------------------------------------


def _round_step(raw: float) -> tuple[float, int]:
    """The smallest step of 1, 2, 2.5 or 5 times a power of ten >= ``raw``, and its decimals."""
    exponent = math.floor(math.log10(raw))
    for mantissa, extra in ((1.0, 0), (2.0, 0), (2.5, 1), (5.0, 0), (10.0, 0)):
        step = mantissa * 10.0**exponent
        if step >= raw:
            return step, max(0, -exponent - (mantissa == 10.0)) + extra
    raise AssertionError("unreachable")  # pragma: no cover


def _histogram(reference: FloatArray, current: FloatArray) -> Plot:
    """Both samples' shares in round-numbered bins over the pooled 0.5-99.5% range (values
    outside it counted in the end bins); one bin per value for whole numbers in a short range.
    """
    pooled = np.concatenate([reference, current])
    low, high = (float(x) for x in np.quantile(pooled, [0.005, 0.995]))
    whole = bool(np.all(pooled == np.round(pooled)))
    if whole and high - low <= 40:  # counts over a short range: one bin per value
        low, high = math.floor(low), math.ceil(high)
        edges = np.arange(low, high + 2, dtype=np.float64)
        decimals, top = 0, float(high)
    elif high > low:
        step, decimals = _round_step((high - low) / HISTOGRAM_BINS)
        start = math.floor(low / step) * step
        count = max(1, math.ceil((high - start) / step - 1e-9))
        edges = start + step * np.arange(count + 1, dtype=np.float64)
        top = high
    else:
        edges = np.array([low - 0.5, low + 0.5])
        decimals, top = 3, low

    def shares(values: FloatArray) -> list[float]:
        counts, _ = np.histogram(np.clip(values, edges[0], top), bins=edges)
        return [float(count) / values.size for count in counts]

    labels = [f"{edge:.{decimals}f}" for edge in edges]
    return Plot("histogram", labels, shares(reference), shares(current))


def _ecdf_points(values: FloatArray) -> list[float]:
    ordered = np.sort(values)
    if ordered.size > MAX_ECDF_POINTS:
        ranks = np.ceil(np.arange(1, MAX_ECDF_POINTS + 1) * ordered.size / MAX_ECDF_POINTS)
        ordered = ordered[ranks.astype(np.int64) - 1]
    return [float(value) for value in ordered]


def _bars(reference: Mapping[str, float], current: Mapping[str, float]) -> Plot:
    ref_total = sum(reference.values()) or 1.0
    cur_total = sum(current.values()) or 1.0
    names = sorted(
        set(reference) | set(current),
        key=lambda name: (
            -max(reference.get(name, 0.0) / ref_total, current.get(name, 0.0) / cur_total),
            name,
        ),
    )
    shown = names if len(names) <= MAX_CATEGORIES else names[: MAX_CATEGORIES - 1]
    rest = names[len(shown) :]
    ref_shares = [reference.get(name, 0.0) / ref_total for name in shown]
    cur_shares = [current.get(name, 0.0) / cur_total for name in shown]
    if rest:
        shown = [*shown, OTHERS]
        ref_shares.append(sum(reference.get(name, 0.0) for name in rest) / ref_total)
        cur_shares.append(sum(current.get(name, 0.0) for name in rest) / cur_total)
    return Plot("bars", shown, ref_shares, cur_shares)


# -- checks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Draft:
    """A check before its score: the Bonferroni split needs the number of p-values."""

    name: str
    test: str
    statistic: float
    p_value: float | None
    effect: float
    threshold: float
    reference_value: str
    current_value: str
    plot: Plot | None
    current_n: int


def _finite(value: float, default: float) -> float:
    value = float(value)
    if math.isnan(value):
        return default
    return min(max(value, -_EFFECT_CAP), _EFFECT_CAP)


def _probability(value: float) -> float:
    return min(max(_finite(value, 1.0), 0.0), 1.0)


def _numeric(
    name: str, reference: FloatArray, current: FloatArray, unit: str, th: DriftThresholds
) -> _Draft:
    ks = stats.ks_2samp(reference, current)
    return _Draft(
        name=name,
        test="psi+ks",
        statistic=_finite(ks.statistic, 0.0),
        p_value=_probability(ks.p_value),
        effect=abs(_finite(stats.psi(reference, current, bins=PSI_BINS), 0.0)),
        threshold=th.psi,
        reference_value=_summary(reference, unit),
        current_value=_summary(current, unit),
        plot=_histogram(reference, current),
        current_n=current.size,
    )


def _rate(
    name: str,
    noun: str,
    reference: tuple[int, int],
    current: tuple[int, int],
    current_n: int,
    th: DriftThresholds,
) -> _Draft:
    (s1, n1), (s2, n2) = reference, current
    test = stats.two_proportion_ztest(s1, n1, s2, n2)

    def describe(successes: int, trials: int) -> str:
        low, high = stats.wilson_interval(successes, trials)
        return (
            f"{noun} {_percent(successes / trials)} "
            f"(95% CI {_percent(low)}-{_percent(high)}, {successes} of {trials})"
        )

    return _Draft(
        name=name,
        test="two-proportion z",
        statistic=_finite(test.statistic, 0.0),
        p_value=_probability(test.p_value),
        effect=abs(s2 / n2 - s1 / n1),
        threshold=th.rate,
        reference_value=describe(s1, n1),
        current_value=describe(s2, n2),
        plot=Plot("bars", [noun], [s1 / n1], [s2 / n2]),
        current_n=current_n,
    )


def _categorical(
    name: str, reference: Counter[str], current: Counter[str], th: DriftThresholds
) -> _Draft:
    names = sorted(set(reference) | set(current))
    ref = {key: float(reference.get(key, 0)) for key in names}
    cur = {key: float(current.get(key, 0)) for key in names}
    test = stats.chi2_homogeneity(ref, cur)
    return _Draft(
        name=name,
        test="chi-square",
        statistic=_finite(test.statistic, 0.0),
        p_value=_probability(test.p_value),
        effect=abs(_finite(stats.cramers_v(ref, cur), 0.0)),
        threshold=th.cramers_v,
        reference_value=_mix(reference, reference.total()),
        current_value=_mix(current, current.total()),
        plot=_bars(ref, cur),
        current_n=current.total(),
    )


def _vector_checks(reference: FloatArray, current: FloatArray, th: DriftThresholds) -> list[_Draft]:
    centre = reference.mean(axis=0)
    spread = math.sqrt(float(np.mean(np.sum((reference - centre) ** 2, axis=1))))
    drafts: list[_Draft] = []
    if spread > 1e-12:  # identical reference vectors have no scale to measure a shift by
        shift = float(np.linalg.norm(current.mean(axis=0) - centre))
        ratio = _finite(shift / spread, 0.0)
        drafts.append(
            _Draft(
                name="vector_centroid",
                test="centroid",
                statistic=shift,
                p_value=None,
                effect=ratio,
                threshold=th.centroid,
                reference_value=f"spread (rms distance to centroid) {_fmt(spread)} "
                f"(n {reference.shape[0]}, {reference.shape[1]} dims)",
                current_value=f"centroid moved {_fmt(shift)} = {ratio:.2f} x spread "
                f"(n {current.shape[0]})",
                plot=_histogram(
                    np.linalg.norm(reference - centre, axis=1),
                    np.linalg.norm(current - centre, axis=1),
                ),
                current_n=current.shape[0],
            )
        )
    directions = np.random.default_rng(th.seed).standard_normal(
        (reference.shape[1], th.projections)
    )
    norms = np.linalg.norm(directions, axis=0)
    directions = directions / np.where(norms > 0, norms, 1.0)
    ref_proj = reference @ directions
    cur_proj = current @ directions
    tests = [stats.ks_2samp(ref_proj[:, k], cur_proj[:, k]) for k in range(th.projections)]
    worst = max(range(th.projections), key=lambda k: _finite(tests[k].statistic, 0.0))
    smallest_p = min(_probability(test.p_value) for test in tests)
    worst_d = _finite(tests[worst].statistic, 0.0)
    ref_worst, cur_worst = ref_proj[:, worst], cur_proj[:, worst]
    drafts.append(
        _Draft(
            name="vector_projections",
            test="ks on projections",
            statistic=worst_d,
            p_value=min(1.0, smallest_p * th.projections),
            effect=abs(worst_d),
            threshold=th.ks,
            reference_value=f"projection {worst + 1} of {th.projections}: "
            f"mean {_fmt(float(ref_worst.mean()))}, sd {_fmt(float(ref_worst.std()))}",
            current_value=f"mean {_fmt(float(cur_worst.mean()))}, "
            f"sd {_fmt(float(cur_worst.std()))}, D {worst_d:.3f}",
            plot=Plot("ecdf", [], _ecdf_points(ref_worst), _ecdf_points(cur_worst)),
            current_n=current.shape[0],
        )
    )
    return drafts


def _drafts(
    reference: Sequence[_Record], current: Sequence[_Record], th: DriftThresholds
) -> list[_Draft]:
    need = max(2, math.ceil(th.min_samples / 2))
    drafts: list[_Draft] = []

    def enough(a: int, b: int) -> bool:
        return a >= need and b >= need

    for name, unit in (("tokens", "tokens"), ("chars", "chars")):
        ref, cur = _values(reference, name), _values(current, name)
        if enough(ref.size, cur.size):
            drafts.append(_numeric(name, ref, cur, unit, th))

    def unk_counts(records: Sequence[_Record]) -> tuple[int, int, int]:
        pairs = [(r.unk, r.tokens) for r in records if r.unk is not None and r.tokens is not None]
        unk, tokens = sum(unk for unk, _ in pairs), sum(tokens for _, tokens in pairs)
        return len(pairs), round(unk), round(tokens)  # whole numbers (``_count``)

    ref_texts, ref_unk, ref_tokens = unk_counts(reference)
    cur_texts, cur_unk, cur_tokens = unk_counts(current)
    if enough(ref_texts, cur_texts) and ref_tokens > 0 and cur_tokens > 0:
        drafts.append(
            _rate(
                "unknown_token_rate",
                "unk rate",
                (ref_unk, ref_tokens),
                (cur_unk, cur_tokens),
                cur_texts,
                th,
            )
        )

    ref_cut = [r.truncated for r in reference if r.truncated is not None]
    cur_cut = [r.truncated for r in current if r.truncated is not None]
    if enough(len(ref_cut), len(cur_cut)):
        drafts.append(
            _rate(
                "truncation_rate",
                "truncated",
                (sum(ref_cut), len(ref_cut)),
                (sum(cur_cut), len(cur_cut)),
                len(cur_cut),
                th,
            )
        )

    ref_scripts = Counter(r.script for r in reference if r.script is not None)
    cur_scripts = Counter(r.script for r in current if r.script is not None)
    if enough(ref_scripts.total(), cur_scripts.total()):
        drafts.append(_categorical("script_mix", ref_scripts, cur_scripts, th))

    names = dict.fromkeys(name for r in reference for name in r.features)
    for name in names:
        ref, cur = _feature(reference, name), _feature(current, name)
        if enough(ref.size, cur.size):
            drafts.append(_numeric(f"feature:{name}", ref, cur, "", th))

    # current vectors of another dimension than the reference's are malformed; with no
    # reference vectors, the current sample's own most common dimension decides
    dimension = _vector_dimension(reference)
    ref_vectors = _vectors(reference, dimension)
    cur_vectors = _vectors(current, dimension or _vector_dimension(current))
    if enough(ref_vectors.shape[0], cur_vectors.shape[0]):
        drafts.extend(_vector_checks(ref_vectors, cur_vectors, th))

    ref_labels = Counter(r.label for r in reference if r.label is not None)
    cur_labels = Counter(r.label for r in current if r.label is not None)
    if enough(ref_labels.total(), cur_labels.total()):
        drafts.append(_categorical("label_mix", ref_labels, cur_labels, th))

    ref_conf, cur_conf = _values(reference, "confidence"), _values(current, "confidence")
    if enough(ref_conf.size, cur_conf.size):
        ks = stats.ks_2samp(ref_conf, cur_conf)
        drafts.append(
            _Draft(
                name="confidence",
                test="ks",
                statistic=_finite(ks.statistic, 0.0),
                p_value=_probability(ks.p_value),
                effect=abs(_finite(ks.statistic, 0.0)),
                threshold=th.ks,
                reference_value=_summary(ref_conf, ""),
                current_value=_summary(cur_conf, ""),
                plot=_histogram(ref_conf, cur_conf),
                current_n=cur_conf.size,
            )
        )
    return drafts


def _score(draft: _Draft, alpha: float, min_samples: int) -> Check:
    ratio = _finite(draft.effect / draft.threshold, 0.0)
    # centroid: no p-value; enough current vectors make its sampling noise small
    significant = draft.current_n >= min_samples if draft.p_value is None else draft.p_value < alpha
    score = ratio if significant else min(ratio, 0.99)
    return Check(
        name=draft.name,
        test=draft.test,
        statistic=draft.statistic,
        p_value=draft.p_value,
        effect=draft.effect,
        threshold=draft.threshold,
        score=score,
        drifted=score >= 1.0,
        reference_value=draft.reference_value,
        current_value=draft.current_value,
        plot=draft.plot,
    )


def check_drift(
    reference: Sequence[Mapping[str, Any]],
    current: Sequence[Mapping[str, Any]],
    *,
    model: str,
    version: str,
    thresholds: DriftThresholds = DriftThresholds(),  # frozen: safe to share
) -> DriftResult:
    """Compare a recent sample of records with the reference sample (see the module doc)."""
    ref_records = [_parse(raw) for raw in reference]
    cur_records = [_parse(raw) for raw in current]
    drafts = _drafts(ref_records, cur_records, thresholds)  # marks bad vectors malformed too
    skipped = sum(record.malformed for record in cur_records)

    def result(
        status: Literal["ok", "drift", "insufficient_data"], checks: list[Check]
    ) -> DriftResult:
        score = max((check.score for check in checks), default=None)
        return DriftResult(
            model=model,
            version=version,
            status=status,
            score=None if status == "insufficient_data" else score,
            reference_count=len(reference),
            current_count=len(current),
            skipped=skipped,
            checks=checks,
        )

    if len(cur_records) - skipped < thresholds.min_samples or not drafts:
        return result("insufficient_data", [])
    tested = sum(draft.p_value is not None for draft in drafts)
    alpha = thresholds.alpha / max(tested, 1)
    checks = [_score(draft, alpha, thresholds.min_samples) for draft in drafts]
    return result("drift" if any(check.drifted for check in checks) else "ok", checks)
