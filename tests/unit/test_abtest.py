"""The A/B report (lamina.monitoring.abtest) on simulated traffic whose answer is known: a real
difference is found past the horizon, an A/A test declares a winner at about alpha, peeking
before the horizon never declares one, guardrails stop a worse candidate early; and the two
readers: the local JSONL files (malformed lines counted, the window respected) and CloudWatch
(moto's in-process CloudWatch, and a fake client for what moto cannot answer)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import numpy as np
import pytest
from moto import mock_aws

from lamina.monitoring import abtest, stats
from lamina.monitoring.abtest import (
    CANDIDATE,
    CONTROL,
    ABReport,
    VariantStats,
    aggregate,
    compare,
    read_cloudwatch,
    read_local,
    render_text,
)

MODEL = "all-MiniLM-L6-v2"
START = datetime(2026, 12, 5, tzinfo=UTC)
END = datetime(2026, 12, 6, 12, tzinfo=UTC)
SEEDS = range(20)


def rates(
    n: int, p_control: float, p_candidate: float, rng: np.random.Generator
) -> dict[str, VariantStats]:
    """Both variants with n boolean outcomes each, drawn at the given success rates."""
    return {
        CONTROL: VariantStats(
            CONTROL, requests=n, outcomes=n, successes=int(rng.binomial(n, p_control))
        ),
        CANDIDATE: VariantStats(
            CANDIDATE, requests=n, outcomes=n, successes=int(rng.binomial(n, p_candidate))
        ),
    }


def power_two_proportions(p1: float, p2: float, n: int, alpha: float = 0.05) -> float:
    """The normal-approximation power of the two-sided two-proportion z-test, n per group."""
    se = math.sqrt(p1 * (1 - p1) / n + p2 * (1 - p2) / n)
    return stats.normal_cdf(abs(p2 - p1) / se - stats.normal_ppf(1 - alpha / 2))


def assert_json_safe(report: ABReport) -> None:
    json.dumps(report.to_json(), allow_nan=False)


# ---- the primary metric: outcome rate --------------------------------------------------------

# min_effect 0.05 from a baseline near 0.5: the horizon is ~1,565 outcomes per variant, so 8,000
# per variant is well past it. There the power to see 0.50 -> 0.55 is 1 - 6e-6
# (power_two_proportions(0.50, 0.55, 8000) = 0.999994: z = 0.05 / 0.00789 = 6.3), so all 20
# seeds winning has probability 0.9999: essentially certain. (At 4,000 per variant the power is
# 0.994, and 20 out of 20 only 89% likely.)
N_PAST_HORIZON = 8_000


def test_the_power_of_the_simulations_makes_every_seed_a_win() -> None:
    assert power_two_proportions(0.50, 0.55, N_PAST_HORIZON) ** len(SEEDS) > 0.999
    assert power_two_proportions(0.50, 0.45, N_PAST_HORIZON) ** len(SEEDS) > 0.999
    assert stats.sample_size_two_proportions(0.5, 0.05) < N_PAST_HORIZON / 4


@pytest.mark.parametrize(
    ("p_candidate", "verdict"), [(0.55, "candidate_wins"), (0.45, "control_wins")]
)
def test_a_real_difference_past_the_horizon_has_a_winner_for_every_seed(
    p_candidate: float, verdict: str
) -> None:
    for seed in SEEDS:
        variants = rates(N_PAST_HORIZON, 0.50, p_candidate, np.random.default_rng(seed))
        report = compare(variants, model=MODEL, start=START, end=END, min_effect=0.05)
        assert report.required_per_variant is not None
        assert report.required_per_variant < N_PAST_HORIZON
        assert report.verdict == verdict, (seed, report.reasons)
        outcome = report.comparison("outcome_rate")
        assert outcome is not None
        assert outcome.significant
        assert outcome.test == "two-proportion z"
        assert outcome.difference is not None
        assert outcome.difference_interval is not None
        low, high = outcome.difference_interval
        assert low <= outcome.difference <= high
        assert (low > 0) == (verdict == "candidate_wins")


# A/A at the horizon: the horizon fixed in advance (baseline_rate 0.5, min_effect 0.02: 9,806
# outcomes per variant), every seed one Bernoulli stream per variant at rate 0.50.
AA_SEEDS = 300
AA_HORIZON = stats.sample_size_two_proportions(0.5, 0.02)


def aa_streams() -> Iterator[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
    """Per seed, the cumulative successes of each variant, outcome by outcome."""
    for seed in range(AA_SEEDS):
        rng = np.random.default_rng(10_000 + seed)
        draws = rng.random((2, AA_HORIZON)) < 0.5
        yield np.cumsum(draws[0]), np.cumsum(draws[1])


def aa_report(control: int, candidate: int, n: int) -> ABReport:
    return compare(
        {
            CONTROL: VariantStats(CONTROL, requests=n, outcomes=n, successes=control),
            CANDIDATE: VariantStats(CANDIDATE, requests=n, outcomes=n, successes=candidate),
        },
        model=MODEL,
        start=START,
        end=END,
        baseline_rate=0.5,
        min_effect=0.02,
    )


def test_an_aa_test_at_the_horizon_declares_a_winner_at_about_alpha() -> None:
    assert AA_HORIZON == 9_806
    winners = 0
    for control, candidate in aa_streams():
        report = aa_report(int(control[-1]), int(candidate[-1]), AA_HORIZON)
        assert report.required_per_variant == AA_HORIZON
        assert report.verdict in ("no_difference", "candidate_wins", "control_wins")
        winners += report.verdict != "no_difference"
    # Under the null the number of false winners is Binomial(300, 0.05): mean 15 (share 0.05),
    # sd sqrt(300 * 0.05 * 0.95) = 3.8 (share 0.0126). 0.08 is 24 winners, 2.4 sd above the
    # mean: exceeded with probability ~1% if the test holds its alpha; a test without a horizon
    # (or a one-sided one) would exceed it by far. Measured with these seeds: 0.027 (8 of 300);
    # the same test over 20,000 binomial draws rejects 4.9% (checked once, not run here).
    share = winners / AA_SEEDS
    assert share <= 0.08, share


def test_peeking_at_an_aa_test_before_the_horizon_never_declares_a_winner() -> None:
    peeks = range(100, AA_HORIZON, 100)  # 98 looks, every 100 outcomes
    fooled = 0  # seeds where a naive "stop at the first p < alpha" would have declared a winner
    for control, candidate in aa_streams():
        small_p = False
        for n in peeks:
            report = aa_report(int(control[n - 1]), int(candidate[n - 1]), n)
            assert report.verdict == "collecting", (n, report.reasons)
            assert f"{AA_HORIZON - n:,} more" in report.reasons[0]
            outcome = report.comparison("outcome_rate")
            assert outcome is not None
            assert outcome.p_value is not None
            small_p = small_p or outcome.p_value < 0.05
        fooled += small_p
    # What the horizon protects from: with ~100 looks, stopping at the first p < 0.05 declares
    # a winner in ~37% of A/A runs (Armitage, McPherson & Rowe 1969), not 5%.
    assert fooled / AA_SEEDS > 0.2, fooled


def test_the_horizon_comes_from_the_control_rate_clamped_and_half_before_any_outcome() -> None:
    def horizon(variants: dict[str, VariantStats], **kwargs: Any) -> int | None:
        return compare(variants, model=MODEL, start=START, end=END, **kwargs).required_per_variant

    none = {CONTROL: VariantStats(CONTROL, requests=5), CANDIDATE: VariantStats(CANDIDATE)}
    assert horizon(none) == stats.sample_size_two_proportions(0.5, 0.02)
    low = {
        CONTROL: VariantStats(CONTROL, outcomes=1000, successes=1),
        CANDIDATE: VariantStats(CANDIDATE, outcomes=1000, successes=3),
    }
    assert horizon(low) == stats.sample_size_two_proportions(0.01, 0.02)
    assert horizon(low, baseline_rate=0.2) == stats.sample_size_two_proportions(0.2, 0.02)
    # a control near 100%: sized as the equivalent drop, not a rise past 1
    high = {
        CONTROL: VariantStats(CONTROL, outcomes=1000, successes=999),
        CANDIDATE: VariantStats(CANDIDATE, outcomes=1000, successes=999),
    }
    assert horizon(high) == stats.sample_size_two_proportions(0.01, 0.02)


# ---- guardrails ------------------------------------------------------------------------------


def test_a_candidate_with_more_5xx_fails_the_guardrail_before_the_horizon() -> None:
    rng = np.random.default_rng(7)
    n = 3_000
    variants = {
        CONTROL: VariantStats(
            CONTROL,
            requests=n,
            errors=int(rng.binomial(n, 0.005)),
            outcomes=300,
            successes=int(rng.binomial(300, 0.5)),
        ),
        CANDIDATE: VariantStats(
            CANDIDATE,
            requests=n,
            errors=int(rng.binomial(n, 0.05)),
            outcomes=300,
            successes=int(rng.binomial(300, 0.5)),
        ),
    }
    report = compare(variants, model=MODEL, start=START, end=END)
    assert report.required_per_variant is not None
    assert report.required_per_variant > 300  # far from the horizon
    assert report.verdict == "guardrail_failed"
    assert any("error rate" in reason for reason in report.reasons)
    errors = report.comparison("error_rate")
    assert errors is not None
    assert errors.significant
    assert errors.p_value is not None
    assert errors.p_value < 0.01
    assert_json_safe(report)

    # the same errors on the control's side are no guardrail for the candidate
    swapped = {
        CONTROL: VariantStats(CONTROL, requests=n, errors=variants[CANDIDATE].errors),
        CANDIDATE: VariantStats(CANDIDATE, requests=n, errors=variants[CONTROL].errors),
    }
    assert compare(swapped, model=MODEL, start=START, end=END).verdict == "collecting"


def test_the_guardrail_overrides_a_winning_candidate() -> None:
    variants = rates(N_PAST_HORIZON, 0.50, 0.55, np.random.default_rng(0))
    variants[CONTROL].errors = 40  # 0.5%
    variants[CANDIDATE].errors = 400  # 5%
    report = compare(variants, model=MODEL, start=START, end=END, min_effect=0.05)
    assert report.verdict == "guardrail_failed"


def latency_stats(name: str, ms: np.ndarray[Any, Any]) -> VariantStats:
    values = [float(x) for x in ms]
    return VariantStats(name, requests=len(values), latencies=values, latency_sum=sum(values))


def test_a_candidate_50_percent_slower_fails_the_latency_guardrail() -> None:
    rng = np.random.default_rng(11)
    base = rng.lognormal(math.log(20.0), 0.5, size=(2, 1_000))
    variants = {
        CONTROL: latency_stats(CONTROL, base[0]),
        CANDIDATE: latency_stats(CANDIDATE, 1.5 * base[1]),
    }
    report = compare(variants, model=MODEL, start=START, end=END)
    assert report.verdict == "guardrail_failed"
    assert any("latency" in reason for reason in report.reasons)
    mean = report.comparison("latency_mean_ms")
    assert mean is not None
    assert mean.test == "Welch t"
    # p50 and p99: bootstrap intervals, reported, not part of the verdict
    for metric in ("latency_p50_ms", "latency_p99_ms"):
        quantile = report.comparison(metric)
        assert quantile is not None
        assert quantile.test == "bootstrap"
        assert quantile.difference is not None
        assert quantile.difference > 0
        assert quantile.difference_interval is not None
        low, high = quantile.difference_interval
        assert low < high
        assert quantile.p_value is None
    p50 = report.comparison("latency_p50_ms")
    assert p50 is not None
    assert p50.significant
    assert_json_safe(report)


def test_a_significant_latency_rise_under_10_percent_is_no_guardrail() -> None:
    rng = np.random.default_rng(12)
    base = rng.lognormal(math.log(20.0), 0.2, size=(2, 3_000))
    variants = {
        CONTROL: latency_stats(CONTROL, base[0]),
        CANDIDATE: latency_stats(CANDIDATE, 1.05 * base[1]),
    }
    report = compare(variants, model=MODEL, start=START, end=END)
    mean = report.comparison("latency_mean_ms")
    assert mean is not None
    assert mean.p_value is not None
    assert mean.p_value < 0.01  # significant, but only ~5% slower
    assert report.verdict == "collecting"


# ---- the primary metric: reward --------------------------------------------------------------


def reward_records(
    rng: np.random.Generator, n: int, shift: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Request and outcome records of n callers per variant; rewards ~ N(1 (+ shift), 1)."""
    requests: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    times = [START + timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, size=n)]
    for variant, mean in ((CONTROL, 1.0), (CANDIDATE, 1.0 + shift)):
        rewards = rng.normal(mean, 1.0, size=n)
        latencies = rng.lognormal(math.log(15.0), 0.3, size=n)
        for i in range(n):
            time = times[i].isoformat().replace("+00:00", "Z")
            common = {"time": time, "request_id": f"{variant}-{i}", "model": MODEL}
            ms = float(latencies[i])
            requests.append(
                {**common, "variant": variant, "version": variant, "status": 200, "ms": ms}
            )
            outcomes.append(
                {**common, "variant": variant, "outcome": None, "reward": float(rewards[i])}
            )
    return requests, outcomes


