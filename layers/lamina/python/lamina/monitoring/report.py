"""The drift check's report: one self-contained HTML page, and a plain-text summary.

``render_html`` writes a page with no JavaScript and nothing fetched (no external CSS, fonts
or images): a summary table of every model version checked, then per model its checks and
each check's plot as inline SVG drawn here (histograms, category bars, empirical CDFs), with
axes, tick labels, a legend, and a ``<title>`` and ``aria-label`` for screen readers. It can
be stored in S3 and opened from an alarm's link as it is.

Everything that comes from data (model names, versions, label and feature names, summaries)
is escaped: label names are whatever a user's classifier emits. ``render_text`` is the same
summary for a terminal (``lamina drift``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from lamina.monitoring.drift import Check, DriftResult, Plot

REFERENCE_COLOUR = "#4c78a8"  # blue and orange: told apart with any common colour blindness
CURRENT_COLOUR = "#f58518"
_STATUS_ORDER = {"drift": 0, "insufficient_data": 1, "ok": 2}
_STATUS_TEXT = {"drift": "DRIFT", "insufficient_data": "insufficient data", "ok": "ok"}
_MAX_LABEL = 24  # characters of a category name drawn in a plot (the <title> has all of it)

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1f2328; margin: 0; background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.25em; margin: 32px 0 8px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1.05em; margin: 20px 0 8px; }
p.meta { color: #57606a; margin: 0 0 16px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.92em; }
caption { text-align: left; color: #57606a; padding-bottom: 4px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.drifted td, tr.drifted th { background: #ffebe9; }
.status { font-weight: 600; white-space: nowrap; }
.status-drift { color: #a40e26; }
.status-ok { color: #116329; }
.status-insufficient_data { color: #7d4e00; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr));
         gap: 16px; }
figure { margin: 0; border: 1px solid #d0d7de; border-radius: 6px; padding: 8px; }
figure.drifted { border-color: #cf222e; border-width: 2px; }
figcaption { font-size: 0.88em; color: #57606a; }
svg { width: 100%; height: auto; display: block; }
svg text { font: 11px system-ui, sans-serif; fill: #1f2328; }
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _number(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return "-"
    return f"{value:.2e}" if value < 1e-3 else f"{value:.4f}"


def _score(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2f}"


# -- SVG -------------------------------------------------------------------------------------

_WIDTH = 480
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 24, 30, 46


def _step(span: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks."""
    if not math.isfinite(span) or span <= 0:
        return 1.0
    raw = span / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _ticks(low: float, high: float) -> list[float]:
    step = _step(high - low)
    first = math.ceil(low / step - 1e-9) * step
    count = math.floor((high - first) / step + 1e-9) + 1
    return [first + i * step for i in range(max(count, 0))]


def _tick_text(value: float, step: float, percent: bool = False) -> str:
    if percent:
        value, step = value * 100, step * 100
    decimals = max(0, math.ceil(-math.log10(step))) if step > 0 else 0
    text = f"{value:.{decimals}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return f"{text}%" if percent else text


_X_LABELS = {
    "tokens": "tokens per text",
    "chars": "characters per text",
    "vector_centroid": "distance to the reference centroid",
    "vector_projections": "position along the worst random direction",
    "confidence": "top-1 probability",
}


def _x_label(name: str) -> str:
    return _X_LABELS.get(name, name.removeprefix("feature:"))


def _f(value: float) -> str:
    return f"{value:.1f}"


def _short(label: str) -> str:
    return label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "\u2026"


def _legend(x: float, lines: bool) -> str:
    parts = []
    for offset, (name, colour, dash) in enumerate(
        (
            ("reference", REFERENCE_COLOUR, ""),
            ("current", CURRENT_COLOUR, ' stroke-dasharray="5 3"'),
        )
    ):
        left = x + offset * 90
        if lines:
            parts.append(
                f'<line x1="{_f(left)}" y1="12" x2="{_f(left + 18)}" y2="12" '
                f'stroke="{colour}" stroke-width="2.5"{dash}/>'
            )
        else:
            parts.append(f'<rect x="{_f(left)}" y="6" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{_f(left + 22)}" y="16">{name}</text>')
    return f'<g class="legend">{"".join(parts)}</g>'


