"""Statistical tests and intervals for the A/B report and the drift check.

What is here:

- distribution functions: the normal cdf, survival function and quantile function, Student's t
  survival and quantile functions (any real ``df > 0``, as Welch's test needs), the chi-square
  survival function and the asymptotic Kolmogorov distribution;
- proportions: the Wilson score interval, Newcombe's interval for a difference of two
  proportions, the pooled two-proportion z test and the sample size for a two-proportion test;
- means: Welch's t test and interval, from summary statistics (the A/B report aggregates);
- distributions: the two-sample Kolmogorov-Smirnov test, the population stability index (PSI)
  of a numeric variable and of a categorical one, the chi-square test of homogeneity and
  Cramér's V;
- quantiles: a percentile-bootstrap interval for a difference of quantiles (latency p50/p95).

Why no scipy: this module runs inside the Lambda images, and scipy would add ~100 MB to every
image for a handful of distribution functions. They are implemented here with the standard
library's ``math`` (``erfc``, ``lgamma``) and the classic continued fractions and series of
Numerical Recipes; the unit tests compare each of them against scipy (a dev dependency only).

Conventions, the same for every function:

- Two-sample functions take the control first and the candidate second; differences and signed
  statistics are *second minus first* (positive when the candidate is higher).
- Inputs that are invalid outright raise ``ValueError``: negative counts, more successes than
  trials, negative or non-finite variances, NaN or infinite sample values, a confidence level
  or probability outside ``(0, 1)``, fewer than two bins.
- Degenerate inputs that real data can produce (no trials, an empty sample, zero variance, a
  single observation, all-equal samples, a category absent on one side) never raise, warn or
  return NaN or an infinity: a test that has no information returns ``statistic=0.0,
  p_value=1.0``; an interval for a proportion with no trials is ``(0.0, 1.0)``, for a
  difference of proportions ``(-1.0, 1.0)``; a distance (PSI, Cramér's V) with nothing to
  compare is ``0.0``. The two exceptions are intervals of unbounded quantities, which have no
  finite "widest" interval: ``welch_interval`` with fewer than two observations in a group and
  ``bootstrap_diff_interval`` with an empty sample raise ``ValueError`` (callers check the
  sample sizes first).
- Probabilities are clamped into ``[0, 1]``; a statistic that would be infinite (two groups
  without any variance and different means) is the largest finite float with its sign.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "ArrayLike",
    "TestResult",
    "bootstrap_diff_interval",
    "chi2_homogeneity",
    "chi2_sf",
    "cramers_v",
    "kolmogorov_sf",
    "ks_2samp",
    "newcombe_diff_interval",
    "normal_cdf",
    "normal_ppf",
    "normal_sf",
    "psi",
    "psi_categorical",
    "sample_size_two_proportions",
    "t_ppf",
    "t_sf",
    "two_proportion_ztest",
    "welch_interval",
    "welch_ttest",
    "wilson_interval",
]

ArrayLike: TypeAlias = Sequence[float] | npt.NDArray[Any]
"""A one-dimensional sample: a sequence of floats or a numpy array (flattened)."""

PSI_FLOOR = 1e-4
"""Bin and category proportions are floored at this before the log of the PSI."""

_MAX_FLOAT = sys.float_info.max
_EPS = 1e-15  # relative convergence of the series and continued fractions
_TINY = 1e-300  # Lentz's guard against a zero denominator
_SQRT2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
# bootstrap: elements of one block of resample indices (bounds the memory of a block: 8M int64
# indices and as many gathered floats, ~128 MB)
_BLOCK_ELEMENTS = 8_000_000
_STIRLING_MIN = 30.0  # from here lgamma differences go through Stirling's series


@dataclass(frozen=True)
class TestResult:
    """The outcome of a hypothesis test.

    ``p_value`` is two-sided unless the test's docstring says otherwise, and always in
    ``[0, 1]``; ``statistic`` is always finite.
    """

    __test__: ClassVar[bool] = False  # not a pytest test class, despite its name

    statistic: float
    p_value: float


# ---------------------------------------------------------------------------------------------
# validation helpers


def _clamp01(p: float) -> float:
    return min(1.0, max(0.0, p))


def _clamp_finite(x: float) -> float:
    """A statistic with its infinities replaced by the largest finite float (NaN stays NaN)."""
    return min(_MAX_FLOAT, max(-_MAX_FLOAT, x))


def _check_probability(name: str, p: float) -> None:
    if not 0.0 < p < 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in (0, 1), got {p!r}")


def _check_finite(name: str, x: float) -> None:
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")


def _check_counts(successes: int, trials: int, label: str = "") -> None:
    if trials < 0:
        raise ValueError(f"trials{label} must be >= 0, got {trials}")
    if successes < 0:
        raise ValueError(f"successes{label} must be >= 0, got {successes}")
    if successes > trials:
        raise ValueError(f"successes{label} ({successes}) must not exceed trials ({trials})")


def _check_n(name: str, n: int) -> None:
    if n < 0:
        raise ValueError(f"{name} must be >= 0, got {n}")


def _two_sided_z(confidence: float) -> float:
    """The normal quantile ``z`` with ``P(|Z| <= z) = confidence``."""
    _check_probability("confidence", confidence)
    return -normal_ppf((1.0 - confidence) / 2.0)


def _sample(name: str, values: ArrayLike) -> npt.NDArray[np.float64]:
    """A sample as a flat float64 array; NaN or infinite values raise ``ValueError``."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not bool(np.isfinite(arr).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _category_counts(
    reference: Mapping[str, float], current: Mapping[str, float]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Two aligned count vectors over the union of the categories (a missing one counts 0)."""
    for side, counts in (("reference", reference), ("current", current)):
        for key, value in counts.items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{side} count of {key!r} must be finite and >= 0, got {value!r}")
    keys = sorted(set(reference) | set(current))
    ref = np.array([float(reference.get(k, 0.0)) for k in keys], dtype=np.float64)
    cur = np.array([float(current.get(k, 0.0)) for k in keys], dtype=np.float64)
    return ref, cur


# ---------------------------------------------------------------------------------------------
# distribution functions


def normal_cdf(x: float) -> float:
    """Standard normal cdf ``P(Z <= x)``, as ``erfc(-x / sqrt(2)) / 2``.

    ``erfc`` keeps the relative accuracy in the lower tail (Abramowitz & Stegun 26.2.29).
    """
    if math.isnan(x):
        raise ValueError("x must not be NaN")
    return _clamp01(0.5 * math.erfc(-x / _SQRT2))


def normal_sf(x: float) -> float:
    """Standard normal survival function ``P(Z > x) = 1 - cdf(x)``, as ``erfc(x / sqrt(2)) / 2``.

    Accurate in the upper tail, where ``1 - normal_cdf(x)`` would cancel to 0.
    """
    if math.isnan(x):
        raise ValueError("x must not be NaN")
    return _clamp01(0.5 * math.erfc(x / _SQRT2))


# Acklam's rational approximations of the normal quantile (relative error < 1.15e-9).
_ACKLAM_A = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
_ACKLAM_B = (
    -5.447609879822406e01,
    1.615858368580409e02,
    -1.556989798598866e02,
    6.680131188771972e01,
    -1.328068155288572e01,
)
_ACKLAM_C = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
_ACKLAM_D = (
    7.784695709041462e-03,
    3.224671290700398e-01,
    2.445134137142996e00,
    3.754408661907416e00,
)
_ACKLAM_P_LOW = 0.02425


def normal_ppf(p: float) -> float:
    """Standard normal quantile (inverse cdf) for ``p`` in ``(0, 1)``; ``ValueError`` outside.

    Acklam's rational approximation (P. J. Acklam, "An algorithm for computing the inverse
    normal cumulative distribution function", 2003; relative error < 1.15e-9) refined by one
    Halley step on ``normal_cdf`` (absolute error ~1e-15). Upper-half quantiles are computed as
    ``-normal_ppf(1 - p)``: ``1 - p`` is exact there, and the refinement stays in the accurate
    lower tail.
    """
    _check_probability("p", p)
    if p > 0.5:
        return -normal_ppf(1.0 - p)
    a, b, c, d = _ACKLAM_A, _ACKLAM_B, _ACKLAM_C, _ACKLAM_D
    if p < _ACKLAM_P_LOW:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0
        )
    else:
        q = p - 0.5
        r = q * q
        x = (
            (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
            * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
        )
    # Halley: u = (cdf(x) - p) / pdf(x), x -= u / (1 + x u / 2); written as
    # (cdf(x) / p - 1) * (p / pdf(x)) so that nothing overflows for p down to 5e-324
    p_over_pdf = math.exp(math.log(p) + 0.5 * x * x + math.log(_SQRT_2PI))
    u = (0.5 * math.erfc(-x / _SQRT2) / p - 1.0) * p_over_pdf
    return x - u / (1.0 + 0.5 * x * u)


def _stirling_correction(x: float) -> float:
    """``lgamma(x) - ((x - 1/2) ln x - x + ln(2 pi) / 2)``, the tail of Stirling's series
    (Abramowitz & Stegun 6.1.41); error < 1e-16 for ``x >= 30``."""
    x2 = x * x
    return (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - 1.0 / (1680.0 * x2)) / x2) / x2) / x


def _lgamma_diff(a: float, b: float) -> float:
    """``lgamma(a + b) - lgamma(a)`` for ``b > 0``, without the cancellation of two large
    ``lgamma`` values when ``a`` is large (a t test with 1e6 degrees of freedom)."""
    if a < _STIRLING_MIN:
        return math.lgamma(a + b) - math.lgamma(a)
    return (
        (a - 0.5) * math.log1p(b / a)
        + b * math.log(a + b)
        - b
        + _stirling_correction(a + b)
        - _stirling_correction(a)
    )


def _log1pmx(d: float) -> float:
    """``log(1 + d) - d`` for ``d > -1``, by its series near 0 where the difference cancels."""
    if abs(d) >= 0.1:
        return math.log1p(d) - d
    total, power, k = 0.0, d, 1
    while True:
        k += 1
        power *= -d
        term = power / k
        total += term
        if abs(term) <= 1e-17 * abs(total):
            return total


def _log_gamma_prefix(a: float, x: float) -> float:
    """``a ln x - x - lgamma(a)``, the log of the common factor of ``P(a, x)`` and ``Q(a, x)``,
    computed without cancellation for large ``a`` (``x`` then near ``a``)."""
    if a < _STIRLING_MIN:
        return a * math.log(x) - x - math.lgamma(a)
    return a * _log1pmx((x - a) / a) + 0.5 * math.log(a / (2.0 * math.pi)) - _stirling_correction(a)


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function, by the modified Lentz method
    (Numerical Recipes, 3rd ed., §6.4 ``betacf``). Converges in O(sqrt(max(a, b))) steps for
    ``x < (a + 1) / (a + b + 2)``."""
    max_iter = 200 + int(20.0 * math.sqrt(max(a, b)))
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _TINY:
        d = _TINY
    d = 1.0 / d
    h = d
    for m in range(1, max_iter + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def _betainc(a: float, b: float, x: float, y: float, log_x: float | None = None) -> float:
    """Regularized incomplete beta ``I_x(a, b)``, with ``y = 1 - x`` passed in separately so
    that neither side loses digits to the subtraction (Numerical Recipes ``betai``); ``log_x``,
    if given, is ``ln x`` for an ``x`` that underflows (a heavy-tailed t far out)."""
    if y <= 0.0:
        return 1.0
    if log_x is None:
        if x <= 0.0:
            return 0.0
        log_x = math.log1p(-y) if y < 0.5 else math.log(x)
    log_y = math.log1p(-x) if x < 0.5 else math.log(y)
    # ln B(a, b) = lgamma(a) + lgamma(b) - lgamma(a + b), the larger argument's pair combined
    log_beta = (
        math.lgamma(b) - _lgamma_diff(a, b) if a >= b else math.lgamma(a) - _lgamma_diff(b, a)
    )
    log_front = a * log_x + b * log_y - log_beta
    if x < (a + 1.0) / (a + b + 2.0):
        return _clamp01(math.exp(log_front) * _betacf(a, b, x) / a)
    return _clamp01(1.0 - math.exp(log_front) * _betacf(b, a, y) / b)


_ODD_FACTORIALS = tuple(float(math.factorial(2 * k + 1)) for k in range(30))  # (2k + 1)!


def _betainc_half_large_a(a: float, log_x: float) -> float:
    """``I_x(a, 1/2)`` for large ``a`` and ``x`` near 1, where the continued fraction loses
    ~``a * eps`` to cancellation: DiDonato & Morris's asymptotic expansion (ACM TOMS 18:360,
    1992, algorithm 708 ``BGRAT``, eqs. 9-9.6, as Boost's ``beta_small_b_large_a_series``)
    with ``b = 1/2``, where ``Q(1/2, u) = erfc(sqrt(u))``. Needs ``0 < u < ~700``."""
    b = 0.5
    big = a + (b - 1.0) / 2.0
    u = -big * log_x
    h = math.exp(b * math.log(u) - u - math.lgamma(b))  # u^b e^-u / Gamma(b)
    prefix = h * math.exp(_lgamma_diff(a, b)) / math.sqrt(big)
    j = math.erfc(math.sqrt(u)) / h
    total = prefix * j
    p = [1.0]
    lx2 = (0.5 * log_x) ** 2
    lxp = 1.0
    t4 = 4.0 * big * big
    b2n = b
    for n in range(1, len(_ODD_FACTORIALS)):
        pn = sum((m * b - n) * p[n - m] / _ODD_FACTORIALS[m] for m in range(1, n))
        p.append(pn / n + (b - 1.0) / _ODD_FACTORIALS[n])
        j = (b2n * (b2n + 1.0) * j + (u + b2n + 1.0) * lxp) / t4
        lxp *= lx2
        b2n += 2.0
        term = prefix * p[n] * j
        total += term
        if abs(term) <= _EPS * abs(total):
            break
    return _clamp01(total)


def _check_df(df: float) -> None:
    if not df > 0.0:  # also rejects NaN
        raise ValueError(f"df must be > 0, got {df!r}")


def t_sf(t: float, df: float) -> float:
    """Student's t survival function ``P(T > t)`` with ``df > 0`` degrees of freedom (any real
    ``df``, as Welch's test needs; ``df = inf`` is the normal).

    ``P(|T| > |t|) = I_x(df/2, 1/2)`` with ``x = df / (df + t^2)`` (Abramowitz & Stegun
    26.7.1), the regularized incomplete beta function evaluated by its continued fraction with
    the modified Lentz method (Numerical Recipes, 3rd ed., §6.4 ``betai``/``betacf``), or, for
    ``df >= 30`` and ``x > 0.7`` where that fraction cancels, by DiDonato & Morris's asymptotic
    expansion (TOMS 708 ``BGRAT``). Relative error ~1e-14 (scipy/Boost agree to that).
    """
    _check_df(df)
    if math.isnan(t):
        raise ValueError("t must not be NaN")
    if math.isinf(df):
        return normal_sf(t)
    if t == 0.0:
        return 0.5
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    a = 0.5 * df
    abs_t = abs(t)
    if abs_t > 1e150:  # t^2 would overflow, x may underflow; y = 1 to double precision
        log_x = math.log(df) - 2.0 * math.log(abs_t)
        two_sided = _betainc(a, 0.5, math.exp(log_x), 1.0, log_x)
    else:
        t2 = t * t
        x, y = df / (df + t2), t2 / (df + t2)
        log_x = -math.log1p(t2 / df)
        if a >= 15.0 and y < 0.3 and -(a - 0.25) * log_x < 690.0:
            two_sided = _betainc_half_large_a(a, log_x)
        else:
            two_sided = _betainc(a, 0.5, x, y)
    tail = 0.5 * two_sided  # P(T > |t|)
    return _clamp01(tail if t > 0 else 1.0 - tail)


def _t_log_pdf(t: float, df: float) -> float:
    return (
        math.lgamma(0.5 * (df + 1.0))
        - math.lgamma(0.5 * df)
        - 0.5 * math.log(df * math.pi)
        - 0.5 * (df + 1.0) * math.log1p(t * t / df)
    )


def t_ppf(p: float, df: float) -> float:
    """Quantile (inverse cdf) of Student's t with ``df > 0`` for ``p`` in ``(0, 1)``;
    ``ValueError`` outside.

    Solves ``t_sf(t, df) = min(p, 1 - p)`` for ``t > 0`` by Newton's method on
    ``log t_sf``, safeguarded by a bracket that falls back to bisection (geometric when the
    bracket spans orders of magnitude; Numerical Recipes, 3rd ed., §9.4 ``rtsafe``); absolute
    error < 1e-7 (relative 1e-12 for large quantiles). Quantiles beyond the float range
    (tiny ``df`` and tail) are the largest finite float.
    """
    _check_probability("p", p)
    _check_df(df)
    if math.isinf(df):
        return normal_ppf(p)
    if p == 0.5:
        return 0.0
    q = min(p, 1.0 - p)  # the upper-tail probability; 1 - p is exact for p >= 0.5
    sign = 1.0 if p > 0.5 else -1.0
    log_q = math.log(q)
    lo, hi = 0.0, max(1.0, -normal_ppf(q))  # t_sf(lo) = 0.5 > q
    while t_sf(hi, df) > q:
        lo = hi
        hi *= 4.0
        if hi > 1e300:
            return sign * _MAX_FLOAT
    t = hi
    for _ in range(200):
        s = t_sf(t, df)
        if s > q:
            lo = t
        else:
            hi = t
        if s <= 0.0:
            t_new = math.sqrt(lo * hi) if lo > 0.0 and hi > 4.0 * lo else 0.5 * (lo + hi)
        else:
            # log t_sf is smooth and close to linear in log t in the tail: Newton on it
            log_ratio = math.log(s) - _t_log_pdf(t, df)  # log(t_sf / pdf)
            t_new = t + (math.log(s) - log_q) * math.exp(min(log_ratio, 700.0))
            if not lo < t_new < hi:
                t_new = math.sqrt(lo * hi) if lo > 0.0 and hi > 4.0 * lo else 0.5 * (lo + hi)
        if abs(t_new - t) <= 1e-13 * max(1.0, t) or hi - lo <= 1e-14 * max(1.0, hi):
            t = t_new
            break
        t = t_new
    return sign * t


def _gamma_series(a: float, x: float) -> float:
    """Regularized lower incomplete gamma ``P(a, x)`` by its series (Numerical Recipes
    ``gser``); for ``x < a + 1``."""
    max_iter = 200 + int(20.0 * math.sqrt(a))
    ap = a
    term = total = 1.0 / a
    for _ in range(max_iter):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(_log_gamma_prefix(a, x))


def _gamma_cf(a: float, x: float) -> float:
    """Regularized upper incomplete gamma ``Q(a, x)`` by its continued fraction, modified Lentz
    (Numerical Recipes ``gcf``); for ``x >= a + 1``."""
    max_iter = 200 + int(20.0 * math.sqrt(a))
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, max_iter + 1):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(_log_gamma_prefix(a, x)) * h


