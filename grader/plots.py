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
    x = lambda v: 10 + (WIDTH - 20) * (v - lo) / (hi - lo or 1)
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