def _svg(check: Check, plot: Plot, height: int, body: str) -> str:
    label = f"{check.name}: {plot.kind} of the reference and current samples"
    if check.drifted:
        label += " (drifted)"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {height}" '
        f'role="img" aria-label="{_e(label)}"><title>{_e(label)}</title>{body}</svg>'
    )


def _axes(x0: float, y0: float, x1: float, y1: float) -> str:
    return (
        f'<line x1="{_f(x0)}" y1="{_f(y0)}" x2="{_f(x1)}" y2="{_f(y0)}" stroke="#57606a"/>'
        f'<line x1="{_f(x0)}" y1="{_f(y0)}" x2="{_f(x0)}" y2="{_f(y1)}" stroke="#57606a"/>'
    )


def _y_axis(x0: float, top: float, bottom: float, high: float, percent: bool, grid: float) -> str:
    step = _step(high, 4)
    parts = []
    for tick in _ticks(0.0, high):
        y = bottom - (bottom - top) * tick / high
        parts.append(
            f'<line x1="{_f(x0)}" y1="{_f(y)}" x2="{_f(grid)}" y2="{_f(y)}" stroke="#eaeef2"/>'
            f'<text x="{_f(x0 - 4)}" y="{_f(y + 4)}" text-anchor="end">'
            f"{_tick_text(tick, step, percent)}</text>"
        )
    return "".join(parts)


def _histogram_svg(check: Check, plot: Plot) -> str:
    height = 250
    bins = min(len(plot.reference), len(plot.current))
    x0, x1 = _LEFT, _WIDTH - _RIGHT
    top, bottom = _TOP, height - _BOTTOM
    high = _nice_max(max([*plot.reference[:bins], *plot.current[:bins], 0.0]))
    width = (x1 - x0) / max(bins, 1)
    parts = [_y_axis(x0, top, bottom, high, True, x1)]
    for i in range(bins):
        for offset, (values, colour, name) in enumerate(
            (
                (plot.reference, REFERENCE_COLOUR, "reference"),
                (plot.current, CURRENT_COLOUR, "current"),
            )
        ):
            value = max(0.0, values[i]) if math.isfinite(values[i]) else 0.0
            bar = (bottom - top) * min(value, high) / high
            left = x0 + i * width + width * (0.1 + 0.4 * offset)
            where = _bin_name(plot.labels, i, bins)
            parts.append(
                f'<rect x="{_f(left)}" y="{_f(bottom - bar)}" width="{_f(width * 0.4)}" '
                f'height="{_f(bar)}" fill="{colour}"><title>{name} {_e(where)}: '
                f"{100 * value:.1f}%</title></rect>"
            )
    edges = len(plot.labels) == bins + 1
    positions = [x0 + i * width for i in range(bins + 1)] if edges else []
    if not edges:
        positions = [x0 + (i + 0.5) * width for i in range(min(bins, len(plot.labels)))]
    every = max(1, math.ceil(len(positions) / 8))
    last = len(positions) - 1
    shown = set(range(0, len(positions), every))
    if last - max(shown, default=0) > every * 0.75:  # the last edge, unless too close
        shown.add(last)
    for i, x in enumerate(positions):
        if i not in shown:
            continue
        parts.append(
            f'<line x1="{_f(x)}" y1="{_f(bottom)}" x2="{_f(x)}" y2="{_f(bottom + 4)}" '
            f'stroke="#57606a"/><text x="{_f(x)}" y="{_f(bottom + 16)}" text-anchor="middle">'
            f"{_e(_short(plot.labels[i]))}</text>"
        )
    parts.append(_axes(x0, bottom, x1, top))
    parts.append(
        f'<text x="{_f((x0 + x1) / 2)}" y="{height - 8}" text-anchor="middle">'
        f"{_e(_x_label(check.name))}</text>"
        f'<text x="12" y="{_f((top + bottom) / 2)}" text-anchor="middle" '
        f'transform="rotate(-90 12 {_f((top + bottom) / 2)})">share of sample</text>'
    )
    parts.append(_legend(x1 - 180, lines=False))
    return _svg(check, plot, height, "".join(parts))