def chi2_sf(x: float, df: float) -> float:
    """Chi-square survival function ``P(X > x)`` with ``df > 0`` degrees of freedom.

    ``Q(df/2, x/2)``, the regularized upper incomplete gamma function: its series for
    ``x/2 < df/2 + 1``, its continued fraction (modified Lentz) above (Numerical Recipes,
    3rd ed., §6.2 ``gammp``/``gammq``), with the common factor ``x^a e^-x / Gamma(a)`` taken
    through Stirling's series for large ``df`` so that it does not cancel. Relative error
    ~1e-13 for ``df >= 0.5`` (every test here has ``df >= 1``); a tiny ``df`` loses digits
    where ``Q`` is small and computed as ``1 - P``. ``x <= 0`` gives 1.0.
    """
    _check_df(df)
    if math.isnan(x):
        raise ValueError("x must not be NaN")
    if x <= 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    a, h = 0.5 * df, 0.5 * x
    if h < a + 1.0:
        return _clamp01(1.0 - _gamma_series(a, h))
    return _clamp01(_gamma_cf(a, h))


def kolmogorov_sf(x: float) -> float:
    """Survival function ``P(K > x)`` of the asymptotic Kolmogorov distribution (the limit of
    ``sqrt(n) D_n``; scipy's ``kstwobign``).

    For ``x >= 1.18`` the alternating series ``2 sum_{j>=1} (-1)^(j-1) exp(-2 j^2 x^2)``
    (Kolmogorov 1933; Numerical Recipes ``probks``); below, where that series converges slowly,
    ``1 - cdf`` with the Jacobi-theta form of the cdf
    ``sqrt(2 pi)/x sum_{j>=1} exp(-(2j-1)^2 pi^2 / (8 x^2))`` (Numerical Recipes, 3rd ed.,
    §6.14.12). 1.0 for ``x <= 0`` (and, to double precision, for ``x`` below ~0.2).
    """
    if math.isnan(x):
        raise ValueError("x must not be NaN")
    if x <= 0.0:
        return 1.0
    if x < 1.18:
        y = math.exp(-(math.pi**2) / (8.0 * x * x))
        if y == 0.0:
            return 1.0
        total = 0.0
        for j in range(1, 20):
            term = y ** ((2 * j - 1) ** 2)
            total += term
            if term < 1e-17 * total:
                break
        return _clamp01(1.0 - _SQRT_2PI / x * total)
    y = math.exp(-2.0 * x * x)
    total = 0.0
    sign = 1.0
    for j in range(1, 20):
        term = y ** (j * j)
        total += sign * term
        if term <= 1e-17 * total:
            break
        sign = -sign
    return _clamp01(2.0 * total)