def test_a_reward_shift_of_a_fifth_of_an_sd_past_the_horizon_wins() -> None:
    # horizon for min_effect 0.2 with sd 1: 2 (1.96 + 0.84)^2 / 0.04 = 393 per variant; at
    # 2,000 the power for a 0.2 sd shift is 1 - 1e-9 (z = 0.2 / sqrt(2 / 2000) = 6.3).
    requests, outcomes = reward_records(np.random.default_rng(3), 2_000, 0.2)
    variants, malformed = aggregate(requests, outcomes, model=MODEL, start=START, end=END)
    assert malformed == 0
    assert variants[CONTROL].reward_count == variants[CANDIDATE].reward_count == 2_000
    report = compare(variants, model=MODEL, start=START, end=END, primary="reward", min_effect=0.2)
    assert report.required_per_variant is not None
    assert 300 < report.required_per_variant < 500
    assert report.verdict == "candidate_wins", report.reasons
    reward = report.comparison("reward")
    assert reward is not None
    assert reward.test == "Welch t"
    assert reward.difference is not None
    assert reward.difference_interval is not None
    assert reward.difference_interval[0] < 0.2 < reward.difference_interval[1]
    assert report.variants[CANDIDATE].versions == {CANDIDATE}
    text = render_text(report)
    assert "candidate_wins" in text
    assert_json_safe(report)


