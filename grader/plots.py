"""Inline SVG plots for the HTML report: no plotting library, no network, no server."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT = 420, 70
CURVE_W, CURVE_H, PAD = 420, 180, 32


def metric_plot(item) -> Markup:
    """The value as a bar against each tier's threshold (a tick labelled with its points)."""
    if not item.tiers or not isinstance(item.value, (int, float)):
        return Markup("")
    marks = [t["threshold"] for t in item.tiers] + [item.value]
    lo, hi = min(0.0, min(marks)), max(1.0, max(marks))
    x = lambda v: 10 + (WIDTH - 20) * (v - lo) / (hi - lo or 1)
    colour = "#2e7d32" if item.points >= item.max_points else "#f9a825" if item.points > 0 else "#c62828"
    parts = [f'<svg class="metric" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(item.id)} value against thresholds">',
             f'<rect x="10" y="22" width="{WIDTH - 20}" height="16" fill="#eee"/>',
             f'<rect x="10" y="22" width="{x(item.value) - 10:.1f}" height="16" fill="{colour}"/>']
    for tier in item.tiers:
        tx = x(tier["threshold"])
        parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="16" y2="44" stroke="#000" stroke-dasharray="3,2"/>')
        parts.append(f'<text x="{tx:.1f}" y="12" font-size="10" text-anchor="middle">{escape(tier["op"])} {tier["threshold"]:g}: {tier["points"]:g} pts</text>')
    parts.append(f'<text x="{x(item.value):.1f}" y="58" font-size="11" text-anchor="middle">{item.value:.4f}</text>')
    parts.append(f'<text x="10" y="68" font-size="9">{lo:g}</text><text x="{WIDTH - 10}" y="68" font-size="9" text-anchor="end">{hi:g}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def curve_plot(title: str, series: dict[str, list[float]]) -> Markup:
    """Training curves logged as `Curve: {...}` lines, one polyline per key (x = point index)."""
    series = {k: v for k, v in series.items() if k not in ("step", "iteration", "epoch") and len(v) > 1}
    if not series:
        return Markup("")
    values = [v for s in series.values() for v in s]
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    palette = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f"]
    parts = [f'<svg class="curve" width="{CURVE_W}" height="{CURVE_H}" role="img" aria-label="{escape(title)}">',
             f'<text x="{PAD}" y="14" font-size="12">{escape(title)}</text>',
             f'<rect x="{PAD}" y="20" width="{CURVE_W - PAD - 8}" height="{CURVE_H - 40}" fill="none" stroke="#999"/>',
             f'<text x="2" y="28" font-size="9">{hi:.3g}</text><text x="2" y="{CURVE_H - 20}" font-size="9">{lo:.3g}</text>']
    for n, (key, ys) in enumerate(series.items()):
        colour = palette[n % len(palette)]
        pts = " ".join(
            f"{PAD + (CURVE_W - PAD - 8) * i / (len(ys) - 1):.1f},{20 + (CURVE_H - 40) * (1 - (y - lo) / span):.1f}"
            for i, y in enumerate(ys))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{pts}"/>')
        parts.append(f'<text x="{PAD + 4 + 110 * n}" y="{CURVE_H - 4}" font-size="10" fill="{colour}">{escape(key)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