def _bin_name(labels: Sequence[str], i: int, bins: int) -> str:
    if len(labels) == bins + 1:
        return f"[{labels[i]}, {labels[i + 1]})"
    return labels[i] if i < len(labels) else str(i)


def _nice_max(value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        return 1.0
    step = _step(value, 4)
    return math.ceil(value / step - 1e-9) * step


def _bars_svg(check: Check, plot: Plot) -> str:
    rows = min(len(plot.labels), len(plot.reference), len(plot.current))
    left_margin = 150
    row = 28
    top = _TOP
    height = top + rows * row + 40
    x0, x1 = left_margin, _WIDTH - _RIGHT
    bottom = top + rows * row
    values = [v for v in (*plot.reference[:rows], *plot.current[:rows]) if math.isfinite(v)]
    high = _nice_max(max([*values, 0.0]))
    step = _step(high, 4)
    parts = []
    for tick in _ticks(0.0, high):
        x = x0 + (x1 - x0) * tick / high
        parts.append(
            f'<line x1="{_f(x)}" y1="{top}" x2="{_f(x)}" y2="{_f(bottom)}" stroke="#eaeef2"/>'
            f'<text x="{_f(x)}" y="{_f(bottom + 16)}" text-anchor="middle">'
            f"{_tick_text(tick, step, True)}</text>"
        )
    for i in range(rows):
        y = top + i * row
        name = plot.labels[i]
        parts.append(
            f'<text x="{x0 - 6}" y="{_f(y + row / 2 + 4)}" text-anchor="end">'
            f"<title>{_e(name)}</title>{_e(_short(name))}</text>"
        )
        for offset, (series, colour, which) in enumerate(
            (
                (plot.reference, REFERENCE_COLOUR, "reference"),
                (plot.current, CURRENT_COLOUR, "current"),
            )
        ):
            value = max(0.0, series[i]) if math.isfinite(series[i]) else 0.0
            length = (x1 - x0) * min(value, high) / high
            parts.append(
                f'<rect x="{x0}" y="{_f(y + 3 + offset * 11)}" width="{_f(length)}" '
                f'height="10" fill="{colour}"><title>{which} {_e(name)}: '
                f"{100 * value:.2f}%</title></rect>"
            )
    parts.append(_axes(x0, bottom, x1, top))
    parts.append(
        f'<text x="{_f((x0 + x1) / 2)}" y="{_f(bottom + 34)}" text-anchor="middle">'
        f"proportion</text>"
    )
    parts.append(_legend(x1 - 180, lines=False))
    return _svg(check, plot, int(height), "".join(parts))


def _ecdf_svg(check: Check, plot: Plot) -> str:
    height = 250
    x0, x1 = _LEFT, _WIDTH - _RIGHT
    top, bottom = _TOP, height - _BOTTOM
    values = [v for v in (*plot.reference, *plot.current) if math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5

    def sx(value: float) -> float:
        return x0 + (x1 - x0) * (value - low) / (high - low)

    def sy(share: float) -> float:
        return bottom - (bottom - top) * share

    parts = [_y_axis(x0, top, bottom, 1.0, True, x1)]
    step = _step(high - low)
    for tick in _ticks(low, high):
        x = sx(tick)
        parts.append(
            f'<line x1="{_f(x)}" y1="{_f(bottom)}" x2="{_f(x)}" y2="{_f(bottom + 4)}" '
            f'stroke="#57606a"/><text x="{_f(x)}" y="{_f(bottom + 16)}" text-anchor="middle">'
            f"{_tick_text(tick, step)}</text>"
        )
    for series, colour, dash, name in (
        (plot.reference, REFERENCE_COLOUR, "", "reference"),
        (plot.current, CURRENT_COLOUR, ' stroke-dasharray="5 3"', "current"),
    ):
        points = sorted(v for v in series if math.isfinite(v))
        if not points:
            continue
        path = [f"M{_f(x0)},{_f(sy(0.0))}"]
        for k, value in enumerate(points):
            x = sx(value)
            path.append(f"H{_f(x)}V{_f(sy((k + 1) / len(points)))}")
        path.append(f"H{_f(x1)}")
        parts.append(
            f'<path d="{"".join(path)}" fill="none" stroke="{colour}" stroke-width="2"{dash}>'
            f"<title>{name}: empirical CDF of {len(points)} quantiles</title></path>"
        )
    parts.append(_axes(x0, bottom, x1, top))
    parts.append(
        f'<text x="{_f((x0 + x1) / 2)}" y="{height - 8}" text-anchor="middle">'
        f"{_e(_x_label(check.name))}</text>"
        f'<text x="12" y="{_f((top + bottom) / 2)}" text-anchor="middle" '
        f'transform="rotate(-90 12 {_f((top + bottom) / 2)})">share at or below</text>'
    )
    parts.append(_legend(x1 - 180, lines=True))
    return _svg(check, plot, height, "".join(parts))


def plot_svg(check: Check) -> str:
    """The check's plot as an inline ``<svg>`` element ("" when it has none)."""
    plot = check.plot
    if plot is None:
        return ""
    if plot.kind == "histogram":
        return _histogram_svg(check, plot)
    if plot.kind == "bars":
        return _bars_svg(check, plot)
    return _ecdf_svg(check, plot)


# -- HTML ------------------------------------------------------------------------------------


def _ordered(results: Sequence[DriftResult]) -> list[DriftResult]:
    """Drift first, then insufficient data, then ok; the highest score first within each."""
    return sorted(
        results, key=lambda r: (_STATUS_ORDER.get(r.status, 3), -(r.score or 0.0), r.model)
    )


def _status(status: str) -> str:
    text = _STATUS_TEXT.get(status, status)
    return f'<span class="status status-{_e(status)}">{_e(text)}</span>'


def _summary_table(results: Sequence[DriftResult]) -> str:
    rows = []
    for i, result in enumerate(results):
        rows.append(
            f'<tr><td><a href="#model-{i}">{_e(result.model)}</a></td><td>{_e(result.version)}'
            f"</td><td>{_status(result.status)}</td>"
            f'<td class="num">{_score(result.score)}</td>'
            f'<td class="num">{result.reference_count}</td>'
            f'<td class="num">{result.current_count}</td>'
            f'<td class="num">{result.skipped}</td>'
            f'<td class="num">{sum(check.drifted for check in result.checks)} of '
            f"{len(result.checks)}</td></tr>"
        )
    return (
        "<table><caption>Every model version checked, drifted first.</caption><thead><tr>"
        '<th scope="col">Model</th><th scope="col">Version</th><th scope="col">Status</th>'
        '<th scope="col">Score</th><th scope="col">Reference records</th>'
        '<th scope="col">Current records</th><th scope="col">Skipped (malformed)</th>'
        '<th scope="col">Checks drifted</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _checks_table(result: DriftResult) -> str:
    rows = []
    for check in result.checks:
        rows.append(
            f'<tr class="{"drifted" if check.drifted else "stable"}">'
            f'<th scope="row">{_e(check.name)}</th><td>{_e(check.test)}</td>'
            f"<td>{_e(check.reference_value)}</td><td>{_e(check.current_value)}</td>"
            f'<td class="num">{_number(check.effect)}</td>'
            f'<td class="num">{_number(check.threshold)}</td>'
            f'<td class="num">{_p(check.p_value)}</td>'
            f'<td class="num">{_score(check.score)}</td>'
            f"<td>{_status('drift' if check.drifted else 'ok')}</td>"
            "</tr>"
        )
    return (
        f"<table><caption>Checks of {_e(result.model)} {_e(result.version)}: score = effect / "
        "threshold, counted from 1 only when p is significant.</caption><thead><tr>"
        '<th scope="col">Check</th><th scope="col">Test</th><th scope="col">Reference</th>'
        '<th scope="col">Current</th><th scope="col">Effect</th>'
        '<th scope="col">Threshold</th><th scope="col">p</th><th scope="col">Score</th>'
        '<th scope="col">Drifted</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _figures(result: DriftResult) -> str:
    figures = []
    for check in result.checks:
        svg = plot_svg(check)
        if not svg:
            continue
        figures.append(
            f'<figure class="{"drifted" if check.drifted else "stable"}">{svg}'
            f"<figcaption><strong>{_e(check.name)}</strong> ({_e(check.test)}): effect "
            f"{_number(check.effect)} against threshold {_number(check.threshold)}, "
            f"score {_score(check.score)}{', drifted' if check.drifted else ''}."
            "</figcaption></figure>"
        )
    return f'<div class="plots">{"".join(figures)}</div>' if figures else ""


def _section(i: int, result: DriftResult) -> str:
    head = (
        f'<section id="model-{i}" aria-labelledby="model-{i}-title">'
        f'<h2 id="model-{i}-title">{_e(result.model)} {_e(result.version)}</h2>'
        f"<p>{_status(result.status)}, score {_score(result.score)}: "
        f"{result.current_count} current records ({result.skipped} malformed, skipped) "
        f"against {result.reference_count} reference records.</p>"
    )
    if result.status == "insufficient_data" or not result.checks:
        return (
            head + "<p>Not enough data to check: too few well-formed current records, or none "
            "of the reference sample's statistics in the current one.</p></section>"
        )
    return head + _checks_table(result) + _figures(result) + "</section>"


def render_html(
    results: Sequence[DriftResult], *, title: str, generated_at: str, window: str
) -> str:
    """The whole report page: a summary table, then each model's checks and plots."""
    ordered = _ordered(results)
    sections = "".join(_section(i, result) for i, result in enumerate(ordered))
    drifted = sum(result.status == "drift" for result in ordered)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{_e(title)}</h1>"
        f'<p class="meta">Generated {_e(generated_at)}; window {_e(window)}; '
        f"{len(ordered)} model versions, {drifted} drifted.</p>"
        "<p>Each check compares the recent sample with the model's reference sample. Its "
        "score is the effect size divided by the check's threshold; a score of 1 or more is "
        "drift, and only counts when the difference is also statistically significant "
        "(p below the run's Bonferroni-corrected alpha). Reference is blue, current "
        "orange.</p>"
        f"<h2>Summary</h2>{_summary_table(ordered)}{sections}</main></body></html>\n"
    )


# -- text ------------------------------------------------------------------------------------


def _check_line(check: Check, width: int) -> str:
    return (
        f"  {'DRIFT' if check.drifted else 'ok':5}  {check.name:{width}}  {check.test:17}  "
        f"effect {_number(check.effect):>7} / {_number(check.threshold):<6} "
        f"p {_p(check.p_value):>9}  score {_score(check.score):>6}  "
        f"{check.reference_value} -> {check.current_value}"
    )


def render_text(results: Sequence[DriftResult]) -> str:
    """A plain-text summary: one block per model version, one line per check."""
    blocks = []
    for result in _ordered(results):
        lines = [
            f"{result.model} {result.version}: {_STATUS_TEXT.get(result.status, result.status)}"
            f", score {_score(result.score)} ({result.current_count} current records, "
            f"{result.skipped} skipped; {result.reference_count} reference)"
        ]
        width = max((len(check.name) for check in result.checks), default=0)
        lines.extend(_check_line(check, width) for check in result.checks)
        if not result.checks:
            lines.append("  no checks ran")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