def test_a_reward_test_before_the_horizon_is_collecting() -> None:
    requests, outcomes = reward_records(np.random.default_rng(4), 150, 0.5)
    variants, _ = aggregate(requests, outcomes, model=MODEL, start=START, end=END)
    report = compare(variants, model=MODEL, start=START, end=END, primary="reward", min_effect=0.2)
    assert report.verdict == "collecting"
    assert report.required_per_variant is not None
    assert report.required_per_variant > 150


def test_a_reward_test_from_cloudwatch_never_leaves_collecting() -> None:
    # sums and counts only (what CloudWatch keeps): a huge, obvious difference, and no verdict
    variants = {
        CONTROL: VariantStats(
            CONTROL, requests=50_000, latency_sum=7.5e5, reward_count=50_000, reward_sum=5e4
        ),
        CANDIDATE: VariantStats(
            CANDIDATE, requests=50_000, latency_sum=7.6e5, reward_count=50_000, reward_sum=9e4
        ),
    }
    report = compare(variants, model=MODEL, start=START, end=END, primary="reward")
    assert report.verdict == "collecting"
    assert report.required_per_variant is None
    assert any("variance" in reason for reason in report.reasons)
    assert any("CloudWatch" in note for note in report.notes)
    reward = report.comparison("reward")
    assert reward is not None
    assert reward.test == "descriptive"
    assert reward.difference == pytest.approx(0.8)
    assert reward.p_value is None
    latency = report.comparison("latency_mean_ms")
    assert latency is not None
    assert latency.test == "descriptive"
    assert_json_safe(report)


