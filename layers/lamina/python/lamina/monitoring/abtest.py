"""The A/B report: a model's candidate version against its control, and whether there is a winner.

A function under an A/B test answers each caller with one of two variants: ``control`` (the
store alias it served before) or ``candidate``, chosen by a hash of a caller key, so a caller
always sees the same variant. Every answer is recorded (variant, version, status, latency), and
callers report outcomes for a response: a boolean (clicked, accepted) or a numeric reward. The
records come from the local server's JSONL files (``read_local``) or from the CloudWatch metrics
the functions emit (``read_cloudwatch``); ``compare`` turns them into an ``ABReport`` and
``render_text`` into what ``lamina ab report`` prints.

Method: a fixed-horizon test
----------------------------
The primary metric is the outcome rate (share of boolean outcomes that are true) or the mean
reward. Its sample size per variant, the *horizon*, is computed up front from the minimum
detectable effect (``min_effect``: an absolute difference of rates, or reward units), the power
and alpha:

- outcome rate: the two-proportion sample size, from ``baseline_rate`` (best: the control's
  rate from before the test, so the horizon is fixed in advance) or else the control's rate
  observed so far (clamped to [0.01, 0.99]; 0.5 before any outcome);
- reward: ``n = ceil(2 (z_{1-alpha/2} + z_power)^2 sd^2 / min_effect^2)`` with the control's
  reward standard deviation observed so far.

No winner is declared before *both* variants reach the horizon, whatever the interim p-value
says. Checking a running test again and again and stopping at the first p < alpha inflates the
false-positive rate far above alpha (with a hundred peeks, an A/A test "finds" a winner in about
a third of the runs instead of 5%); one test at a horizon chosen beforehand keeps it at alpha.
At the horizon: a two-proportion z-test (outcome rate) or Welch's t-test (reward), two-sided.

Guardrails are checked at any time, before the horizon too: they are a safety stop, not a
winner. The candidate fails one when its 5xx error rate is higher than the control's with
two-proportion p < ``guardrail_alpha`` (0.01), or when its mean latency is higher by more than
10% with Welch p < ``guardrail_alpha``. The latency p50 and p99 differences are reported with
bootstrap intervals (descriptive; not part of the verdict).

Verdicts
--------
- ``no_data``: a variant has neither requests nor outcomes in the window (or is missing).
- ``guardrail_failed``: the candidate is worse on errors or latency; stop the test, keep the
  control. The reasons say which guardrail and by how much.
- ``collecting``: the horizon is not reached yet; the reasons say how many more outcomes each
  variant needs. An interim p-value, however small, is not a result.
- ``candidate_wins`` / ``control_wins``: at the horizon, the primary metric differs with
  p < alpha, in the candidate's favour or the control's.
- ``no_difference``: at the horizon, p >= alpha: no difference as large as ``min_effect`` was
  found (the difference interval says what remains plausible). Keeping the control is the safe
  choice; a smaller effect needs a new test with a smaller ``min_effect``.

From CloudWatch, the reward and latency comparisons are descriptive only: CloudWatch keeps
sums, counts and percentiles but no variance, so there is no t-test, no reward horizon (a
reward test never leaves ``collecting``) and no latency guardrail. The error and outcome rates
need only counts and are tested in full. The report's notes say so.

numpy, the standard library and ``lamina.monitoring.stats`` only: this runs in a Lambda image.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lamina.monitoring import stats
from lamina.monitoring.events import iso, parse_time, utc

CONTROL = "control"
CANDIDATE = "candidate"
VARIANTS = (CONTROL, CANDIDATE)

Verdict = Literal[
    "collecting", "candidate_wins", "control_wins", "no_difference", "guardrail_failed", "no_data"
]
Primary = Literal["outcome_rate", "reward"]

# The latency guardrail: the candidate's mean latency may be at most this much higher (and
# significantly so) before the test is stopped.
LATENCY_GUARDRAIL_RATIO = 1.10
# The per-variant intervals shown next to rates and means.
DISPLAY_CONFIDENCE = 0.95
# Latency quantiles are bootstrapped on at most this many values on the larger side (the
# bootstrap resamples each side n_boot times); beyond it, see _quantile_comparison.
BOOTSTRAP_MAX_VALUES = 10_000

_FILE_NAME = re.compile(r"^(requests|outcomes)-(\d{4}-\d{2}-\d{2})\.jsonl$")


@dataclass
class VariantStats:
    """What one variant did in a window: requests, errors, latency, outcomes and rewards.

    From local records the raw latencies and rewards are kept (the tests need their spread);
    from CloudWatch only the counts, sums and percentiles exist, and the raw lists are empty.
    """

    variant: str
    versions: set[str] = field(default_factory=set)  # model versions seen answering as it
    requests: int = 0
    errors: int = 0  # 5xx answers
    latencies: list[float] = field(default_factory=list)  # ms, raw (local records)
    latency_sum: float = 0.0
    latency_p50: float | None = None  # from CloudWatch when raw values are absent
    latency_p99: float | None = None
    outcomes: int = 0  # boolean outcomes reported
    successes: int = 0  # of which true
    rewards: list[float] = field(default_factory=list)  # raw (local records)
    reward_count: int = 0
    reward_sum: float = 0.0

    @property
    def empty(self) -> bool:
        return self.requests == 0 and self.outcomes == 0 and self.reward_count == 0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def outcome_rate(self) -> float | None:
        return self.successes / self.outcomes if self.outcomes else None

    @property
    def latency_mean(self) -> float | None:
        if self.latencies:
            return float(np.mean(self.latencies))
        return self.latency_sum / self.requests if self.requests else None

    @property
    def reward_mean(self) -> float | None:
        if self.rewards:
            return float(np.mean(self.rewards))
        return self.reward_sum / self.reward_count if self.reward_count else None

    @property
    def raw_latencies(self) -> bool:
        """Whether every request's latency is at hand (local records), not only aggregates."""
        return self.requests > 0 and len(self.latencies) == self.requests

    @property
    def raw_rewards(self) -> bool:
        return self.reward_count > 0 and len(self.rewards) == self.reward_count

    def latency_quantile(self, q: float) -> float | None:
        """The latency quantile: from the raw values, or CloudWatch's p50/p99."""
        if self.latencies:
            return float(np.quantile(np.asarray(self.latencies, dtype=np.float64), q))
        if q == 0.5:
            return self.latency_p50
        if q == 0.99:
            return self.latency_p99
        return None


