"""Small HTML pieces the panels share: an example as text or a thumbnail, a Grad-CAM overlay,
highlighted tokens, a table, a bar chart.

Inline HTML and SVG, not plotting widgets: each Plotly FigureWidget carries ~5 MB of front end,
and a bar per class or a 48-pixel thumbnail needs none of it.
"""

import base64
import html
import io

import numpy as np


def example_html(example, size=48, chars=200):
    """Text as escaped text (cut at `chars`); an image as an inline PNG thumbnail; a vector of
    features as its numbers."""
    if isinstance(example, str):
        text = example if len(example) <= chars else example[:chars - 1] + "…"
        return html.escape(text)
    if np.ndim(example) < 2:
        return html.escape(np.array2string(np.asarray(example), precision=2, threshold=8))
    return thumbnail(example, size)


def thumbnail(image, size=48):
    """An H×W or H×W×C array (any range) as an <img> of size×size pixels, contrast stretched."""
    from PIL import Image

    array = np.asarray(image, dtype="float32")
    array = array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array
    low, high = float(array.min()), float(array.max())
    pixels = ((array - low) / (high - low or 1) * 255).astype("uint8")
    picture = Image.fromarray(pixels).resize((size, size), Image.NEAREST if min(array.shape[:2]) < size else Image.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return (f'<img class="tw-thumb" width="{size}" height="{size}" alt="" '
            f'src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}"/>')


def heatmap_thumbnail(image, heatmap, size=48):
    """`image` as a grey thumbnail with `heatmap` (H×W in [0, 1], as `Session.explain` gives)
    laid over it in red: where Grad-CAM says the model looked."""
    array = np.asarray(image, dtype="float32")
    grey = array.mean(-1) if array.ndim == 3 else array
    low, high = float(grey.min()), float(grey.max())
    grey = (grey - low) / (high - low or 1)
    heat = np.asarray(heatmap, dtype="float32")[..., None]
    rgb = grey[..., None] * (1 - 0.6 * heat) + np.array([1.0, 0.1, 0.0]) * 0.6 * heat
    return thumbnail(rgb * 255, size).replace('class="tw-thumb"', 'class="tw-thumb tw-heatmap"', 1)


def tokens_html(tokens):
    """[(token, score)] as the tokens in a row, each shaded by its score (red for one that
    raised the decided class, blue for one that lowered it), the score on hover."""
    top = max((abs(score) for _, score in tokens), default=0.0) or 1.0
    spans = []
    for token, score in tokens:
        colour = "220,50,30" if score >= 0 else "30,90,220"
        spans.append(f'<span class="tw-token" title="{score:+.3f}" style="background:rgba({colour},'
                     f'{abs(score) / top * 0.8:.2f});padding:0 2px;border-radius:2px">{html.escape(token)}</span>')
    return '<span class="tw-tokens">' + " ".join(spans) + "</span>"


def table(headers, rows):
    """An HTML table: a header row, then a row per item of `rows`; headers and cells are HTML
    as given (escape user text before)."""
    head = "".join(f"<th>{header}</th>" for header in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def bar_chart(names, parts, colors=("#1f77b4", "#9ecae1"), legend=(), width=320, row=20, label_width=90):
    """Horizontal stacked bars as inline SVG: one row per name, `parts` a list of count lists
    (one per stack segment, e.g. train and validation), each row labelled with its total."""
    totals = [sum(values) for values in zip(*parts)]
    top = max(totals, default=0) or 1
    bar_space = width - label_width - 50
    rows = []
    for i, (name, total) in enumerate(zip(names, totals)):
        y, x = i * row, label_width
        label = name if len(name) <= 14 else name[:13] + "…"
        rows.append(f'<text x="{label_width - 6}" y="{y + row * 0.7:.1f}" text-anchor="end">{html.escape(label)}'
                    f'<title>{html.escape(name)}</title></text>')
        for values, color in zip(parts, colors):
            length = values[i] / top * bar_space
            rows.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{length:.1f}" height="{row - 6}" fill="{color}"/>')
            x += length
        rows.append(f'<text x="{x + 4:.1f}" y="{y + row * 0.7:.1f}">{total}</text>')
    caption = " · ".join(f'<span style="color:{color}">■</span> {html.escape(text)}' for text, color in zip(legend, colors))
    summary = ", ".join(f"{name}: {total}" for name, total in zip(names, totals))
    return (f'<svg class="tw-bars" width="{width}" height="{len(names) * row}" role="img" '
            f'aria-label="{html.escape(summary)}" style="font:11px sans-serif">{"".join(rows)}</svg>'
            + (f'<div style="font-size:11px;opacity:.75">{caption}</div>' if caption else ""))