# ---- no data -------------------------------------------------------------------------------


def test_a_missing_or_empty_variant_is_no_data() -> None:
    control = VariantStats(CONTROL, requests=100, outcomes=80, successes=40, versions={"1.0.0"})
    report = compare({CONTROL: control}, model=MODEL, start=START, end=END)
    assert report.verdict == "no_data"
    assert set(report.variants) == {CONTROL, CANDIDATE}  # the side there is is still reported
    assert report.variants[CONTROL].outcomes == 80
    assert any(CANDIDATE in reason for reason in report.reasons)
    outcome = report.comparison("outcome_rate")
    assert outcome is not None
    assert outcome.control == 0.5
    assert outcome.candidate is None
    assert outcome.difference is None
    assert_json_safe(report)
    text = render_text(report)
    assert "no_data" in text
    assert CONTROL in text
    assert CANDIDATE in text

    empty = compare(
        {CONTROL: control, CANDIDATE: VariantStats(CANDIDATE)}, model=MODEL, start=START, end=END
    )
    assert empty.verdict == "no_data"
    nothing = compare({}, model=MODEL, start=START, end=END)
    assert nothing.verdict == "no_data"
    assert nothing.comparisons == []
    assert_json_safe(nothing)


# ---- the local records -----------------------------------------------------------------------


def request_line(time: str, variant: Any = CONTROL, **fields: Any) -> str:
    """A request line; a field given as ... is left out."""
    record = {
        "time": time,
        "request_id": "r",
        "model": MODEL,
        "variant": variant,
        "version": "1.0.0-int8",
        "status": 200,
        "ms": 12.5,
    }
    record.update(fields)
    return json.dumps({k: v for k, v in record.items() if v is not ...})


