"""lamina.monitoring.stats against scipy (a dev dependency; the module itself must not need it):
the distribution functions on grids with tight tolerances, the tests and intervals against
scipy's (or, where scipy has none, against a published example or the formula), and every
degenerate input real data can produce: no NaN, no infinity, no exception, no warning."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats as sps  # type: ignore[import-untyped, unused-ignore]

from lamina.monitoring import stats
from lamina.monitoring.stats import (
    bootstrap_diff_interval,
    chi2_homogeneity,
    chi2_sf,
    cramers_v,
    kolmogorov_sf,
    ks_2samp,
    newcombe_diff_interval,
    normal_cdf,
    normal_ppf,
    normal_sf,
    psi,
    psi_categorical,
    sample_size_two_proportions,
    t_ppf,
    t_sf,
    two_proportion_ztest,
    welch_interval,
    welch_ttest,
    wilson_interval,
)

# a numpy RuntimeWarning (division by zero, log of 0, empty slice) is a bug here
pytestmark = pytest.mark.filterwarnings("error")


def test_the_runtime_module_imports_neither_scipy_nor_pandas() -> None:
    # a fresh interpreter: this test module itself imports scipy
    code = (
        "import sys, lamina.monitoring.stats\n"
        "loaded = {m.split('.')[0] for m in sys.modules} & {'scipy', 'pandas'}\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


DFS = [0.3, 1.0, 1.5, 2.0, 3.0, 4.7, 10.0, 29.9, 30.0, 45.5, 100.0, 1e3, 1e5, 1e7]


def assert_valid(result: stats.TestResult) -> None:
    assert math.isfinite(result.statistic)
    assert 0.0 <= result.p_value <= 1.0


def assert_close(actual: float, expected: float, rtol: float, atol: float = 0.0) -> None:
    assert math.isfinite(actual)
    assert abs(actual - expected) <= atol + rtol * abs(expected), (actual, expected)


# ---------------------------------------------------------------------------------------------
# distribution functions


def test_normal_cdf_and_sf_match_scipy() -> None:
    for x in np.linspace(-37.0, 37.0, 297):
        # math.erfc and scipy each carry ~1e-13 relative error far in the tail
        assert_close(normal_cdf(float(x)), float(sps.norm.cdf(x)), rtol=1e-12)
        assert_close(normal_sf(float(x)), float(sps.norm.sf(x)), rtol=1e-12)
    assert normal_cdf(-math.inf) == 0.0
    assert normal_sf(-math.inf) == 1.0


def test_normal_ppf_matches_scipy_to_1e_12() -> None:
    tails = np.logspace(-300, -1, 200)
    grid = np.concatenate([tails, np.linspace(0.001, 0.999, 999), 1.0 - tails[tails > 1e-16]])
    for p in grid:
        expected = float(sps.norm.ppf(p))
        assert_close(normal_ppf(float(p)), expected, rtol=1e-12, atol=1e-12)
    assert normal_ppf(0.5) == 0.0
    for p in [5e-324, 1e-310]:  # subnormal: nothing overflows, the result still inverts the cdf
        assert math.isfinite(normal_ppf(p))
        assert_close(normal_ppf(p), float(sps.norm.ppf(p)), rtol=1e-8)
    assert_close(normal_ppf(0.975), 1.959963984540054, rtol=0.0, atol=1e-14)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5, math.nan])
def test_quantiles_reject_probabilities_outside_the_open_interval(p: float) -> None:
    with pytest.raises(ValueError, match="p must be in"):
        normal_ppf(p)
    with pytest.raises(ValueError, match="p must be in"):
        t_ppf(p, 5.0)


def test_t_sf_matches_scipy_including_non_integer_and_large_df() -> None:
    ts = [-60.0, -10.0, -3.0, -1.0, -0.1, 0.0, 0.01, 0.5, 1.0, 1.96, 2.5, 4.0, 10.0]
    ts += [37.0, 100.0, 1e4, 1e8]
    for df in DFS:
        for t in ts:
            expected = float(sps.t.sf(t, df))
            if expected < 1e-300:  # scipy's own accuracy gives out near the denormals
                continue
            assert_close(t_sf(t, df), expected, rtol=1e-12)
    assert t_sf(math.inf, 3.0) == 0.0
    assert t_sf(-math.inf, 3.0) == 1.0
    assert t_sf(1.0, math.inf) == normal_sf(1.0)
    assert math.isfinite(t_sf(1e200, 0.5))  # t^2 overflows


def test_t_sf_near_zero_matches_the_closed_forms() -> None:
    # scipy loses digits here (t.sf(1e-8, 1) is off by 1.6e-9); df 1 and 2 have closed forms
    for t in [1e-12, 1e-8, -1e-8, 1e-4, 0.3]:
        assert_close(t_sf(t, 1.0), 0.5 - math.atan(t) / math.pi, rtol=1e-15)
        assert_close(t_sf(t, 2.0), 0.5 - t / (2.0 * math.sqrt(2.0 + t * t)), rtol=1e-15)
    # far out, where t^2 overflows and x = df / (df + t^2) underflows: P(T > t) = atan(1/t) / pi
    for t in [1e100, 1e160, 1e300]:
        assert_close(t_sf(t, 1.0), math.atan(1.0 / t) / math.pi, rtol=1e-12)


def test_t_ppf_of_a_quantile_beyond_the_float_range_is_finite() -> None:
    assert t_ppf(0.975, 1e-3) == sys.float_info.max
    assert t_ppf(0.025, 1e-3) == -sys.float_info.max


def test_t_ppf_matches_scipy() -> None:
    ps = [1e-12, 1e-6, 0.001, 0.025, 0.05, 0.2, 0.5, 0.8, 0.95, 0.975, 0.999, 1 - 1e-9]
    for df in DFS:
        for p in ps:
            expected = float(sps.t.ppf(p, df))
            assert_close(t_ppf(p, df), expected, rtol=1e-10, atol=1e-10)
    assert t_ppf(0.3, math.inf) == normal_ppf(0.3)


def test_t_ppf_inverts_t_sf() -> None:
    for df in [0.7, 2.0, 13.3, 250.0]:
        for p in [0.01, 0.3, 0.6, 0.99]:
            assert_close(t_sf(t_ppf(p, df), df), 1.0 - p, rtol=1e-10)


def test_chi2_sf_matches_scipy() -> None:
    xs = [0.0, 1e-8, 0.01, 0.5, 1.0, 2.0, 3.84, 5.0, 10.0, 30.0, 100.0, 1e3, 1e4, 1.1e5]
    for df in [0.5, 1.0, 2.0, 3.0, 4.5, 7.0, 10.0, 50.0, 99.0, 1e3, 1e4, 1e5]:
        for x in xs:
            expected = float(sps.chi2.sf(x, df))
            if expected < 1e-300:
                continue
            assert_close(chi2_sf(x, df), expected, rtol=1e-12)
    assert chi2_sf(-1.0, 3.0) == 1.0
    assert chi2_sf(math.inf, 3.0) == 0.0


def test_kolmogorov_sf_matches_kstwobign() -> None:
    for x in np.linspace(0.01, 8.0, 800):
        expected = float(sps.kstwobign.sf(x))
        if expected < 1e-300:
            continue
        assert_close(kolmogorov_sf(float(x)), expected, rtol=1e-12, atol=1e-15)
    assert kolmogorov_sf(0.0) == 1.0
    assert kolmogorov_sf(-1.0) == 1.0
    assert kolmogorov_sf(0.1) == 1.0
    assert kolmogorov_sf(40.0) == 0.0


@pytest.mark.parametrize("df", [0.0, -1.0, math.nan])
def test_distribution_functions_reject_invalid_df(df: float) -> None:
    with pytest.raises(ValueError, match="df must be > 0"):
        t_sf(1.0, df)
    with pytest.raises(ValueError, match="df must be > 0"):
        t_ppf(0.9, df)
    with pytest.raises(ValueError, match="df must be > 0"):
        chi2_sf(1.0, df)


@pytest.mark.parametrize(
    "function",
    [normal_cdf, normal_sf, kolmogorov_sf, lambda x: t_sf(x, 3.0), lambda x: chi2_sf(x, 3.0)],
)
def test_distribution_functions_reject_nan(function: Callable[[float], float]) -> None:
    with pytest.raises(ValueError, match="NaN"):
        function(math.nan)


# ---------------------------------------------------------------------------------------------
# proportions


def test_wilson_interval_matches_scipy() -> None:
    for n in [1, 2, 7, 10, 50, 333, 10_000]:
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            for confidence in [0.8, 0.9, 0.95, 0.99]:
                ci = sps.binomtest(k, n).proportion_ci(confidence, method="wilson")
                low, high = wilson_interval(k, n, confidence)
                assert_close(low, float(ci.low), rtol=0.0, atol=1e-12)
                assert_close(high, float(ci.high), rtol=0.0, atol=1e-12)
                assert 0.0 <= low <= k / n <= high <= 1.0


def test_wilson_interval_without_trials_is_the_unit_interval() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("successes", "trials", "confidence", "message"),
    [
        (-1, 10, 0.95, "successes must be >= 0"),
        (1, -1, 0.95, "trials must be >= 0"),
        (11, 10, 0.95, "must not exceed trials"),
        (1, 10, 0.0, "confidence must be in"),
        (1, 10, 1.0, "confidence must be in"),
        (1, 10, math.nan, "confidence must be in"),
    ],
)
def test_wilson_interval_rejects_invalid_input(
    successes: int, trials: int, confidence: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        wilson_interval(successes, trials, confidence)


# Newcombe, "Interval estimation for the difference between independent proportions:
# comparison of eleven methods", Statistics in Medicine 17 (1998) 873-890, Table II, method 10,
# 95% intervals of p1 - p2 (the paper's orientation: first group minus second). Checked by hand
# from the formula (Wilson limits l, u of each group; e.g. (f): the Wilson upper limit of 0/10
# is z^2 / (10 + z^2) = 0.2775, so the interval is -0.2775 to 0.2775; (h): the lower limit of
# 10/10 is 10 / (10 + z^2) = 0.7225, so the lower bound is 1 - sqrt(0.2775^2 + 0.2775^2) =
# 0.6075), and (a), (b) agree with R DescTools' BinomDiffCI(method = "score") tests.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),  # (a)
    ((9, 10, 3, 10), (0.1705, 0.8090)),  # (b)
    ((5, 56, 0, 29), (-0.0381, 0.1926)),  # (d)
    ((0, 10, 0, 20), (-0.1611, 0.2775)),  # (e)
    ((0, 10, 0, 10), (-0.2775, 0.2775)),  # (f)
    ((10, 10, 0, 20), (0.6791, 1.0000)),  # (g)
    ((10, 10, 0, 10), (0.6075, 1.0000)),  # (h)
]


@pytest.mark.parametrize(("counts", "published"), NEWCOMBE_TABLE_II)
def test_newcombe_reproduces_the_published_examples(
    counts: tuple[int, int, int, int], published: tuple[float, float]
) -> None:
    x1, m1, x2, m2 = counts
    # this API's difference is second minus first: pass the paper's second group first
    low, high = newcombe_diff_interval(x2, m2, x1, m1)
    assert round(low, 4) == published[0]
    assert round(high, 4) == published[1]
    # and the other orientation is the mirror image: 56/70 then 48/80 gives (-0.3339, -0.0524)
    low2, high2 = newcombe_diff_interval(x1, m1, x2, m2)
    assert_close(low2, -high, rtol=0.0, atol=1e-15)
    assert_close(high2, -low, rtol=0.0, atol=1e-15)


def test_newcombe_matches_the_formula_on_scipy_wilson_limits() -> None:
    for s1, n1, s2, n2 in [(3, 40, 9, 41), (0, 5, 5, 5), (120, 1000, 140, 1000), (1, 2, 1, 3)]:
        for confidence in [0.9, 0.95, 0.99]:
            w1 = sps.binomtest(s1, n1).proportion_ci(confidence, method="wilson")
            w2 = sps.binomtest(s2, n2).proportion_ci(confidence, method="wilson")
            p1, p2 = s1 / n1, s2 / n2
            low = p2 - p1 - math.sqrt((p2 - w2.low) ** 2 + (w1.high - p1) ** 2)
            high = p2 - p1 + math.sqrt((w2.high - p2) ** 2 + (p1 - w1.low) ** 2)
            got = newcombe_diff_interval(s1, n1, s2, n2, confidence)
            assert_close(got[0], float(low), rtol=0.0, atol=1e-12)
            assert_close(got[1], float(high), rtol=0.0, atol=1e-12)


def test_newcombe_without_trials_is_the_widest_difference_interval() -> None:
    assert newcombe_diff_interval(0, 0, 3, 10) == (-1.0, 1.0)
    assert newcombe_diff_interval(3, 10, 0, 0) == (-1.0, 1.0)
    assert newcombe_diff_interval(0, 0, 0, 0) == (-1.0, 1.0)
    with pytest.raises(ValueError, match="must not exceed trials"):
        newcombe_diff_interval(4, 3, 1, 10)


def test_two_proportion_ztest_is_pearson_chi_square_on_the_2x2_table() -> None:
    for s1, n1, s2, n2 in [(30, 100, 45, 100), (500, 10_000, 450, 10_000), (1, 7, 6, 9)]:
        result = two_proportion_ztest(s1, n1, s2, n2)
        table = np.array([[s1, n1 - s1], [s2, n2 - s2]])
        chi2, p, _, _ = sps.chi2_contingency(table, correction=False)
        assert_close(result.statistic**2, float(chi2), rtol=1e-12)
        assert_close(result.p_value, float(p), rtol=1e-10)
        assert (result.statistic > 0) == (s2 / n2 > s1 / n1)


def test_two_proportion_ztest_without_information() -> None:
    for args in [(0, 0, 3, 10), (3, 10, 0, 0), (0, 10, 0, 20), (10, 10, 20, 20)]:
        assert two_proportion_ztest(*args) == stats.TestResult(0.0, 1.0)
    # every success on one side, none on the other: a huge but finite z
    assert_valid(two_proportion_ztest(0, 10_000, 10_000, 10_000))
    with pytest.raises(ValueError, match="successes2 must be >= 0"):
        two_proportion_ztest(1, 10, -1, 10)


def test_sample_size_two_proportions_textbook_value() -> None:
    # 50% -> 55%, alpha 0.05 two-sided, power 0.8: (1.95996 sqrt(2 * 0.525 * 0.475) + 0.84162
    # sqrt(0.25 + 0.2475))^2 / 0.05^2 = 1564.7 -> 1565 per group (Fleiss, Levin & Paik 2003,
    # eq. 4.14 without continuity correction)
    assert sample_size_two_proportions(0.5, 0.05) == 1565
    assert sample_size_two_proportions(0.55, -0.05) == 1565  # the same test, mirrored
    assert sample_size_two_proportions(0.5, 0.1, alpha=0.5, power=0.1) == 1  # nothing to ask
    with pytest.raises(ValueError, match="too small"):
        sample_size_two_proportions(0.5, 1e-200)


def test_sample_size_two_proportions_matches_the_formula() -> None:
    for p1, effect, alpha, power in [
        (0.1, 0.02, 0.05, 0.8),
        (0.3, -0.1, 0.01, 0.9),
        (0.0, 0.05, 0.1, 0.5),
    ]:
        p2 = p1 + effect
        pbar = (p1 + p2) / 2
        za, zb = sps.norm.ppf(1 - alpha / 2), sps.norm.ppf(power)
        root = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
        expected = math.ceil(root**2 / effect**2)
        assert sample_size_two_proportions(p1, effect, alpha, power) == expected


@pytest.mark.parametrize(
    ("p_base", "effect", "alpha", "power"),
    [(0.5, 0.0, 0.05, 0.8), (0.5, 0.6, 0.05, 0.8), (-0.1, 0.1, 0.05, 0.8), (0.5, 0.1, 0.0, 0.8)],
)
def test_sample_size_two_proportions_rejects_invalid_input(
    p_base: float, effect: float, alpha: float, power: float
) -> None:
    with pytest.raises(ValueError, match="must be"):
        sample_size_two_proportions(p_base, effect, alpha, power)


# ---------------------------------------------------------------------------------------------
# means


def summary(x: np.ndarray) -> tuple[float, float, int]:
    return float(x.mean()), float(x.var(ddof=1)), int(x.size)


@pytest.mark.parametrize(
    ("n1", "n2", "shift", "scale"),
    [(2, 3, 0.5, 1.0), (15, 40, 0.3, 3.0), (500, 200, 0.1, 0.5), (5000, 8000, 0.02, 1.0)],
)
def test_welch_matches_scipy_from_raw_samples(n1: int, n2: int, shift: float, scale: float) -> None:
    rng = np.random.default_rng(n1 * 7 + n2)
    a = rng.normal(10.0, 1.0, n1)
    b = rng.normal(10.0 + shift, scale, n2)
    result = welch_ttest(*summary(a), *summary(b))
    expected = sps.ttest_ind(b, a, equal_var=False)  # scipy's difference is first minus second
    assert_close(result.statistic, float(expected.statistic), rtol=1e-10)
    assert_close(result.p_value, float(expected.pvalue), rtol=1e-9)
    for confidence in [0.9, 0.95, 0.99]:
        ci = expected.confidence_interval(confidence)
        low, high = welch_interval(*summary(a), *summary(b), confidence)
        assert_close(low, float(ci.low), rtol=1e-9, atol=1e-12)
        assert_close(high, float(ci.high), rtol=1e-9, atol=1e-12)


def test_welch_with_one_constant_group_matches_scipy() -> None:
    a = np.full(20, 3.0)
    b = np.random.default_rng(3).normal(3.2, 1.0, 30)
    result = welch_ttest(*summary(a), *summary(b))
    with warnings.catch_warnings():  # scipy warns about the constant sample's moments
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = sps.ttest_ind(b, a, equal_var=False)
    assert_close(result.statistic, float(expected.statistic), rtol=1e-10)
    assert_close(result.p_value, float(expected.pvalue), rtol=1e-9)


def test_welch_ttest_degenerate_inputs() -> None:
    no_information = stats.TestResult(0.0, 1.0)
    assert welch_ttest(1.0, 0.0, 1, 2.0, 1.0, 10) == no_information  # n = 1
    assert welch_ttest(1.0, 0.0, 0, 2.0, 1.0, 10) == no_information  # empty
    assert welch_ttest(5.0, 0.0, 10, 5.0, 0.0, 10) == no_information  # all equal
    assert welch_ttest(5.0, 2.0, 10, 5.0, 3.0, 10) == no_information  # equal means
    different = welch_ttest(5.0, 0.0, 10, 6.0, 0.0, 10)  # constant groups, different values
    assert_valid(different)
    assert different.p_value == 0.0
    assert different.statistic > 1e300
    assert welch_ttest(6.0, 0.0, 10, 5.0, 0.0, 10).statistic < -1e300
    assert_valid(welch_ttest(-1e308, 1.0, 10, 1e308, 1.0, 10))  # the difference overflows
    assert_valid(welch_ttest(0.0, 1e-300, 10, 1e-160, 1e-300, 10))  # squares underflow


def test_welch_interval_degenerate_inputs() -> None:
    assert welch_interval(5.0, 0.0, 10, 6.0, 0.0, 12) == (1.0, 1.0)
    with pytest.raises(ValueError, match="at least 2 observations"):
        welch_interval(5.0, 0.0, 1, 6.0, 1.0, 12)
    with pytest.raises(ValueError, match="at least 2 observations"):
        welch_interval(5.0, 1.0, 10, 6.0, 1.0, 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1.0, -1.0, 10, 2.0, 1.0, 10), "var1 must be finite and >= 0"),
        ((1.0, 1.0, 10, 2.0, math.nan, 10), "var2 must be finite and >= 0"),
        ((math.inf, 1.0, 10, 2.0, 1.0, 10), "mean1 must be finite"),
        ((1.0, 1.0, -2, 2.0, 1.0, 10), "n1 must be >= 0"),
    ],
)
def test_welch_rejects_invalid_input(
    args: tuple[float, float, int, float, float, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        welch_ttest(*args)
    with pytest.raises(ValueError, match=message):
        welch_interval(*args)


# ---------------------------------------------------------------------------------------------
# distributions


def ks_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    return [
        (rng.normal(size=200), rng.normal(0.2, size=300)),
        (rng.normal(size=7), rng.normal(size=5)),
        (rng.integers(0, 5, 400).astype(float), rng.integers(0, 6, 350).astype(float)),  # ties
        (np.array([1.0, 1.0, 2.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0, 3.0])),  # ties across
        (rng.exponential(size=1000), rng.exponential(1.1, size=1000)),
    ]


def test_ks_2samp_statistic_matches_scipy_and_p_is_stephens() -> None:
    for a, b in ks_cases():
        result = ks_2samp(a, b)
        expected = sps.ks_2samp(a, b, method="asymp")
        assert result.statistic == pytest.approx(float(expected.statistic), abs=1e-15)
        en = a.size * b.size / (a.size + b.size)
        lam = result.statistic * (math.sqrt(en) + 0.12 + 0.11 / math.sqrt(en))
        assert_close(result.p_value, float(sps.kstwobign.sf(lam)), rtol=1e-12, atol=1e-15)
        assert ks_2samp(list(a), list(b)) == result  # a sequence works as well as an array


def test_ks_2samp_p_value_close_to_scipy_for_large_samples() -> None:
    # scipy's asymptotic p is the one-sample distribution at n = round(en); Stephens' formula
    # approximates the same thing to a few parts in a thousand
    rng = np.random.default_rng(5)
    for n, m, shift in [
        (2000, 3000, 0.0),
        (2000, 3000, 0.1),
        (5000, 4000, 0.05),
        (20_000, 10_000, 0.03),
    ]:
        a, b = rng.normal(size=n), rng.normal(shift, size=m)
        result = ks_2samp(a, b)
        expected = float(sps.ks_2samp(a, b, method="asymp").pvalue)
        assert_close(result.p_value, expected, rtol=0.02, atol=0.006)


def test_ks_2samp_p_value_close_to_scipy_exact_for_small_samples() -> None:
    rng = np.random.default_rng(6)
    for n, m in [(20, 25), (30, 40), (60, 90), (100, 150)]:
        for shift in [0.0, 0.5]:
            a, b = rng.normal(size=n), rng.normal(shift, size=m)
            expected = float(sps.ks_2samp(a, b, method="exact").pvalue)
            assert_close(ks_2samp(a, b).p_value, expected, rtol=0.0, atol=0.03)


def test_ks_2samp_degenerate_inputs() -> None:
    assert ks_2samp([], [1.0, 2.0]) == stats.TestResult(0.0, 1.0)
    assert ks_2samp(np.array([1.0, 2.0]), np.array([])) == stats.TestResult(0.0, 1.0)
    assert ks_2samp([3.0] * 50, [3.0] * 40) == stats.TestResult(0.0, 1.0)
    assert_valid(ks_2samp([1.0], [2.0]))
    separated = ks_2samp([0.0] * 1000, [1.0] * 1000)
    assert separated.statistic == 1.0
    assert separated.p_value == 0.0
    with pytest.raises(ValueError, match="NaN or infinite"):
        ks_2samp([1.0, math.nan], [1.0])


def manual_psi(ref_counts: list[float], cur_counts: list[float]) -> float:
    total = 0.0
    for r, c in zip(ref_counts, cur_counts, strict=True):
        rp = max(r / sum(ref_counts), 1e-4)
        cp = max(c / sum(cur_counts), 1e-4)
        total += (cp - rp) * math.log(cp / rp)
    return total


def test_psi_of_identical_samples_is_zero_and_a_shift_is_large() -> None:
    rng = np.random.default_rng(7)
    reference = rng.normal(size=20_000)
    assert psi(reference, reference) == pytest.approx(0.0, abs=1e-12)
    assert psi(reference, rng.normal(size=20_000)) < 0.01  # same distribution, new draw
    assert psi(reference, rng.normal(1.0, size=20_000)) > 0.2
    assert psi(reference, rng.normal(0.5, size=20_000)) > psi(
        reference, rng.normal(0.2, size=20_000)
    )


def test_psi_bins_are_the_reference_deciles() -> None:
    reference = np.arange(100, dtype=float)  # deciles at 9.9, 19.8, ...: 10 values per bin
    current = np.concatenate([np.arange(50.0), np.full(50, 150.0)])
    # current: bins 0-4 hold 10 each, bins 5-8 none, the last bin 50 (the values above 89.1)
    expected = manual_psi([10.0] * 10, [10.0] * 5 + [0.0] * 4 + [50.0])
    assert psi(reference, current) == pytest.approx(expected, rel=1e-12)


def test_psi_of_a_discrete_variable_deduplicates_edges() -> None:
    reference = [0.0] * 50 + [1.0] * 30 + [2.0] * 20
    current = [0.0] * 20 + [1.0] * 30 + [2.0] * 40 + [3.0] * 10
    # the deciles 0, 0, 0, 0, 0.5, 1, 1, 1.2, 2 deduplicated, and an edge just above the
    # maximum 2: bins (-inf, 0) [0, 0.5) [0.5, 1) [1, 1.2) [1.2, 2) [2, 2] (2, inf); the empty
    # ones contribute nothing, and the new value 3 is not lumped in with 2
    expected = manual_psi([50.0, 30.0, 20.0, 0.0], [20.0, 30.0, 40.0, 10.0])
    assert psi(reference, current) == pytest.approx(expected, rel=1e-12)
    assert psi(reference, reference) == 0.0


def test_psi_degenerate_inputs() -> None:
    assert psi([], [1.0, 2.0]) == 0.0
    assert psi([1.0, 2.0], []) == 0.0
    constant = psi([5.0] * 100, [5.0] * 30 + [6.0] * 70)  # one edge, two bins
    assert math.isfinite(constant)
    assert constant > 0.0
    assert psi([5.0] * 100, [5.0] * 100) == 0.0
    outside = psi(np.arange(100.0), np.full(100, 1e6))  # all current values past the range
    assert math.isfinite(outside)
    assert outside > 1.0
    assert psi([1.0], [2.0], bins=2) >= 0.0
    with pytest.raises(ValueError, match="bins must be >= 2"):
        psi([1.0, 2.0], [1.0], bins=1)
    with pytest.raises(ValueError, match="NaN or infinite"):
        psi([1.0, math.inf], [1.0])


def test_psi_categorical() -> None:
    reference = {"en": 700.0, "de": 200.0, "fr": 100.0}
    current = {"en": 500.0, "de": 300.0, "es": 200.0}  # fr gone, es new
    expected = manual_psi([200.0, 700.0, 0.0, 100.0], [300.0, 500.0, 200.0, 0.0])
    assert psi_categorical(reference, current) == pytest.approx(expected, rel=1e-12)
    assert psi_categorical(reference, reference) == 0.0
    assert psi_categorical(reference, {"en": 7.0, "de": 2.0, "fr": 1.0}) == pytest.approx(0.0)
    assert psi_categorical({}, current) == 0.0
    assert psi_categorical(reference, {"en": 0.0}) == 0.0
    with pytest.raises(ValueError, match="must be finite and >= 0"):
        psi_categorical({"en": -1.0}, current)


CATEGORY_TABLES = [
    ({"a": 10.0, "b": 20.0, "c": 30.0}, {"a": 15.0, "b": 15.0, "c": 40.0}),
    ({"a": 500.0, "b": 480.0}, {"a": 530.0, "b": 450.0}),  # 2 x 2
    ({"x": 1.0, "y": 0.0, "z": 7.0}, {"x": 3.0, "z": 2.0, "w": 4.0}),  # zero total and new keys
    ({str(i): float(i + 1) for i in range(30)}, {str(i): float(30 - i) for i in range(30)}),
]


def scipy_table(reference: dict[str, float], current: dict[str, float]) -> np.ndarray:
    keys = sorted(
        k for k in set(reference) | set(current) if reference.get(k, 0) + current.get(k, 0) > 0
    )
    return np.array([[reference.get(k, 0.0) for k in keys], [current.get(k, 0.0) for k in keys]])


@pytest.mark.parametrize(("reference", "current"), CATEGORY_TABLES)
def test_chi2_homogeneity_and_cramers_v_match_scipy(
    reference: dict[str, float], current: dict[str, float]
) -> None:
    table = scipy_table(reference, current)
    chi2, p, dof, _ = sps.chi2_contingency(table, correction=False)
    result = chi2_homogeneity(reference, current)
    assert_close(result.statistic, float(chi2), rtol=1e-12)
    assert_close(result.p_value, float(p), rtol=1e-10, atol=1e-300)
    assert dof == table.shape[1] - 1
    expected_v = float(
        sps.contingency.association(table.astype(int), method="cramer", correction=False)
    )
    assert_close(cramers_v(reference, current), expected_v, rtol=1e-12)


def test_chi2_homogeneity_and_cramers_v_degenerate_inputs() -> None:
    no_information = stats.TestResult(0.0, 1.0)
    assert chi2_homogeneity({"a": 5.0}, {"a": 9.0}) == no_information  # one category
    assert chi2_homogeneity({"a": 5.0, "b": 0.0}, {"a": 9.0}) == no_information  # one left
    assert chi2_homogeneity({}, {"a": 9.0, "b": 1.0}) == no_information  # empty side
    assert chi2_homogeneity({}, {}) == no_information
    assert cramers_v({"a": 5.0}, {"a": 9.0}) == 0.0
    assert cramers_v({}, {"a": 9.0, "b": 1.0}) == 0.0
    disjoint = chi2_homogeneity({"a": 100.0}, {"b": 100.0})  # a category absent on each side
    assert_valid(disjoint)
    assert disjoint.p_value < 1e-40
    assert cramers_v({"a": 100.0}, {"b": 100.0}) == pytest.approx(1.0)
    assert chi2_homogeneity({"a": 1.0, "b": 3.0}, {"a": 2.0, "b": 6.0}).statistic == pytest.approx(
        0.0
    )
    with pytest.raises(ValueError, match="must be finite and >= 0"):
        chi2_homogeneity({"a": math.nan}, {"a": 1.0})


# ---------------------------------------------------------------------------------------------
# bootstrap


def test_bootstrap_interval_covers_the_true_difference_and_is_deterministic() -> None:
    rng = np.random.default_rng(8)
    a = rng.normal(0.0, 1.0, 4000)
    b = rng.normal(0.5, 1.0, 4000)
    point, low, high = bootstrap_diff_interval(a, b, 0.5, n_boot=400, seed=1)
    assert low < 0.5 < high  # the medians differ by 0.5
    assert low <= point <= high
    assert high - low < 0.2
    assert point == pytest.approx(float(np.median(b) - np.median(a)))
    assert bootstrap_diff_interval(a, b, 0.5, n_boot=400, seed=1) == (point, low, high)
    assert bootstrap_diff_interval(a, b, 0.5, n_boot=400, seed=2) != (point, low, high)
    p95 = bootstrap_diff_interval(a, b, 0.95, n_boot=400, seed=1)
    true_p95 = 0.5  # both normal with sd 1: the 95th percentiles differ by the shift too
    assert p95[1] < true_p95 < p95[2]


def test_bootstrap_result_does_not_depend_on_the_block_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(9)
    a, b = rng.exponential(size=300), rng.exponential(1.2, size=250)
    whole = bootstrap_diff_interval(a, b, 0.9, n_boot=200, seed=4)
    monkeypatch.setattr(stats, "_BLOCK_ELEMENTS", 7 * 300)  # several blocks, a ragged last one
    assert bootstrap_diff_interval(a, b, 0.9, n_boot=200, seed=4) == whole


def test_bootstrap_degenerate_inputs() -> None:
    assert bootstrap_diff_interval([3.0], [5.0], 0.5, n_boot=50) == (2.0, 2.0, 2.0)
    assert bootstrap_diff_interval([1.0] * 20, [1.0] * 30, 0.95, n_boot=50) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="non-empty samples"):
        bootstrap_diff_interval([], [1.0], 0.5)
    with pytest.raises(ValueError, match="q must be in"):
        bootstrap_diff_interval([1.0], [1.0], 1.5)
    with pytest.raises(ValueError, match="n_boot must be >= 1"):
        bootstrap_diff_interval([1.0], [1.0], 0.5, n_boot=0)
    with pytest.raises(ValueError, match="confidence must be in"):
        bootstrap_diff_interval([1.0], [1.0], 0.5, confidence=1.0)


# ---------------------------------------------------------------------------------------------
# every test, on random and degenerate inputs: valid results only


def test_every_test_returns_valid_results_on_random_inputs() -> None:
    rng = np.random.default_rng(10)
    for _ in range(200):
        n1, n2 = (int(v) for v in rng.integers(0, 30, 2))
        s1, s2 = int(rng.integers(0, n1 + 1)), int(rng.integers(0, n2 + 1))
        assert_valid(two_proportion_ztest(s1, n1, s2, n2))
        low, high = newcombe_diff_interval(s1, n1, s2, n2)
        assert -1.0 <= low <= high <= 1.0
        low, high = wilson_interval(s1, n1)
        assert 0.0 <= low <= high <= 1.0
        a = rng.integers(0, 3, n1).astype(float)  # small integers: many ties, often constant
        b = rng.integers(0, 3, n2).astype(float)
        assert_valid(ks_2samp(a, b))
        drift = psi(a, b)
        assert math.isfinite(drift)
        assert drift >= 0.0
        if n1 >= 1 and n2 >= 1:
            mean_a, mean_b = float(a.mean()), float(b.mean())
            var_a = float(a.var(ddof=1)) if n1 > 1 else 0.0
            var_b = float(b.var(ddof=1)) if n2 > 1 else 0.0
            assert_valid(welch_ttest(mean_a, var_a, n1, mean_b, var_b, n2))
        ref = {
            str(int(k)): float(v) for k, v in zip(*np.unique(a, return_counts=True), strict=True)
        }
        cur = {
            str(int(k)): float(v) for k, v in zip(*np.unique(b, return_counts=True), strict=True)
        }
        assert_valid(chi2_homogeneity(ref, cur))
        assert 0.0 <= cramers_v(ref, cur) <= 1.0
        assert math.isfinite(psi_categorical(ref, cur))
