"""Line charts as self-contained SVG, for the SLA report (no plotting library on hosts)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 36


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    if high <= low:
        return [low]
    return [low + (high - low) * i / count for i in range(count + 1)]


def line_chart(
    title: str,
    points: list[tuple[float, float]],
    y_label: str,
    y_min: float | None = None,
    y_max: float | None = None,
    threshold: float | None = None,
    threshold_label: str = "",
    y_format: str = "{:.2f}",
) -> str:
    """An SVG line chart of (unix time, value) points, with an optional threshold line."""
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    if not points:
        svg.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data in this period</text>')
        svg.append("</svg>")
        return "\n".join(svg)

    xs = [t for t, _ in points]
    ys = [v for _, v in points] + ([threshold] if threshold is not None else [])
    x0, x1 = min(xs), max(xs)
    lo = min(ys) if y_min is None else y_min
    hi = max(ys) if y_max is None else y_max
    if hi <= lo:
        hi = lo + 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(t: float) -> float:
        return LEFT + (0 if x1 == x0 else (t - x0) / (x1 - x0) * plot_w)

    def py(v: float) -> float:
        return TOP + plot_h - (min(max(v, lo), hi) - lo) / (hi - lo) * plot_h

    for v in _ticks(lo, hi):
        y = py(v)
        svg.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        svg.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(y_format.format(v))}</text>')
    for t in _ticks(x0, x1):
        label = datetime.fromtimestamp(t, UTC).strftime("%m-%d %H:%M")
        svg.append(f'<text x="{px(t):.1f}" y="{HEIGHT - 12}" text-anchor="middle">{label}</text>')
    svg.append(
        f'<text x="14" y="{TOP + plot_h / 2:.1f}" transform="rotate(-90 14 {TOP + plot_h / 2:.1f})" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    if threshold is not None:
        y = py(threshold)
        svg.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#c0392b" stroke-dasharray="6 4"/>'
        )
        svg.append(
            f'<text x="{WIDTH - RIGHT}" y="{y - 4:.1f}" text-anchor="end" fill="#c0392b">'
            f"{escape(threshold_label)}</text>"
        )
    path = " ".join(f"{'M' if i == 0 else 'L'}{px(t):.1f},{py(v):.1f}" for i, (t, v) in enumerate(points))
    svg.append(f'<path d="{path}" fill="none" stroke="#2c6fbb" stroke-width="1.5"/>')
    svg.append("</svg>")
    return "\n".join(svg)