def outcome_line(time: str, variant: Any = CONTROL, **fields: Any) -> str:
    """An outcome line; a field given as ... is left out."""
    record = {
        "time": time,
        "request_id": "r",
        "model": MODEL,
        "variant": variant,
        "outcome": True,
        "reward": None,
    }
    record.update(fields)
    return json.dumps({k: v for k, v in record.items() if v is not ...})


def write(path: Path, lines: list[str | bytes]) -> None:
    path.write_bytes(
        b"".join((line.encode() if isinstance(line, str) else line) + b"\n" for line in lines)
    )


def test_read_local_counts_the_window_and_the_malformed_lines(tmp_path: Path) -> None:
    day1, day2 = "2026-12-05T", "2026-12-06T"
    write(
        tmp_path / "requests-2026-12-05.jsonl",
        [
            request_line(day1 + "00:00:00.000Z"),  # the window's start: in
            request_line(day1 + "10:00:00.123Z", ms=20.0, status=503),
            request_line(day1 + "11:00:00Z", CANDIDATE, version="1.1.0-int8", ms=30.0),
            request_line(day1 + "11:30:00Z", CANDIDATE, version="1.1.0-int8", status=500),
            request_line(day1 + "12:00:00Z", model="other-model"),  # another model: skipped
            '{"time": "2026-12-05T12:00:00Z", "model": ',  # bad JSON
            request_line(day1 + "12:00:00Z").replace("12.5", "NaN"),  # NaN latency
            request_line(day1 + "12:00:00Z", status=...),  # missing status
            request_line(day1 + "12:00:00Z", ms="12"),  # a string latency
            request_line(day1 + "12:00:00Z", status=True),  # a boolean status
            request_line(day1 + "12:00:00Z", "treatment"),  # neither variant
            request_line("yesterday"),  # no time
            "[1, 2, 3]",  # JSON, not an object
            "",  # blank: not a record, not counted
            b'{"time": "\xff\xfe"}',  # not UTF-8
        ],
    )
    write(
        tmp_path / "requests-2026-12-06.jsonl",
        [
            request_line(day2 + "11:59:59.999Z", CANDIDATE, version="1.1.0-int8", ms=40.0),
            request_line(day2 + "12:00:00Z", CANDIDATE),  # the window's end: out
            request_line(day2 + "18:00:00Z"),  # out
        ],
    )
    # Files that cannot hold the window are never opened: their malformed lines do not count.
    write(tmp_path / "requests-2026-12-04.jsonl", ["not json", request_line(day1 + "01:00Z")])
    write(tmp_path / "requests-2026-12-07.jsonl", ["not json"])
    write(tmp_path / "notes.txt", ["not json"])
    write(
        tmp_path / "outcomes-2026-12-05.jsonl",
        [
            outcome_line(day1 + "10:00:01Z", outcome=True),
            outcome_line(day1 + "10:00:02Z", outcome=False),
            outcome_line(day1 + "10:00:03Z", outcome=None, reward=1.5),
            outcome_line(day1 + "11:00:01Z", CANDIDATE, outcome=True, reward=2.0),
            outcome_line(day1 + "11:00:02Z", CANDIDATE, outcome=True),
            outcome_line(day1 + "11:00:03Z", CANDIDATE, outcome="yes"),  # not a boolean
            outcome_line(day1 + "11:00:04Z", CANDIDATE, outcome=None),  # nothing reported
            outcome_line(day1 + "11:00:05Z", CANDIDATE, outcome=1),  # 1 is not true
            outcome_line(day1 + "11:00:06Z", CANDIDATE, reward="2"),  # a string reward
            outcome_line(day1 + "11:00:07Z", CANDIDATE).replace(
                '"reward": null', '"reward": 1e999'
            ),
            outcome_line(day1 + "11:00:08Z", "both"),  # neither variant
            outcome_line(day1 + "11:00:09Z", variant=...),  # no variant
            outcome_line("2026-12-04T23:59:59Z"),  # before the window
        ],
    )

    variants, malformed = read_local(tmp_path, model=MODEL, start=START, end=END)

    assert malformed == 9 + 7  # requests: 9 malformed lines; outcomes: 7
    control, candidate = variants[CONTROL], variants[CANDIDATE]
    assert (control.requests, control.errors) == (2, 1)
    assert control.latencies == [12.5, 20.0]
    assert control.versions == {"1.0.0-int8"}
    assert (candidate.requests, candidate.errors) == (3, 1)
    assert candidate.latencies == [30.0, 12.5, 40.0]
    assert candidate.latency_sum == pytest.approx(82.5)
    assert candidate.versions == {"1.1.0-int8"}
    assert (control.outcomes, control.successes) == (2, 1)
    assert (control.rewards, control.reward_count, control.reward_sum) == ([1.5], 1, 1.5)
    assert (candidate.outcomes, candidate.successes) == (2, 2)
    assert (candidate.rewards, candidate.reward_count) == ([2.0], 1)

    report = compare(variants, model=MODEL, start=START, end=END, malformed=malformed)
    assert report.verdict == "collecting"
    assert any("16 malformed" in note for note in report.notes)
    assert_json_safe(report)