# ---------------------------------------------------------------------------------------------
# proportions


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927, JASA 22:209).

    ``(p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``. Unlike the Wald interval it
    stays inside ``[0, 1]`` and is sensible at 0 or ``n`` successes. No trials: ``(0.0, 1.0)``.
    """
    _check_counts(successes, trials)
    z = _two_sided_z(confidence)
    if trials == 0:
        return 0.0, 1.0
    n = float(trials)
    p = successes / n
    z2n = z * z / n
    center = (p + 0.5 * z2n) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    low = 0.0 if successes == 0 else _clamp01(center - half)
    high = 1.0 if successes == trials else _clamp01(center + half)
    return low, high


def newcombe_diff_interval(
    s1: int, n1: int, s2: int, n2: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Confidence interval of ``p2 - p1`` by Newcombe's hybrid score method (method 10 of
    Newcombe 1998, Statistics in Medicine 17:873), built from the two Wilson intervals
    ``(l1, u1)`` and ``(l2, u2)``::

        d = p2 - p1
        low  = d - sqrt((p2 - l2)^2 + (u1 - p1)^2)
        high = d + sqrt((u2 - p2)^2 + (p1 - l1)^2)

    Either group without trials: ``(-1.0, 1.0)``. The bounds are clamped into ``[-1, 1]``.
    """
    _check_counts(s1, n1, "1")
    _check_counts(s2, n2, "2")
    _check_probability("confidence", confidence)
    if n1 == 0 or n2 == 0:
        return -1.0, 1.0
    p1, p2 = s1 / n1, s2 / n2
    l1, u1 = wilson_interval(s1, n1, confidence)
    l2, u2 = wilson_interval(s2, n2, confidence)
    d = p2 - p1
    low = d - math.hypot(p2 - l2, u1 - p1)
    high = d + math.hypot(u2 - p2, p1 - l1)
    return max(-1.0, low), min(1.0, high)


def two_proportion_ztest(s1: int, n1: int, s2: int, n2: int) -> TestResult:
    """Pooled two-proportion z test of ``p2`` against ``p1`` (two-sided).

    ``z = (p2 - p1) / sqrt(P(1-P)(1/n1 + 1/n2))`` with the pooled ``P = (s1+s2)/(n1+n2)``;
    ``z^2`` is Pearson's chi-square of the 2x2 table (Fleiss, Levin & Paik 2003, §2.6).
    ``statistic`` is ``z`` (positive when ``p2 > p1``). No information (a group without trials,
    or all trials successes or all failures): ``statistic=0.0, p_value=1.0``.
    """
    _check_counts(s1, n1, "1")
    _check_counts(s2, n2, "2")
    if n1 == 0 or n2 == 0:
        return TestResult(0.0, 1.0)
    pooled = (s1 + s2) / (n1 + n2)
    var = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if var <= 0.0:
        return TestResult(0.0, 1.0)
    z = (s2 / n2 - s1 / n1) / math.sqrt(var)
    return TestResult(z, _clamp01(2.0 * normal_sf(abs(z))))


def sample_size_two_proportions(
    p_base: float, min_effect: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Per-group sample size of a two-sided two-proportion test that detects ``p_base`` moving
    to ``p_base + min_effect`` (an absolute change) with the given ``alpha`` and ``power``::

        n = (z_{1-alpha/2} sqrt(2 pbar (1 - pbar)) + z_power sqrt(p1 q1 + p2 q2))^2 / delta^2

    with ``pbar = (p1 + p2) / 2`` (pooled variance under the null, unpooled under the
    alternative; Fleiss, Levin & Paik 2003, eq. 4.14, without continuity correction), rounded
    up; at least 1. ``p_base`` and ``p_base + min_effect`` must be in ``[0, 1]`` and
    ``min_effect`` non-zero.
    """
    _check_probability("alpha", alpha)
    _check_probability("power", power)
    if not 0.0 <= p_base <= 1.0:
        raise ValueError(f"p_base must be in [0, 1], got {p_base!r}")
    p2 = p_base + min_effect
    if not (math.isfinite(min_effect) and min_effect != 0.0 and 0.0 <= p2 <= 1.0):
        raise ValueError(
            f"min_effect must be non-zero with p_base + min_effect in [0, 1], got {min_effect!r}"
        )
    p1 = p_base
    pbar = 0.5 * (p1 + p2)
    z_alpha = -normal_ppf(alpha / 2.0)
    z_beta = normal_ppf(power)
    root = z_alpha * math.sqrt(2.0 * pbar * (1.0 - pbar)) + z_beta * math.sqrt(
        p1 * (1.0 - p1) + p2 * (1.0 - p2)
    )
    if root <= 0.0:  # power below 1/2 and a lenient alpha: any sample will do
        return 1
    n = (root / min_effect) * (root / min_effect)
    if not math.isfinite(n):
        raise ValueError(f"min_effect {min_effect!r} is too small: the sample size overflows")
    # round up, but not a float-noise hair above an integer
    return max(1, math.ceil(n - 1e-9 * max(1.0, n)))


# ---------------------------------------------------------------------------------------------
# means


def _welch(
    mean1: float, var1: float, n1: int, mean2: float, var2: float, n2: int
) -> tuple[float, float, float]:
    """``(mean2 - mean1, its standard error, Welch-Satterthwaite df)``; needs n1, n2 >= 2.
    The df is 0.0 when both variances are zero."""
    a, b = var1 / n1, var2 / n2
    scale = max(a, b)
    se = math.sqrt(a + b)
    if scale <= 0.0:
        return mean2 - mean1, 0.0, 0.0
    a, b = a / scale, b / scale  # scaled so that the squares neither underflow nor overflow
    df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
    return mean2 - mean1, se, df


def _check_summary(mean1: float, var1: float, n1: int, mean2: float, var2: float, n2: int) -> None:
    for name, value in (("mean1", mean1), ("mean2", mean2)):
        _check_finite(name, value)
    for name, value in (("var1", var1), ("var2", var2)):
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    _check_n("n1", n1)
    _check_n("n2", n2)


def welch_ttest(
    mean1: float, var1: float, n1: int, mean2: float, var2: float, n2: int
) -> TestResult:
    """Welch's unequal-variances t test (Welch 1947, Biometrika 34:28) from summary statistics:
    means, sample variances (``ddof=1``) and sizes. Two-sided.

    ``t = (mean2 - mean1) / sqrt(var1/n1 + var2/n2)`` (positive when ``mean2 > mean1``) with the
    Welch-Satterthwaite degrees of freedom (Satterthwaite 1946). No information (fewer than two
    observations in a group, or both variances zero with equal means): ``statistic=0.0,
    p_value=1.0``. Both variances zero and different means: ``p_value=0.0`` and ``statistic``
    the largest finite float with the sign of the difference.
    """
    _check_summary(mean1, var1, n1, mean2, var2, n2)
    if n1 < 2 or n2 < 2:
        return TestResult(0.0, 1.0)
    diff, se, df = _welch(mean1, var1, n1, mean2, var2, n2)
    if diff == 0.0:
        return TestResult(0.0, 1.0)
    if se <= 0.0:
        return TestResult(math.copysign(_MAX_FLOAT, diff), 0.0)
    t = _clamp_finite(diff / se)  # the difference may overflow to inf for huge means
    return TestResult(t, _clamp01(2.0 * t_sf(abs(t), df)))


def welch_interval(
    mean1: float,
    var1: float,
    n1: int,
    mean2: float,
    var2: float,
    n2: int,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Confidence interval of ``mean2 - mean1`` from summary statistics (sample variances,
    ``ddof=1``): ``diff +- t_{(1+confidence)/2, df} se`` with Welch-Satterthwaite ``df``
    (Welch 1947; Satterthwaite 1946).

    Raises ``ValueError`` when a group has fewer than two observations: there is no variance
    estimate, and no finite interval would be honest (callers check the sizes first). Both
    variances zero: the zero-width interval ``(diff, diff)``.
    """
    _check_summary(mean1, var1, n1, mean2, var2, n2)
    _check_probability("confidence", confidence)
    if n1 < 2 or n2 < 2:
        raise ValueError(f"welch_interval needs at least 2 observations per group, got {n1}, {n2}")
    diff, se, df = _welch(mean1, var1, n1, mean2, var2, n2)
    if se <= 0.0:
        return diff, diff
    half = t_ppf(0.5 + 0.5 * confidence, df) * se
    return _clamp_finite(diff - half), _clamp_finite(diff + half)


# ---------------------------------------------------------------------------------------------
# distributions


def ks_2samp(a: ArrayLike, b: ArrayLike) -> TestResult:
    """Two-sample Kolmogorov-Smirnov test, two-sided.

    ``statistic`` is ``D = max |F_a - F_b|`` over the pooled sample (both empirical cdfs
    evaluated right-continuously at every observed value, so ties are handled exactly);
    ``p_value`` is ``kolmogorov_sf(D (sqrt(en) + 0.12 + 0.11 / sqrt(en)))`` with
    ``en = n m / (n + m)`` (Stephens 1970, JRSS B 32:115; Numerical Recipes ``kstwo``), an
    approximation that is good from ``en`` of about 4 and tends to the exact asymptotic
    p-value. An empty sample: ``statistic=0.0, p_value=1.0``.
    """
    x = np.sort(_sample("a", a))
    y = np.sort(_sample("b", b))
    n, m = x.size, y.size
    if n == 0 or m == 0:
        return TestResult(0.0, 1.0)
    pooled = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, pooled, side="right") / n
    cdf_y = np.searchsorted(y, pooled, side="right") / m
    d = float(np.max(np.abs(cdf_x - cdf_y)))
    sqrt_en = math.sqrt(n * m / (n + m))
    p = kolmogorov_sf(d * (sqrt_en + 0.12 + 0.11 / sqrt_en))
    return TestResult(d, _clamp01(p))


def _psi_terms(ref: npt.NDArray[np.float64], cur: npt.NDArray[np.float64]) -> float:
    """PSI of two count vectors: ``sum (c - r) ln(c / r)`` over floored proportions."""
    r = np.maximum(ref / ref.sum(), PSI_FLOOR)
    c = np.maximum(cur / cur.sum(), PSI_FLOOR)
    return max(0.0, float(np.sum((c - r) * np.log(c / r))))


def psi(reference: ArrayLike, current: ArrayLike, bins: int = 10) -> float:
    """Population stability index of a numeric variable,
    ``sum_i (c_i - r_i) ln(c_i / r_i)`` over bins (Siddiqi 2006, "Credit Risk Scorecards",
    ch. 8; rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift).

    The inner bin edges are the ``1/bins, ..., (bins-1)/bins`` quantiles of ``reference``,
    deduplicated (a discrete variable with few values gets fewer, wider bins instead of empty
    ones), with ``-inf`` and ``+inf`` outer edges so that values outside the reference's range
    still count; bins are ``[edge_i, edge_{i+1})``. When the top edge is the reference's
    maximum (a discrete or constant variable), one more edge just above it gives the values
    beyond the reference's range a bin of their own, as the bottom bin ``(-inf, min)`` does
    below; otherwise (a continuous variable) the bins are the classic deciles. Proportions are
    floored at ``PSI_FLOOR``
    (1e-4) before the log, without renormalization. Always ``>= 0``; 0.0 when either sample
    is empty. ``bins < 2`` raises ``ValueError``.
    """
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    ref = _sample("reference", reference)
    cur = _sample("current", current)
    if ref.size == 0 or cur.size == 0:
        return 0.0
    inner = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    top = float(ref.max())
    if inner[-1] >= top:
        # the top bin [max, inf) would hold only the reference's maximum (a discrete or constant
        # variable): an edge just above it keeps larger new values apart, as the bottom bin
        # (-inf, min) already does for smaller ones
        inner = np.append(inner, np.nextafter(top, math.inf))
    n_bins = inner.size + 1
    ref_counts = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=n_bins)
    cur_counts = np.bincount(np.searchsorted(inner, cur, side="right"), minlength=n_bins)
    return _psi_terms(ref_counts.astype(np.float64), cur_counts.astype(np.float64))