# ---- reading the records -----------------------------------------------------------------


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = utc(start), utc(end)
    if end <= start:
        raise ValueError(f"the window's end ({end.isoformat()}) is not after its start")
    return start, end


def _finite(value: object) -> float | None:
    """A finite JSON number (not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the float range
        return None
    return number if math.isfinite(number) else None


class _Accumulator:
    """Per-variant stats built record by record; anything malformed is counted, never raised."""

    def __init__(self, model: str, start: datetime, end: datetime) -> None:
        self.model = model
        self.start, self.end = start, end
        self.stats = {variant: VariantStats(variant) for variant in VARIANTS}
        self.malformed = 0

    def _common(self, record: object) -> tuple[Mapping[str, Any], VariantStats] | None:
        """The record and its variant's stats; None if malformed (counted) or not wanted."""
        if not isinstance(record, Mapping):
            self.malformed += 1
            return None
        time = parse_time(record.get("time"))
        model = record.get("model")
        variant = record.get("variant")
        if time is None or not isinstance(model, str) or variant not in VARIANTS:
            self.malformed += 1
            return None
        if model != self.model or not self.start <= time < self.end:
            return None
        return record, self.stats[str(variant)]

    def add_request(self, record: object) -> None:
        common = self._common(record)
        if common is None:
            return
        fields, stats_ = common
        status = fields.get("status")
        ms = _finite(fields.get("ms"))
        version = fields.get("version")
        if (
            isinstance(status, bool)
            or not isinstance(status, int)
            or not 100 <= status <= 599
            or ms is None
            or ms < 0
            or not (version is None or isinstance(version, str))
        ):
            self.malformed += 1
            return
        stats_.requests += 1
        stats_.errors += status >= 500
        stats_.latencies.append(ms)
        stats_.latency_sum += ms
        if version:
            stats_.versions.add(version)

    def add_outcome(self, record: object) -> None:
        common = self._common(record)
        if common is None:
            return
        fields, stats_ = common
        outcome = fields.get("outcome")
        raw_reward = fields.get("reward")
        reward = _finite(raw_reward)
        if (
            not (outcome is None or isinstance(outcome, bool))
            or (raw_reward is not None and reward is None)
            or (outcome is None and reward is None)
        ):
            self.malformed += 1
            return
        if outcome is not None:
            stats_.outcomes += 1
            stats_.successes += outcome
        if reward is not None:
            stats_.rewards.append(reward)
            stats_.reward_count += 1
            stats_.reward_sum += reward


def _aggregate(
    requests: Iterable[object],
    outcomes: Iterable[object],
    model: str,
    start: datetime,
    end: datetime,
) -> tuple[dict[str, VariantStats], int]:
    start, end = _window(start, end)
    accumulator = _Accumulator(model, start, end)
    for record in requests:
        accumulator.add_request(record)
    for record in outcomes:
        accumulator.add_outcome(record)
    return accumulator.stats, accumulator.malformed


def aggregate(
    requests: Iterable[Mapping[str, Any]],
    outcomes: Iterable[Mapping[str, Any]],
    *,
    model: str,
    start: datetime,
    end: datetime,
) -> tuple[dict[str, VariantStats], int]:
    """Per-variant stats of ``model``'s request and outcome records with a time in [start, end).

    Returns the stats of both variants (empty ones included) and the number of malformed
    records skipped. A request record needs ``time`` (ISO 8601), ``model``, ``variant``
    (control or candidate), ``status`` (an HTTP status) and ``ms`` (finite, >= 0); ``version``
    is a string or absent. An outcome record needs ``time``, ``model``, ``variant`` and at least
    one of ``outcome`` (a boolean) and ``reward`` (a finite number); either may be null or
    absent. Anything else is malformed: counted, never raised. Records of another model or
    outside the window are skipped without being counted.
    """
    return _aggregate(requests, outcomes, model, start, end)