def test_read_local_opens_only_the_days_of_the_window(tmp_path: Path) -> None:
    write(tmp_path / "requests-2026-12-05.jsonl", ["not json"])
    write(tmp_path / "requests-2026-12-06.jsonl", ["not json"])
    # [12-05 00:00, 12-06 00:00) holds no time of 12-06: that file is not opened
    _, malformed = read_local(
        tmp_path, model=MODEL, start=START, end=datetime(2026, 12, 6, tzinfo=UTC)
    )
    assert malformed == 1
    _, malformed = read_local(
        tmp_path, model=MODEL, start=START, end=datetime(2026, 12, 6, 0, 0, 1, tzinfo=UTC)
    )
    assert malformed == 2


def test_aggregate_never_raises_on_hostile_records() -> None:
    hostile: list[Any] = [
        None,
        42,
        "text",
        [],
        {},
        {"time": 5, "model": MODEL, "variant": CONTROL, "status": 200, "ms": 1.0},
        {"time": "2026-12-05T01:00:00Z", "model": None, "variant": CONTROL},
        {"time": "0001-01-01T00:00:00+01:00", "model": MODEL, "variant": CONTROL},
        {
            "time": "2026-12-05T01:00:00Z",
            "model": MODEL,
            "variant": CONTROL,
            "status": 200,
            "ms": 10**400,
        },
        {"time": "2026-12-05T01:00:00Z", "model": MODEL, "variant": ["control"]},
        {"time": "2026-12-05T01:00:00Z", "model": MODEL, "variant": CONTROL, "status": 200},
        {
            "time": "2026-12-05T01:00:00Z",
            "model": MODEL,
            "variant": CONTROL,
            "status": 200,
            "ms": -1.0,
        },
        {
            "time": "2026-12-05T01:00:00Z",
            "model": MODEL,
            "variant": CONTROL,
            "status": 200,
            "ms": math.inf,
        },
        {
            "time": "2026-12-05T01:00:00Z",
            "model": MODEL,
            "variant": CONTROL,
            "status": 200,
            "ms": 1.0,
            "version": 3,
        },
    ]
    outcomes: list[Any] = [
        {"time": "2026-12-05T01:00:00Z", "model": MODEL, "variant": CANDIDATE, "reward": math.nan},
        {
            "time": "2026-12-05T01:00:00Z",
            "model": MODEL,
            "variant": CANDIDATE,
            "outcome": True,
            "reward": True,
        },
    ]
    variants, malformed = aggregate(hostile, outcomes, model=MODEL, start=START, end=END)
    assert malformed == len(hostile) + len(outcomes)
    assert all(v.empty for v in variants.values())


# ---- CloudWatch ------------------------------------------------------------------------------

NAMESPACE = "lamina"
SERVICE = "lamina-onnx"


def dimensions(variant: str, model: str = MODEL, service: str = SERVICE) -> list[dict[str, str]]:
    return [
        {"Name": "ModelName", "Value": model},
        {"Name": "Variant", "Value": variant},
        {"Name": "service", "Value": service},
    ]


def datum(
    metric: str, variant: str, when: datetime, values: list[float], counts: list[float], **kw: Any
) -> dict[str, Any]:
    return {
        "MetricName": metric,
        "Dimensions": dimensions(variant, **kw),
        "Timestamp": when,
        "Values": values,
        "Counts": counts,
    }