def psi_categorical(reference: Mapping[str, float], current: Mapping[str, float]) -> float:
    """Population stability index over categories (Siddiqi 2006), from counts: the union of
    both sides' categories, a category missing on one side counting 0, proportions floored at
    ``PSI_FLOOR`` (1e-4) before the log. 0.0 when either side has no counts; negative or
    non-finite counts raise ``ValueError``.
    """
    ref, cur = _category_counts(reference, current)
    if ref.sum() <= 0.0 or cur.sum() <= 0.0:
        return 0.0
    return _psi_terms(ref, cur)


def _chi2_table(
    reference: Mapping[str, float], current: Mapping[str, float]
) -> tuple[float, float, int] | None:
    """``(Pearson's chi-square, grand total, number of categories)`` of the 2 x k table, the
    categories with a zero total dropped; None when there is nothing to test (fewer than two
    categories, or a side without counts)."""
    ref, cur = _category_counts(reference, current)
    keep = (ref + cur) > 0.0
    ref, cur = ref[keep], cur[keep]
    k = int(ref.size)
    ref_total, cur_total = float(ref.sum()), float(cur.sum())
    if k < 2 or ref_total <= 0.0 or cur_total <= 0.0:
        return None
    total = ref_total + cur_total
    observed = np.stack([ref, cur])
    col = observed.sum(axis=0)
    expected = np.outer([ref_total, cur_total], col) / total
    chi2 = float(np.sum((observed - expected) ** 2 / expected))
    return chi2, total, k