def _lines(paths: Sequence[Path], bad: list[int]) -> Iterator[object]:
    """The JSON values of the files' lines; a line that is no JSON adds one to bad[0]."""
    for path in paths:
        with path.open("rb") as lines:
            for line in lines:
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
                    bad[0] += 1


def read_local(
    directory: Path, *, model: str, start: datetime, end: datetime
) -> tuple[dict[str, VariantStats], int]:
    """Per-variant stats from the local server's ``requests-*.jsonl`` and ``outcomes-*.jsonl``.

    Only the files whose (UTC) date can hold a time in [start, end) are opened. Returns the
    stats and the number of malformed lines skipped (see ``aggregate``).
    """
    start, end = _window(start, end)
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    files: dict[str, list[Path]] = {"requests": [], "outcomes": []}
    for path in sorted(Path(directory).iterdir()):
        match = _FILE_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        try:
            day = date.fromisoformat(match[2])
        except ValueError:
            continue
        if first <= day <= last:
            files[match[1]].append(path)
    bad = [0]
    variants, malformed = _aggregate(
        _lines(files["requests"], bad), _lines(files["outcomes"], bad), model, start, end
    )
    return variants, malformed + bad[0]


# (metric, statistic) of every CloudWatch query, per variant.
_CLOUDWATCH_QUERIES = (
    ("VariantLatency", "SampleCount"),
    ("VariantLatency", "Sum"),
    ("VariantLatency", "p50"),
    ("VariantLatency", "p99"),
    ("VariantErrors", "Sum"),
    ("VariantErrors", "SampleCount"),
    ("Outcome", "Sum"),
    ("Outcome", "SampleCount"),
    ("Reward", "Sum"),
    ("Reward", "SampleCount"),
)
_PERCENTILES = ("p50", "p99")


def _period(start: datetime, end: datetime) -> int:
    """The whole window as one period, rounded up to what CloudWatch accepts for its age.

    A multiple of 60 s; of 300 s when the data is 15 to 63 days old and of 3600 s beyond that
    (CloudWatch keeps only 5-minute, then hourly, aggregates of older data).
    """
    age = datetime.now(UTC) - start
    unit = 60 if age <= timedelta(days=15) else 300 if age <= timedelta(days=63) else 3600
    return max(unit, math.ceil((end - start).total_seconds() / unit) * unit)