def test_read_cloudwatch_sums_and_counts_from_moto() -> None:
    # a one-hour window that ended a minute ago (CloudWatch's rules for the period depend on
    # the data's age)
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    start = end - timedelta(hours=1)
    inside = start + timedelta(minutes=20)
    with mock_aws():
        client = boto3.client("cloudwatch", region_name="us-east-1")
        data = [
            # control: 200 requests (3,500 ms), 4 errors, 100 outcomes (60 true), 20 rewards
            datum("VariantLatency", CONTROL, inside, [10.0, 20.0, 30.0], [100, 50, 50]),
            datum("VariantErrors", CONTROL, inside, [0.0, 1.0], [196, 4]),
            datum("Outcome", CONTROL, inside, [1.0, 0.0], [60, 40]),
            datum("Reward", CONTROL, inside, [1.5, 0.5], [10, 10]),
            # candidate: 300 requests (4,500 ms), 30 errors, 120 outcomes (84 true), 5 rewards
            datum("VariantLatency", CANDIDATE, inside, [15.0], [300]),
            datum("VariantErrors", CANDIDATE, inside, [0.0, 1.0], [270, 30]),
            datum("Outcome", CANDIDATE, inside, [1.0, 0.0], [84, 36]),
            datum("Reward", CANDIDATE, inside, [2.0], [5]),
            # not counted: another model, another service, before the window
            datum("VariantLatency", CONTROL, inside, [10.0], [1_000], model="other"),
            datum("VariantLatency", CONTROL, inside, [10.0], [1_000], service="other"),
            datum("VariantLatency", CONTROL, start - timedelta(minutes=5), [10.0], [1_000]),
        ]
        client.put_metric_data(Namespace=NAMESPACE, MetricData=data)
        variants = read_cloudwatch(
            client, namespace=NAMESPACE, service=SERVICE, model=MODEL, start=start, end=end
        )

    control, candidate = variants[CONTROL], variants[CANDIDATE]
    assert (control.requests, control.errors) == (200, 4)
    assert control.latency_sum == pytest.approx(3_500.0)
    assert (control.outcomes, control.successes) == (100, 60)
    assert control.reward_count == 20
    assert control.reward_sum == pytest.approx(20.0)
    assert (candidate.requests, candidate.errors) == (300, 30)
    assert candidate.latency_sum == pytest.approx(4_500.0)
    assert (candidate.outcomes, candidate.successes) == (120, 84)
    assert candidate.reward_count == 5
    assert candidate.reward_sum == pytest.approx(10.0)
    assert control.latencies == candidate.latencies == []
    assert control.rewards == candidate.rewards == []
    # moto cannot compute percentiles (its GetMetricData fails on them): left None, no failure
    for v in (control, candidate):
        assert v.latency_p50 is None
        assert v.latency_p99 is None

    report = compare(variants, model=MODEL, start=start, end=end)
    errors = report.comparison("error_rate")
    assert errors is not None
    assert errors.test == "two-proportion z"  # counts alone: tested in full
    assert errors.p_value is not None
    assert errors.p_value < 0.01
    assert report.verdict == "guardrail_failed"  # 10% errors against 2%
    latency = report.comparison("latency_mean_ms")
    assert latency is not None
    assert latency.test == "descriptive"
    assert latency.control == pytest.approx(17.5)
    assert latency.candidate == pytest.approx(15.0)
    assert report.comparison("latency_p50_ms") is None
    assert any("CloudWatch" in note for note in report.notes)
    assert_json_safe(report)
    assert "guardrail_failed" in render_text(report)


class FakeCloudWatch:
    """A GetMetricData that answers every query (percentiles too), two results per page."""

    def __init__(self, values: dict[tuple[str, str, str], float]) -> None:
        self.values = values  # (variant, metric, stat) -> value
        self.calls: list[dict[str, Any]] = []

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        results = []
        for query in request["MetricDataQueries"]:
            stat = query["MetricStat"]
            dims = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
            key = (dims["Variant"], stat["Metric"]["MetricName"], stat["Stat"])
            found = key in self.values
            results.append(
                {
                    "Id": query["Id"],
                    "Timestamps": [request["StartTime"]] if found else [],
                    "Values": [self.values[key]] if found else [],
                    "StatusCode": "Complete",
                }
            )
        page = int(request.get("NextToken") or 0)
        rest = page + 2 < len(results)
        return {
            "MetricDataResults": results[page : page + 2],
            **({"NextToken": str(page + 2)} if rest else {}),
        }


