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
    parts = [f'<svg class="metric" width="{WIDTH}" height="{top + 48}" role="img" aria-label="{escape(item.id)} '
             'value against thresholds">',
             f'<rect x="10" y="{top}" width="{WIDTH - 20}" height="16" fill="#eee"/>',
             f'<rect x="10" y="{top}" width="{x(item.value) - 10:.1f}" height="16" fill="{colour}"/>']
    for row, tier in enumerate(sorted(item.tiers, key=lambda t: t["threshold"])):
        tx = x(tier["threshold"])
        parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{12 * row + 12}" y2="{top + 22}" stroke="#000" '
                     'stroke-dasharray="3,2"/>')
        parts.append(f'<text x="{tx - 3:.1f}" y="{12 * row + 10}" font-size="10" '
                     f'text-anchor="end">{escape(tier["op"])} {tier["threshold"]:g}: {tier["points"]:g} pts</text>')
    parts.append(f'<text x="{x(item.value):.1f}" y="{top + 34}" font-size="11" '
                 f'text-anchor="middle">{item.value:.4f}</text>')
    parts.append(f'<text x="10" y="{top + 46}" font-size="9">{lo:g}</text>'
                 f'<text x="{WIDTH - 10}" y="{top + 46}" font-size="9" text-anchor="end">{hi:g}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


DASHES = ("", "6,3", "2,2", "8,3,2,3", "1,3", "10,4")  # each line's own dash too: not told apart by colour alone
PALETTE = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f")
LABEL_W = 64  # room right of each plot for the lines' labels


def _quantities(series: dict[str, list[float]]) -> dict[str, dict[str, list[float]]]:
    """{quantity: {line label: values}}: with a `restart` key, one line per restart ("restart 0");
    without, the quantity is its own single line."""
    restarts = series.get("restart")
    out: dict[str, dict[str, list[float]]] = {}
    for key, values in series.items():
        if key in X_KEYS:
            continue
        if restarts and len(values) == len(restarts):
            for r, v in zip(restarts, values):
                out.setdefault(key, {}).setdefault(f"restart {int(r)}", []).append(v)
        elif not restarts:
            out[key] = {key: list(values)}
    return {q: {label: ys for label, ys in lines.items() if len(ys) > 1} for q, lines in out.items()
            if any(len(ys) > 1 for ys in lines.values())}


def _one_curve_plot(title: str, quantity: str, lines: dict[str, list[float]]) -> str:
    values = [v for ys in lines.values() for v in ys]
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    plot_w, plot_h = CURVE_W - PAD - LABEL_W, CURVE_H - 40
    def y(v: float) -> float:
        return 20 + plot_h * (1 - (v - lo) / span)

    parts = [f'<svg class="curve" width="{CURVE_W}" height="{CURVE_H}" role="img" '
             f'aria-label="{escape(title)}: {escape(quantity)}, {len(lines)} line(s): {escape(", ".join(lines))}">',
             f'<text x="{PAD}" y="14" font-size="12">{escape(title)}: <tspan '
             f'font-weight="bold">{escape(quantity)}</tspan></text>',
             f'<rect x="{PAD}" y="20" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>',
             f'<text x="2" y="28" font-size="9">{hi:.3g}</text><text x="2" y="{CURVE_H - 20}" '
             f'font-size="9">{lo:.3g}</text>',
             f'<text x="{PAD}" y="{CURVE_H - 6}" font-size="9">logged point (first to last)</text>']
    ends = []
    for n, (label, ys) in enumerate(lines.items()):
        colour, dash = PALETTE[n % len(PALETTE)], DASHES[n % len(DASHES)]
        pts = " ".join(f"{PAD + plot_w * i / (len(ys) - 1):.1f},{y(v):.1f}" for i, v in enumerate(ys))
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<polyline class="line" data-label="{escape(label)}" fill="none" stroke="{colour}" '
                     f'stroke-width="1.5"{dashed} points="{pts}"/>')
        ends.append([y(ys[-1]), label, colour])
    # Each line is labelled at its right end, labels pushed apart to stay readable.
    ends.sort()
    for n in range(1, len(ends)):
        ends[n][0] = max(ends[n][0], ends[n - 1][0] + 11)
    for ly, label, colour in ends:
        if len(lines) > 1 or label != quantity:
            parts.append(f'<text class="label" x="{PAD + plot_w + 4}" y="{ly + 3:.1f}" font-size="10" fill="{colour}">'
                         f'{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def curve_plot(title: str, series: dict[str, list[float]]) -> Markup:
    """Training curves logged as `Curve: {...}` lines: one small plot per quantity (loss and
    accuracy never share an axis), x = point index; with a `restart` key, one line per restart
    in each plot, each labelled at its end and drawn with its own dash pattern."""
    plots = [_one_curve_plot(title, quantity, lines) for quantity, lines in _quantities(series).items()]
    if not plots:
        return Markup("")
    return Markup(f'<div class="curves">{"".join(plots)}</div>')


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
        parts.append(f'<rect x="{bx + 1:.1f}" y="{y0 - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                     'fill="#b0bec5" stroke="#37474f"/>')
        parts.append(f'<text x="{bx + bar_w / 2:.1f}" y="{y0 - h - 2:.1f}" font-size="9" '
                     f'text-anchor="middle">{count}</text>')
    for row, t in enumerate(sorted(thresholds, key=lambda t: t.value)):
        tx = x(t.value)
        anchor = "end" if tx > left + plot_w / 2 else "start"
        shift = -3 if anchor == "end" else 3
        parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{14 * row + 14}" y2="{y0 + 4}" stroke="#000" '
                     'stroke-width="1.5" stroke-dasharray="5,3"/>')
        parts.append(f'<text x="{tx + shift:.1f}" y="{14 * row + 12}" font-size="10" text-anchor="{anchor}">'
                     f'{escape(t.label)} ({t.reached} reached)</text>')
    parts.append(f'<text x="{left}" y="{y0 + 14}" font-size="9">{lo:.4g}</text>'
                 f'<text x="{left + plot_w / 2:.1f}" y="{y0 + 14}" font-size="9" text-anchor="middle">'
                 f'{(lo + hi) / 2:.4g}</text>'
                 f'<text x="{left + plot_w}" y="{y0 + 14}" font-size="9" text-anchor="end">{hi:.4g}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{y0 + 27}" font-size="10" '
                 f'text-anchor="middle">{escape(title)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