def _get_metric_data(
    client: Any, queries: list[dict[str, Any]], start: datetime, end: datetime
) -> dict[str, list[tuple[datetime | None, float]]]:
    """Every query's (timestamp, value) pairs, over all pages of one GetMetricData call."""
    found: dict[str, list[tuple[datetime | None, float]]] = {}
    request: dict[str, Any] = {
        "MetricDataQueries": queries,
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    while True:
        page = client.get_metric_data(**request)
        for result in page.get("MetricDataResults", []):
            values = result.get("Values") or []
            stamps = result.get("Timestamps") or []
            pairs = found.setdefault(str(result.get("Id")), [])
            for i, raw in enumerate(values):
                value = _finite(raw)
                if value is not None:
                    stamp = stamps[i] if i < len(stamps) else None
                    pairs.append((stamp if isinstance(stamp, datetime) else None, value))
        token = page.get("NextToken")
        if not token:
            return found
        request["NextToken"] = token


def _percentile(
    pairs: list[tuple[datetime | None, float]], counts: list[tuple[datetime | None, float]]
) -> float | None:
    """One period's percentile; over several (CloudWatch rounds the start down), their mean
    weighted by the request counts of the same periods: an approximation."""
    if not pairs:
        return None
    if len(pairs) == 1:
        return pairs[0][1]
    weights = dict(counts)
    total = sum(weights.get(stamp, 0.0) for stamp, _ in pairs)
    if total <= 0:
        return float(np.mean([value for _, value in pairs]))
    return sum(weights.get(stamp, 0.0) * value for stamp, value in pairs) / total


def read_cloudwatch(
    client: Any, *, namespace: str, service: str, model: str, start: datetime, end: datetime
) -> dict[str, VariantStats]:
    """Per-variant stats from the EMF metrics in CloudWatch (namespace, dimensions ModelName,
    Variant, service): one GetMetricData call (all its pages), a single period over the window.

    Requests are VariantLatency's SampleCount, errors VariantErrors' Sum, outcomes and successes
    Outcome's SampleCount and Sum, rewards Reward's SampleCount and Sum; latency p50/p99 are
    CloudWatch's percentiles. No raw values, hence no variance (see the module docstring).

    If the call fails, it is made once more without the percentile queries (an endpoint that
    cannot compute percentiles, such as moto, fails the whole call); p50/p99 then stay None,
    and a second failure raises.
    """
    start, end = _window(start, end)
    period = _period(start, end)
    queries: list[dict[str, Any]] = []
    ids: dict[tuple[str, str, str], str] = {}
    for v, variant in enumerate(VARIANTS):
        dimensions = [
            {"Name": "ModelName", "Value": model},
            {"Name": "Variant", "Value": variant},
            {"Name": "service", "Value": service},
        ]
        for q, (metric, stat) in enumerate(_CLOUDWATCH_QUERIES):
            query_id = f"v{v}q{q}"
            ids[variant, metric, stat] = query_id
            metric_spec = {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions}
            queries.append(
                {
                    "Id": query_id,
                    "MetricStat": {"Metric": metric_spec, "Period": period, "Stat": stat},
                    "ReturnData": True,
                }
            )
    try:
        found = _get_metric_data(client, queries, start, end)
    except Exception:
        counts_only = [
            query for query in queries if query["MetricStat"]["Stat"] not in _PERCENTILES
        ]
        found = _get_metric_data(client, counts_only, start, end)

    out: dict[str, VariantStats] = {}
    for variant in VARIANTS:

        def pairs(metric: str, stat: str, variant: str = variant) -> list[tuple[Any, float]]:
            return found.get(ids[variant, metric, stat], [])

        def total(metric: str, stat: str, variant: str = variant) -> float:
            return sum(value for _, value in pairs(metric, stat, variant))

        requests = round(total("VariantLatency", "SampleCount"))
        if requests == 0:  # latency not emitted: the error metric counts requests too
            requests = round(total("VariantErrors", "SampleCount"))
        latency_counts = pairs("VariantLatency", "SampleCount")
        out[variant] = VariantStats(
            variant,
            requests=requests,
            errors=round(total("VariantErrors", "Sum")),
            latency_sum=total("VariantLatency", "Sum"),
            latency_p50=_percentile(pairs("VariantLatency", "p50"), latency_counts),
            latency_p99=_percentile(pairs("VariantLatency", "p99"), latency_counts),
            outcomes=round(total("Outcome", "SampleCount")),
            successes=round(total("Outcome", "Sum")),
            reward_count=round(total("Reward", "SampleCount")),
            reward_sum=total("Reward", "Sum"),
        )
    return out


# ---- the comparison ----------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """One metric, candidate against control.

    ``difference`` is candidate - control. The per-variant intervals are 95%; the difference
    interval is at 1 - alpha. ``significant`` is p < alpha for the outcome rate and the reward,
    p < guardrail_alpha for the error rate and mean latency (whichever direction), and "the
    bootstrap interval excludes 0" for the latency quantiles. ``test`` is "two-proportion z",
    "Welch t", "bootstrap" or "descriptive" (no test: values only, p_value None).
    """

    metric: str
    control: float | None
    candidate: float | None
    control_interval: tuple[float, float] | None
    candidate_interval: tuple[float, float] | None
    difference: float | None
    difference_interval: tuple[float, float] | None
    p_value: float | None
    test: str
    significant: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "control": _json_number(self.control),
            "candidate": _json_number(self.candidate),
            "control_interval": _json_interval(self.control_interval),
            "candidate_interval": _json_interval(self.candidate_interval),
            "difference": _json_number(self.difference),
            "difference_interval": _json_interval(self.difference_interval),
            "p_value": _json_number(self.p_value),
            "test": self.test,
            "significant": self.significant,
        }


def _json_number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _json_interval(interval: tuple[float, float] | None) -> list[float | None] | None:
    if interval is None:
        return None
    return [_json_number(interval[0]), _json_number(interval[1])]


@dataclass(frozen=True)
class ABReport:
    """The A/B report of one model over one window: the verdict, why, and the numbers behind."""

    model: str
    start: datetime
    end: datetime
    alpha: float
    power: float
    min_effect: float
    primary: str  # "outcome_rate" or "reward"
    variants: dict[str, VariantStats]
    comparisons: list[Comparison]
    # The fixed horizon for the primary metric (outcomes or rewards per variant); None for a
    # reward test without a variance yet (CloudWatch, or fewer than two rewards).
    required_per_variant: int | None
    verdict: Verdict
    reasons: list[str]  # why this verdict, how many more outcomes, guardrail details
    notes: list[str]  # caveats: CloudWatch's limits, skipped lines, versions

    def comparison(self, metric: str) -> Comparison | None:
        return next((c for c in self.comparisons if c.metric == metric), None)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe summary (no raw values, no NaN or infinity)."""
        return {
            "model": self.model,
            "start": iso(self.start),
            "end": iso(self.end),
            "alpha": self.alpha,
            "power": self.power,
            "min_effect": self.min_effect,
            "primary": self.primary,
            "required_per_variant": self.required_per_variant,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "variants": {name: _variant_json(v) for name, v in self.variants.items()},
            "comparisons": [c.to_json() for c in self.comparisons],
        }


def _variant_json(v: VariantStats) -> dict[str, Any]:
    return {
        "versions": sorted(v.versions),
        "requests": v.requests,
        "errors": v.errors,
        "error_rate": _json_number(v.error_rate),
        "latency_mean_ms": _json_number(v.latency_mean),
        "latency_p50_ms": _json_number(v.latency_quantile(0.5)),
        "latency_p99_ms": _json_number(v.latency_quantile(0.99)),
        "outcomes": v.outcomes,
        "successes": v.successes,
        "outcome_rate": _json_number(v.outcome_rate),
        "reward_count": v.reward_count,
        "reward_sum": _json_number(v.reward_sum),
        "reward_mean": _json_number(v.reward_mean),
    }


def _descriptive(metric: str, control: float | None, candidate: float | None) -> Comparison:
    """Values without a test (no raw values to test on)."""
    return Comparison(
        metric=metric,
        control=control,
        candidate=candidate,
        control_interval=None,
        candidate_interval=None,
        difference=candidate - control if control is not None and candidate is not None else None,
        difference_interval=None,
        p_value=None,
        test="descriptive",
        significant=False,
    )


def _proportion_comparison(
    metric: str,
    control: tuple[int, int],
    candidate: tuple[int, int],
    level: float,
    confidence: float,
) -> Comparison | None:
    """Two proportions, (successes, trials) each: Wilson intervals and the two-proportion z-test."""
    (s1, n1), (s2, n2) = control, candidate
    if n1 == 0 and n2 == 0:
        return None
    p1 = s1 / n1 if n1 else None
    p2 = s2 / n2 if n2 else None
    ci1 = stats.wilson_interval(s1, n1, DISPLAY_CONFIDENCE) if n1 else None
    ci2 = stats.wilson_interval(s2, n2, DISPLAY_CONFIDENCE) if n2 else None
    tested = p1 is not None and p2 is not None
    result = stats.two_proportion_ztest(s1, n1, s2, n2) if tested else None
    return Comparison(
        metric=metric,
        control=p1,
        candidate=p2,
        control_interval=ci1,
        candidate_interval=ci2,
        difference=p2 - p1 if p1 is not None and p2 is not None else None,
        difference_interval=(
            stats.newcombe_diff_interval(s1, n1, s2, n2, confidence) if tested else None
        ),
        p_value=result.p_value if result is not None else None,
        test="two-proportion z",
        significant=result is not None and result.p_value < level,
    )


def _mean_interval(values: np.ndarray[Any, np.dtype[np.float64]]) -> tuple[float, float] | None:
    """The t interval of a mean (DISPLAY_CONFIDENCE); None under two values."""
    n = len(values)
    if n < 2:
        return None
    mean = float(values.mean())
    half = stats.t_ppf(0.5 + DISPLAY_CONFIDENCE / 2, n - 1) * float(values.std(ddof=1)) / n**0.5
    return mean - half, mean + half


def _mean_comparison(
    metric: str,
    control: VariantStats,
    candidate: VariantStats,
    kind: Literal["reward", "latency"],
    level: float,
    confidence: float,
) -> Comparison | None:
    """Welch's t on the raw values when both sides have them (two or more); else the means."""
    if kind == "reward":
        raw = control.raw_rewards and candidate.raw_rewards
        values = (control.rewards, candidate.rewards)
        means = (control.reward_mean, candidate.reward_mean)
    else:
        raw = control.raw_latencies and candidate.raw_latencies
        values = (control.latencies, candidate.latencies)
        means = (control.latency_mean, candidate.latency_mean)
    if means == (None, None):
        return None
    if not raw or min(len(values[0]), len(values[1])) < 2:
        return _descriptive(metric, *means)
    a = np.asarray(values[0], dtype=np.float64)
    b = np.asarray(values[1], dtype=np.float64)
    m1, v1, m2, v2 = float(a.mean()), float(a.var(ddof=1)), float(b.mean()), float(b.var(ddof=1))
    result = stats.welch_ttest(m1, v1, len(a), m2, v2, len(b))
    return Comparison(
        metric=metric,
        control=m1,
        candidate=m2,
        control_interval=_mean_interval(a),
        candidate_interval=_mean_interval(b),
        difference=m2 - m1,
        difference_interval=stats.welch_interval(m1, v1, len(a), m2, v2, len(b), confidence),
        p_value=result.p_value,
        test="Welch t",
        significant=result.p_value < level,
    )


def _subsample(values: list[float], size: int, seed: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    array = np.asarray(values, dtype=np.float64)
    if size >= len(array):
        return array
    return np.random.default_rng(seed).choice(array, size, replace=False)


def _quantile_comparison(
    metric: str, q: float, control: VariantStats, candidate: VariantStats, confidence: float
) -> Comparison | None:
    """A latency quantile: a percentile-bootstrap interval of the difference on raw values;
    the values alone (descriptive) without them.

    Beyond BOOTSTRAP_MAX_VALUES on the larger side, both sides are subsampled by the same
    fraction f (seeded), and the interval's offsets from the subsample's estimate are scaled
    by sqrt(f) around the full data's estimate: a quantile's spread shrinks as 1/sqrt(n)
    (the m-out-of-n bootstrap).
    """
    a, b = control.latency_quantile(q), candidate.latency_quantile(q)
    if a is None and b is None:
        return None
    if len(control.latencies) < 2 or len(candidate.latencies) < 2 or a is None or b is None:
        return _descriptive(metric, a, b)
    fraction = min(
        1.0, BOOTSTRAP_MAX_VALUES / max(len(control.latencies), len(candidate.latencies))
    )
    estimate, low, high = stats.bootstrap_diff_interval(
        _subsample(control.latencies, max(2, round(fraction * len(control.latencies))), 1),
        _subsample(candidate.latencies, max(2, round(fraction * len(candidate.latencies))), 2),
        q,
        confidence=confidence,
    )
    if fraction < 1.0:
        scale = math.sqrt(fraction)
        low, high = b - a + (low - estimate) * scale, b - a + (high - estimate) * scale
    return Comparison(
        metric=metric,
        control=a,
        candidate=b,
        control_interval=None,
        candidate_interval=None,
        difference=b - a,
        difference_interval=(low, high),
        p_value=None,
        test="bootstrap",
        significant=low > 0 or high < 0,
    )


def _fmt_p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.3g}"


def _fmt_interval(interval: tuple[float, float] | None, fmt: str = "{:+.4g}") -> str:
    if interval is None:
        return "n/a"
    return f"[{fmt.format(interval[0])}, {fmt.format(interval[1])}]"


def compare(
    variants: Mapping[str, VariantStats],
    *,
    model: str,
    start: datetime,
    end: datetime,
    alpha: float = 0.05,
    power: float = 0.8,
    min_effect: float = 0.02,
    primary: Primary = "outcome_rate",
    guardrail_alpha: float = 0.01,
    baseline_rate: float | None = None,
    malformed: int = 0,
) -> ABReport:
    """Compare the candidate with the control and decide (see the module docstring).

    ``min_effect`` is the minimum detectable effect: an absolute difference of outcome rates
    (0.02 = two points) or of mean rewards, in reward units. ``malformed``: the lines the
    reader skipped, for the notes.
    """
    if not 0 < alpha < 1 or not 0 < power < 1 or not 0 < guardrail_alpha < 1:
        raise ValueError("alpha, power and guardrail_alpha must be in (0, 1)")
    if not min_effect > 0 or (primary == "outcome_rate" and not min_effect <= 0.5):
        raise ValueError("min_effect must be positive (and at most 0.5 for a rate)")
    if baseline_rate is not None and not 0 < baseline_rate < 1:
        raise ValueError("baseline_rate must be in (0, 1)")
    if primary not in ("outcome_rate", "reward"):
        raise ValueError(f"unknown primary metric {primary!r}")

    missing = [name for name in VARIANTS if name not in variants]
    all_variants = {name: variants.get(name) or VariantStats(name) for name in VARIANTS}
    all_variants.update({k: v for k, v in variants.items() if k not in VARIANTS})
    control, candidate = all_variants[CONTROL], all_variants[CANDIDATE]
    confidence = 1 - alpha

    found = (
        _proportion_comparison(
            "outcome_rate",
            (control.successes, control.outcomes),
            (candidate.successes, candidate.outcomes),
            alpha,
            confidence,
        ),
        _mean_comparison("reward", control, candidate, "reward", alpha, confidence),
        _proportion_comparison(
            "error_rate",
            (control.errors, control.requests),
            (candidate.errors, candidate.requests),
            guardrail_alpha,
            confidence,
        ),
        _mean_comparison(
            "latency_mean_ms", control, candidate, "latency", guardrail_alpha, confidence
        ),
        _quantile_comparison("latency_p50_ms", 0.5, control, candidate, confidence),
        _quantile_comparison("latency_p99_ms", 0.99, control, candidate, confidence),
    )
    comparisons = [c for c in found if c is not None]
    by_metric = {c.metric: c for c in comparisons}

    notes = _notes(control, candidate, primary, malformed, by_metric.get("latency_mean_ms"))
    reasons: list[str] = []
    required = _horizon(control, candidate, primary, alpha, power, min_effect, baseline_rate)
    verdict: Verdict

    empty = [name for name in VARIANTS if all_variants[name].empty]
    if missing or empty:
        verdict = "no_data"
        for name in VARIANTS:
            if name in missing:
                reasons.append(f"the {name} variant is missing from the records")
            elif name in empty:
                reasons.append(f"the {name} variant has no requests and no outcomes in the window")
    elif failures := _guardrails(by_metric, guardrail_alpha):
        verdict = "guardrail_failed"
        reasons.extend(failures)
    else:
        verdict = _decide(
            by_metric.get(primary), control, candidate, primary, required, alpha, reasons
        )
    return ABReport(
        model=model,
        start=utc(start),
        end=utc(end),
        alpha=alpha,
        power=power,
        min_effect=min_effect,
        primary=primary,
        variants=all_variants,
        comparisons=comparisons,
        required_per_variant=required,
        verdict=verdict,
        reasons=reasons,
        notes=notes,
    )


def _horizon(
    control: VariantStats,
    candidate: VariantStats,
    primary: Primary,
    alpha: float,
    power: float,
    min_effect: float,
    baseline_rate: float | None,
) -> int | None:
    """The sample size per variant the primary metric needs (None: not computable yet)."""
    if primary == "outcome_rate":
        if baseline_rate is not None:
            baseline = baseline_rate
        elif control.outcomes:
            baseline = min(0.99, max(0.01, control.successes / control.outcomes))
        else:
            baseline = 0.5
        # The two-sided test's size is the same for p -> p + d and 1 - p -> 1 - p - d: near 1,
        # size the (equivalent) drop instead of a rise past 100%.
        if baseline + min_effect > 1:
            baseline = 1 - baseline
        return stats.sample_size_two_proportions(baseline, min_effect, alpha, power)
    if not (control.raw_rewards and candidate.raw_rewards) or len(control.rewards) < 2:
        return None
    sd = float(np.std(np.asarray(control.rewards, dtype=np.float64), ddof=1))
    z = stats.normal_ppf(1 - alpha / 2) + stats.normal_ppf(power)
    return max(2, math.ceil(2 * z**2 * sd**2 / min_effect**2))


def _guardrails(by_metric: Mapping[str, Comparison], guardrail_alpha: float) -> list[str]:
    failures: list[str] = []
    errors = by_metric.get("error_rate")
    if (
        errors is not None
        and errors.difference is not None
        and errors.difference > 0
        and errors.p_value is not None
        and errors.p_value < guardrail_alpha
    ):
        failures.append(
            f"guardrail: the candidate's error rate ({errors.candidate:.2%}) is higher than the "
            f"control's ({errors.control:.2%}), two-proportion z p = {_fmt_p(errors.p_value)} "
            f"< {guardrail_alpha}"
        )
    latency = by_metric.get("latency_mean_ms")
    if (
        latency is not None
        and latency.test == "Welch t"
        and latency.control is not None
        and latency.candidate is not None
        and latency.candidate > LATENCY_GUARDRAIL_RATIO * latency.control
        and latency.p_value is not None
        and latency.p_value < guardrail_alpha
    ):
        failures.append(
            f"guardrail: the candidate's mean latency ({latency.candidate:.1f} ms) is "
            f"{latency.candidate / latency.control - 1:.0%} above the control's "
            f"({latency.control:.1f} ms), more than "
            f"{LATENCY_GUARDRAIL_RATIO - 1:.0%}, Welch t p = {_fmt_p(latency.p_value)} "
            f"< {guardrail_alpha}"
        )
    return failures


def _decide(
    result: Comparison | None,
    control: VariantStats,
    candidate: VariantStats,
    primary: Primary,
    required: int | None,
    alpha: float,
    reasons: list[str],
) -> Verdict:
    unit = "outcomes" if primary == "outcome_rate" else "rewards"
    have = {
        CONTROL: control.outcomes if primary == "outcome_rate" else control.reward_count,
        CANDIDATE: candidate.outcomes if primary == "outcome_rate" else candidate.reward_count,
    }
    if required is None:
        if (
            primary == "reward"
            and (control.reward_count or candidate.reward_count)
            and not (control.raw_rewards and candidate.raw_rewards)
        ):
            reasons.append(
                "collecting: the reward horizon needs the rewards' variance, which CloudWatch "
                "does not keep; no reward winner can be declared from CloudWatch metrics"
            )
        else:
            reasons.append(
                "collecting: the reward horizon needs the control's reward spread: at least 2 "
                f"rewards per variant (control {have[CONTROL]}, candidate {have[CANDIDATE]})"
            )
        return "collecting"
    if min(have.values()) < required:
        more = ", ".join(
            f"{name} {have[name]:,} ({max(0, required - have[name]):,} more)" for name in VARIANTS
        )
        reasons.append(f"collecting: {required:,} {unit} per variant are needed; {more}")
        if result is not None and result.p_value is not None:
            reasons.append(
                f"the interim p-value ({_fmt_p(result.p_value)}) is not a result: stopping at "
                "the first significant look inflates the false-positive rate far above alpha"
            )
        return "collecting"
    if result is None or result.p_value is None or result.difference is None:
        reasons.append(f"collecting: no {primary} comparison is possible yet")
        return "collecting"
    interval = _fmt_interval(result.difference_interval)
    stated = (
        f"{primary} difference (candidate - control) {result.difference:+.4g}, "
        f"{1 - alpha:.0%} interval {interval}, {result.test} p = {_fmt_p(result.p_value)}"
    )
    if result.p_value < alpha:
        winner: Verdict = "candidate_wins" if result.difference > 0 else "control_wins"
        better = CANDIDATE if result.difference > 0 else CONTROL
        reasons.append(
            f"the horizon ({required:,} {unit} per variant) is reached and the "
            f"{better} is better: {stated} < {alpha}"
        )
        return winner
    reasons.append(
        f"the horizon ({required:,} {unit} per variant) is reached and no difference is "
        f"significant: {stated} >= {alpha}"
    )
    return "no_difference"


def _notes(
    control: VariantStats,
    candidate: VariantStats,
    primary: Primary,
    malformed: int,
    latency: Comparison | None,
) -> list[str]:
    notes: list[str] = []
    pair = (control, candidate)
    aggregated_latency = any(v.requests > 0 and not v.raw_latencies for v in pair)
    aggregated_rewards = any(v.reward_count > 0 and not v.raw_rewards for v in pair)
    if aggregated_latency or aggregated_rewards:
        notes.append(
            "from CloudWatch metrics (sums, counts and percentiles, no variance): the error and "
            "outcome rates are tested in full; the reward and latency comparisons are "
            "descriptive only (means; p50/p99 when CloudWatch computes them), with no t-test "
            "and no latency guardrail"
        )
    if aggregated_rewards and primary == "reward":
        notes.append(
            "a reward test needs the rewards' variance for its horizon and its t-test; from "
            "CloudWatch it stays 'collecting': use the local records (or the event logs)"
        )
    if (
        aggregated_latency
        and latency is not None
        and latency.control
        and latency.candidate is not None
        and latency.candidate > LATENCY_GUARDRAIL_RATIO * latency.control
    ):
        notes.append(
            f"the candidate's mean latency is {latency.candidate / latency.control - 1:.0%} "
            "above the control's (descriptive: not tested)"
        )
    for v in pair:
        if len(v.versions) > 1:
            notes.append(
                f"the {v.variant} answered with {len(v.versions)} versions "
                f"({', '.join(sorted(v.versions))}): its alias moved during the window"
            )
    if malformed:
        notes.append(f"{malformed:,} malformed record(s) skipped")
    return notes


# ---- the text report ---------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _ci_pct(interval: tuple[float, float] | None) -> str:
    return "" if interval is None else f" (95% CI {interval[0]:.2%} to {interval[1]:.2%})"


def _num(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.4g}{unit}"


def _variant_text(v: VariantStats) -> list[str]:
    versions = ", ".join(sorted(v.versions)) or "unknown"
    lines = [f"{v.variant} (version {versions})"]
    if v.empty:
        return [*lines, "  no data"]
    errors = stats.wilson_interval(v.errors, v.requests, DISPLAY_CONFIDENCE) if v.requests else None
    lines.append(
        f"  requests {v.requests:,}, errors {v.errors:,}: "
        f"rate {_pct(v.error_rate)}{_ci_pct(errors)}"
    )
    if v.requests:
        lines.append(
            f"  latency  mean {_num(v.latency_mean, ' ms')}, "
            f"p50 {_num(v.latency_quantile(0.5), ' ms')}, "
            f"p99 {_num(v.latency_quantile(0.99), ' ms')}"
        )
    if v.outcomes:
        interval = stats.wilson_interval(v.successes, v.outcomes, DISPLAY_CONFIDENCE)
        lines.append(
            f"  outcomes {v.outcomes:,}, successes {v.successes:,}: rate "
            f"{_pct(v.outcome_rate)}{_ci_pct(interval)}"
        )
    if v.reward_count:
        rewards = np.asarray(v.rewards, dtype=np.float64)
        interval_ = _mean_interval(rewards) if v.raw_rewards else None
        shown = "" if interval_ is None else f" (95% CI {interval_[0]:.4g} to {interval_[1]:.4g})"
        lines.append(f"  rewards  {v.reward_count:,}, mean {_num(v.reward_mean)}{shown}")
    return lines


def _comparison_text(c: Comparison) -> str:
    percent = c.metric in ("outcome_rate", "error_rate")

    def value(x: float | None) -> str:
        return _pct(x) if percent else _num(x)

    if percent:
        difference = "n/a" if c.difference is None else f"{c.difference * 100:+.2f} pts"
        interval = (
            ""
            if c.difference_interval is None
            else f" [{c.difference_interval[0] * 100:+.2f}, {c.difference_interval[1] * 100:+.2f}]"
        )
    else:
        difference = _num(c.difference) if c.difference is None else f"{c.difference:+.4g}"
        interval = (
            "" if c.difference_interval is None else " " + _fmt_interval(c.difference_interval)
        )
    p = "" if c.p_value is None else f", p = {_fmt_p(c.p_value)}"
    flag = ", significant" if c.significant else ""
    return (
        f"  {c.metric:<16} control {value(c.control)}, candidate {value(c.candidate)}: "
        f"{difference}{interval} ({c.test}{p}{flag})"
    )


def render_text(report: ABReport) -> str:
    """What ``lamina ab report`` prints: the window, each variant, the comparisons, the verdict."""
    horizon = (
        "not computable yet"
        if report.required_per_variant is None
        else f"{report.required_per_variant:,} per variant"
    )
    lines = [
        f"A/B report: {report.model}, {iso(report.start)} to {iso(report.end)}",
        f"primary metric {report.primary}: alpha {report.alpha}, power {report.power}, "
        f"minimum detectable effect {report.min_effect}; horizon {horizon}",
        "",
    ]
    for name in report.variants:
        lines.extend(_variant_text(report.variants[name]))
    if report.comparisons:
        lines += ["", f"candidate - control ({1 - report.alpha:.0%} intervals):"]
        lines.extend(_comparison_text(c) for c in report.comparisons)
    lines += ["", f"verdict: {report.verdict}"]
    lines.extend(f"  - {reason}" for reason in report.reasons)
    if report.notes:
        lines.append("notes:")
        lines.extend(f"  - {note}" for note in report.notes)
    return "\n".join(lines) + "\n"