def chi2_homogeneity(reference: Mapping[str, float], current: Mapping[str, float]) -> TestResult:
    """Pearson's chi-square test that two count vectors come from the same categorical
    distribution: the 2 x k contingency table over the union of the categories (missing = 0),
    categories with a zero total dropped, ``df = k - 1``, no continuity correction (Pearson
    1900; Agresti 2013, §3.2). ``p_value`` is the upper tail (the test is inherently
    two-sided). No information (fewer than two categories left, or a side without counts):
    ``statistic=0.0, p_value=1.0``.
    """
    table = _chi2_table(reference, current)
    if table is None:
        return TestResult(0.0, 1.0)
    chi2, _, k = table
    return TestResult(chi2, chi2_sf(chi2, k - 1))


def cramers_v(reference: Mapping[str, float], current: Mapping[str, float]) -> float:
    """Cramér's V of the ``chi2_homogeneity`` table, ``sqrt(chi2 / (N min(r-1, k-1)))`` =
    ``sqrt(chi2 / N)`` for its two rows (Cramér 1946, §21.9): the effect size, in ``[0, 1]``,
    that does not grow with the sample size as the p-value does. 0.0 when there is nothing to
    compare.
    """
    table = _chi2_table(reference, current)
    if table is None:
        return 0.0
    chi2, total, _ = table
    return min(1.0, max(0.0, math.sqrt(chi2 / total)))