def test_read_cloudwatch_pages_through_one_call_and_reads_percentiles() -> None:
    values = {
        (CONTROL, "VariantLatency", "SampleCount"): 1_000.0,
        (CONTROL, "VariantLatency", "Sum"): 20_000.0,
        (CONTROL, "VariantLatency", "p50"): 18.0,
        (CONTROL, "VariantLatency", "p99"): 95.0,
        (CONTROL, "VariantErrors", "Sum"): 3.0,
        (CANDIDATE, "VariantLatency", "SampleCount"): 900.0,
        (CANDIDATE, "VariantLatency", "p50"): 21.0,
        (CANDIDATE, "Outcome", "SampleCount"): 90.0,
        (CANDIDATE, "Outcome", "Sum"): 45.0,
    }
    client = FakeCloudWatch(values)
    start = datetime.now(UTC).replace(second=30, microsecond=0) - timedelta(hours=3)
    end = start + timedelta(hours=2, seconds=10)  # 7,210 s: the period rounds up to 7,260
    variants = read_cloudwatch(
        client, namespace=NAMESPACE, service=SERVICE, model=MODEL, start=start, end=end
    )
    queries = client.calls[0]["MetricDataQueries"]
    assert len(queries) == 2 * 10  # variants x (metric, stat)
    assert len({q["Id"] for q in queries}) == len(queries)
    assert len(client.calls) == 10  # one call, ten pages of two results
    assert all(call["MetricDataQueries"] == queries for call in client.calls)
    period = queries[0]["MetricStat"]["Period"]
    assert period % 60 == 0
    assert (end - start).total_seconds() <= period < (end - start).total_seconds() + 60
    assert {q["MetricStat"]["Metric"]["Namespace"] for q in queries} == {NAMESPACE}

    control, candidate = variants[CONTROL], variants[CANDIDATE]
    assert (control.requests, control.errors, control.latency_sum) == (1_000, 3, 20_000.0)
    assert (control.latency_p50, control.latency_p99) == (18.0, 95.0)
    assert (candidate.requests, candidate.latency_p50, candidate.latency_p99) == (900, 21.0, None)
    assert (candidate.outcomes, candidate.successes) == (90, 45)

    report = compare(variants, model=MODEL, start=start, end=end)
    p50 = report.comparison("latency_p50_ms")
    assert p50 is not None
    assert p50.test == "descriptive"
    assert p50.difference == pytest.approx(3.0)
    p99 = report.comparison("latency_p99_ms")
    assert p99 is not None
    assert (p99.control, p99.candidate, p99.difference) == (95.0, None, None)
    assert_json_safe(report)


def test_read_cloudwatch_raises_what_is_not_about_percentiles() -> None:
    class Broken:
        def get_metric_data(self, **request: Any) -> dict[str, Any]:
            raise PermissionError("AccessDenied")

    with pytest.raises(PermissionError):
        read_cloudwatch(
            Broken(), namespace=NAMESPACE, service=SERVICE, model=MODEL, start=START, end=END
        )


# ---- the report ------------------------------------------------------------------------------


def test_to_json_is_json_safe_and_render_text_names_the_verdict_and_both_variants() -> None:
    rng = np.random.default_rng(5)
    variants = rates(N_PAST_HORIZON, 0.50, 0.55, rng)
    for name, v in variants.items():
        v.versions = {f"{name}-1.0"}
        v.latencies = [float(x) for x in rng.lognormal(math.log(12.0), 0.3, size=500)]
        v.requests = len(v.latencies)
        v.latency_sum = sum(v.latencies)
        v.rewards = [0.0, 1.0, 2.0]
        v.reward_count, v.reward_sum = 3, 3.0
    report = compare(variants, model=MODEL, start=START, end=END, min_effect=0.05)
    assert report.verdict == "candidate_wins"
    document = report.to_json()
    text = json.dumps(document, allow_nan=False)
    assert json.loads(text)["verdict"] == "candidate_wins"
    assert document["start"] == "2026-12-05T00:00:00.000Z"
    assert set(document["variants"]) == {CONTROL, CANDIDATE}
    assert {c["metric"] for c in document["comparisons"]} == {
        "outcome_rate",
        "reward",
        "error_rate",
        "latency_mean_ms",
        "latency_p50_ms",
        "latency_p99_ms",
    }

    rendered = render_text(report)
    assert "candidate_wins" in rendered
    assert "control (version control-1.0)" in rendered
    assert "candidate (version candidate-1.0)" in rendered
    assert MODEL in rendered
    assert "2026-12-05T00:00:00.000Z" in rendered
    assert "95% CI" in rendered


def test_compare_refuses_meaningless_parameters() -> None:
    variants = rates(100, 0.5, 0.5, np.random.default_rng(0))
    wrong: list[dict[str, Any]] = [
        {"alpha": 0.0},
        {"power": 1.0},
        {"min_effect": 0.0},
        {"min_effect": 0.6},
        {"baseline_rate": 1.0},
    ]
    for kwargs in wrong:
        with pytest.raises(ValueError, match="must"):
            compare(variants, model=MODEL, start=START, end=END, **kwargs)
    with pytest.raises(ValueError, match="end"):
        read_local(Path("."), model=MODEL, start=END, end=START)
    assert abtest.VARIANTS == (CONTROL, CANDIDATE)
