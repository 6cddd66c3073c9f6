"""Inline SVG plots for the HTML report: no plotting library, no network, no server."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH = 420
X_KEYS = ("step", "iteration", "epoch", "restart")
CURVE_W, CURVE_H, PAD = 420, 180, 32


def metric_plot(item) -> Markup:
    """The value as a bar against each tier's threshold (a tick labelled with its points; labels
    stacked one row per tier so close thresholds stay readable)."""
    if not item.tiers or not isinstance(item.value, (int, float)):
        return Markup("")
    marks = [t["threshold"] for t in item.tiers] + [item.value]
    lo, hi = min(0.0, min(marks)), max(1.0, max(marks))
    def x(v: float) -> float:
        return 10 + (WIDTH - 20) * (v - lo) / (hi - lo or 1)

    top = 12 * len(item.tiers) + 6
    colour = "#2e7d32" if item.points >= item.max_points else "#f9a825" if item.points > 0 else "#c62828"
    parts = [f'<svg class="metric" width="{WIDTH}" height="{top + 48}" role="img" aria-label="{escape(item.id)} value against thresholds">',
             f'<rect x="10" y="{top}" width="{WIDTH - 20}" height="16" fill="#eee"/>',
             f'<rect x="10" y="{top}" width="{x(item.value) - 10:.1f}" height="16" fill="{colour}"/>']
    for row, tier in enumerate(sorted(item.tiers, key=lambda t: t["threshold"])):
        tx = x(tier["threshold"])
        parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{12 * row + 12}" y2="{top + 22}" stroke="#000" stroke-dasharray="3,2"/>')
        parts.append(f'<text x="{tx - 3:.1f}" y="{12 * row + 10}" font-size="10" text-anchor="end">{escape(tier["op"])} {tier["threshold"]:g}: {tier["points"]:g} pts</text>')
    parts.append(f'<text x="{x(item.value):.1f}" y="{top + 34}" font-size="11" text-anchor="middle">{item.value:.4f}</text>')
    parts.append(f'<text x="10" y="{top + 46}" font-size="9">{lo:g}</text>'
                 f'<text x="{WIDTH - 10}" y="{top + 46}" font-size="9" text-anchor="end">{hi:g}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def curve_plot(title: str, series: dict[str, list[float]]) -> Markup:
    """Training curves logged as `Curve: {...}` lines, one polyline per key (x = point index);
    with a `restart` key, one polyline per key and restart."""
    restarts = series.get("restart")
    if restarts:
        split: dict[str, list[float]] = {}
        for key, values in series.items():
            if key in X_KEYS or len(values) != len(restarts):
                continue
            for r, v in zip(restarts, values):
                split.setdefault(f"{key} r{int(r)}", []).append(v)
        series = split
    series = {k: v for k, v in series.items() if k not in X_KEYS and len(v) > 1}
    if not series:
        return Markup("")
    values = [v for s in series.values() for v in s]
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    palette = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f"]
    rows = (len(series) + 3) // 4
    parts = [f'<svg class="curve" width="{CURVE_W}" height="{CURVE_H + 10 * rows}" role="img" aria-label="{escape(title)}">',
             f'<text x="{PAD}" y="14" font-size="12">{escape(title)}</text>',
             f'<rect x="{PAD}" y="20" width="{CURVE_W - PAD - 8}" height="{CURVE_H - 40}" fill="none" stroke="#999"/>',
             f'<text x="2" y="28" font-size="9">{hi:.3g}</text><text x="2" y="{CURVE_H - 20}" font-size="9">{lo:.3g}</text>']
    for n, (key, ys) in enumerate(series.items()):
        colour = palette[n % len(palette)]
        pts = " ".join(
            f"{PAD + (CURVE_W - PAD - 8) * i / (len(ys) - 1):.1f},{20 + (CURVE_H - 40) * (1 - (y - lo) / span):.1f}"
            for i, y in enumerate(ys))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{pts}"/>')
        parts.append(f'<text x="{PAD + 4 + (n % 4) * 100}" y="{CURVE_H + 10 * (n // 4) - 4}" font-size="10" fill="{colour}">{escape(key)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


DIST_W, DIST_H, DIST_BINS = 460, 110, 20


def distribution_plot(title: str, values: list[float], thresholds=(), lo: float | None = None,
                      hi: float | None = None) -> Markup:
    """A histogram of the class's values with each threshold drawn as a dashed line, labelled
    with its rule and how many reached it. Everything is told by position and text, none by
    colour alone: bars carry their counts, lines their labels."""
    if not values:
        return Markup("")
    marks = list(values) + [t.value for t in thresholds]
    lo = min(marks) if lo is None else min(lo, min(marks))
    hi = max(marks) if hi is None else max(hi, max(marks))
    if hi - lo < 1e-12:
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    width = (hi - lo) / DIST_BINS
    counts = [0] * DIST_BINS
    for v in values:
        counts[min(DIST_BINS - 1, int((v - lo) / width))] += 1
    top = 14 * len(thresholds) + 18
    left, plot_w = 30, DIST_W - 40
    def x(v: float) -> float:
        return left + plot_w * (v - lo) / (hi - lo)

    y0 = top + DIST_H
    peak = max(counts)
    label = f"{title}: {len(values)} values from {min(values):g} to {max(values):g}" + "".join(
        f"; {t.label}: {t.reached} reached" for t in thresholds)
    parts = [f'<svg class="dist" width="{DIST_W}" height="{y0 + 30}" role="img" aria-label="{escape(label)}">',
             f'<title>{escape(label)}</title>',
             f'<line x1="{left}" x2="{left + plot_w}" y1="{y0}" y2="{y0}" stroke="#000"/>',
             f'<text x="2" y="{top + 8}" font-size="9">{peak}</text><text x="2" y="{y0}" font-size="9">0</text>']
    bar_w = plot_w / DIST_BINS
    for n, count in enumerate(counts):
        if not count:
            continue
        h = DIST_H * count / peak
        bx = left + n * bar_w
        parts.append(f'<rect x="{bx + 1:.1f}" y="{y0 - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" fill="#b0bec5" stroke="#37474f"/>')
        parts.append(f'<text x="{bx + bar_w / 2:.1f}" y="{y0 - h - 2:.1f}" font-size="9" text-anchor="middle">{count}</text>')
    for row, t in enumerate(sorted(thresholds, key=lambda t: t.value)):
        tx = x(t.value)
        anchor = "end" if tx > left + plot_w / 2 else "start"
        shift = -3 if anchor == "end" else 3
        parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{14 * row + 14}" y2="{y0 + 4}" stroke="#000" stroke-width="1.5" stroke-dasharray="5,3"/>')
        parts.append(f'<text x="{tx + shift:.1f}" y="{14 * row + 12}" font-size="10" text-anchor="{anchor}">'
                     f'{escape(t.label)} ({t.reached} reached)</text>')
    parts.append(f'<text x="{left}" y="{y0 + 14}" font-size="9">{lo:.4g}</text>'
                 f'<text x="{left + plot_w / 2:.1f}" y="{y0 + 14}" font-size="9" text-anchor="middle">{(lo + hi) / 2:.4g}</text>'
                 f'<text x="{left + plot_w}" y="{y0 + 14}" font-size="9" text-anchor="end">{hi:.4g}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{y0 + 27}" font-size="10" text-anchor="middle">{escape(title)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