# ---------------------------------------------------------------------------------------------
# quantiles


def _bootstrap_quantiles(
    x: npt.NDArray[np.float64], q: float, n_boot: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """The ``q`` quantile of ``n_boot`` resamples of ``x``, in blocks of at most
    ``_BLOCK_ELEMENTS`` indices. The integer stream does not depend on the block size."""
    n = x.size
    rows = max(1, _BLOCK_ELEMENTS // n)
    out = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, rows):
        stop = min(n_boot, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = np.quantile(x[idx], q, axis=1)
    return out


def bootstrap_diff_interval(
    a: ArrayLike,
    b: ArrayLike,
    q: float,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(point estimate, low, high)`` of ``quantile_q(b) - quantile_q(a)`` by the percentile
    bootstrap (Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 13): the two
    samples are resampled independently ``n_boot`` times with ``numpy.random.default_rng(seed)``
    (all of ``a``'s resamples, then ``b``'s; deterministic for a seed), and the interval is the
    ``(1 -+ confidence) / 2`` quantiles of the resampled differences. Quantiles are numpy's
    default (linear interpolation). Vectorized, in blocks of at most ~8M resample indices.

    ``q`` must be in ``[0, 1]`` and ``n_boot >= 1``. An empty sample raises ``ValueError``
    (there is no quantile to estimate and no finite interval; callers check sizes first); a
    single observation, or all-equal values, give a zero-width interval.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q!r}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    _check_probability("confidence", confidence)
    x = _sample("a", a)
    y = _sample("b", b)
    if x.size == 0 or y.size == 0:
        raise ValueError(
            f"bootstrap_diff_interval needs non-empty samples, got sizes {x.size} and {y.size}"
        )
    point = float(np.quantile(y, q) - np.quantile(x, q))
    rng = np.random.default_rng(seed)
    qa = _bootstrap_quantiles(x, q, n_boot, rng)
    qb = _bootstrap_quantiles(y, q, n_boot, rng)
    alpha = 1.0 - confidence
    low, high = np.quantile(qb - qa, [alpha / 2.0, 1.0 - alpha / 2.0])
    return point, float(low), float(high)
