"""The tuning tools' charts as small inline SVG: no plotting front end to load (a plotly
FigureWidget costs ~5 MB in the browser per instance), hover text from SVG <title>s.
"""

import html
import math

WIDTH, HEIGHT = 320, 150
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 10, 24


def _axes(x_range, y_range):
    """(x(value), y(value)) mapping data to the plot area."""
    (x0, x1), (y0, y1) = x_range, y_range
    width, height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(value):
        return LEFT + (value - x0) / ((x1 - x0) or 1) * width

    def y(value):
        return TOP + (1 - (value - y0) / ((y1 - y0) or 1)) * height

    return x, y


def _frame(label, body, x_ticks, y_ticks):
    ticks = "".join(f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{html.escape(text)}</text>'
                    for x, text in x_ticks)
    ticks += "".join(f'<text x="{LEFT - 4}" y="{y + 3:.1f}" text-anchor="end">{html.escape(text)}</text>'
                     for y, text in y_ticks)
    return (f'<svg width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{html.escape(label)}" '
            f'style="background:rgba(127,127,127,.08);font:10px sans-serif;fill:currentColor">'
            f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" stroke="gray"/>'
            f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="gray"/>{ticks}{body}</svg>')


def _decades(low, high, most=6):
    first, last = math.ceil(low - 1e-9), math.floor(high + 1e-9)
    step = max(1, -(-(last - first + 1) // most))
    return list(range(first, last + 1, step))


def lr_finder_chart(result):
    """Smoothed loss against the rate (log axis), the suggestion marked; '' without points."""
    points = [(math.log10(rate), loss) for rate, loss in zip(result.rates, result.smoothed) if math.isfinite(loss)]
    if len(points) < 2:
        return ""
    losses = [loss for _, loss in points]
    low = min(losses)
    top = min(max(losses), max(losses[0], low) * 1.25)  # a diverged tail runs off the top
    pad = (top - low) * 0.05 or abs(low) * 0.05 or 1.0
    x, y = _axes((points[0][0], points[-1][0]), (low - pad, top + pad))
    line = " ".join(f"{x(r):.1f},{y(min(loss, top + pad)):.1f}" for r, loss in points)
    body = f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{line}"/>'
    label = f"smoothed loss against learning rate, {len(points)} batches, {result.ended}"
    if result.suggestion is not None:
        index = result.suggestion_index
        sx, sy = x(math.log10(result.suggestion)), y(min(result.smoothed[index], top + pad))
        body += (f'<line class="tw-lr-suggestion" x1="{sx:.1f}" y1="{TOP}" x2="{sx:.1f}" y2="{HEIGHT - BOTTOM}" '
                 f'stroke="#d62728" stroke-dasharray="4 3"/>'
                 f'<circle cx="{sx:.1f}" cy="{sy:.1f}" r="4" fill="#d62728"><title>suggested {result.suggestion:.2g}'
                 f'</title></circle><text x="{sx + 4:.1f}" y="{TOP + 10}" fill="#d62728">{result.suggestion:.2g}</text>')
        label += f", suggestion {result.suggestion:.2g}"
    x_ticks = [(x(k), f"1e{k}") for k in _decades(points[0][0], points[-1][0])]
    y_ticks = [(y(value), f"{value:.3g}") for value in (low, top)]
    return _frame(label, body, x_ticks, y_ticks)


def sweep_chart(result):
    """The validation metric against trainable parameters (log axis), seconds per epoch on
    hover, the best point filled; '' before the first point."""
    points = sorted((p for p in result.points if p.value is not None), key=lambda p: p.trainable_params)
    if not points:
        return ""
    xs = [math.log10(max(p.trainable_params, 1)) for p in points]
    values = [p.value for p in points]
    spread = max(values) - min(values)
    pad = spread * 0.1 or abs(values[0]) * 0.1 or 0.1
    x_pad = (xs[-1] - xs[0]) * 0.08 or 0.5
    x, y = _axes((xs[0] - x_pad, xs[-1] + x_pad), (min(values) - pad, max(values) + pad))
    best = result.best
    body = '<polyline fill="none" stroke="#1f77b4" stroke-opacity=".5" points="{}"/>'.format(
        " ".join(f"{x(a):.1f},{y(v):.1f}" for a, v in zip(xs, values)))
    for a, point in zip(xs, points):
        seconds = f"{point.seconds_per_epoch:.2f} s per epoch" if point.seconds_per_epoch is not None else ""
        cache = f" (+ {point.cache_seconds:.1f} s cache pass)" if point.cache_seconds else ""
        tip = (f"{point.label}\n{result.metric} {point.value:.4f}\n{point.trainable_params:,} trainable parameters\n"
               f"{seconds}{cache}")
        is_best = point is best
        body += (f'<circle class="tw-sweep-point{" tw-sweep-best" if is_best else ""}" cx="{x(a):.1f}" '
                 f'cy="{y(point.value):.1f}" r="{6 if is_best else 4}" fill="{"#2ca02c" if is_best else "#1f77b4"}">'
                 f'<title>{html.escape(tip)}</title></circle>')
    label = f"{result.metric} against trainable parameters, {len(points)} points"
    decades = _decades(xs[0] - x_pad, xs[-1] + x_pad)
    x_ticks = ([(x(k), f"1e{k}") for k in decades] if len(decades) > 1 else
               [(x(a), _compact(p.trainable_params)) for a, p in ((xs[0], points[0]), (xs[-1], points[-1]))])
    y_ticks = [(y(value), f"{value:.3g}") for value in sorted({min(values), max(values)})]
    return _frame(label, body, x_ticks, y_ticks)


def _compact(count):
    """1234 → '1.2k', 22_700_000 → '23M'."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= size:
            return f"{count / size:.2g}{suffix}"
    return str(count)
