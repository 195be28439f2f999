"""An inline SVG line chart of accuracy per iteration (one line per mode), drawn from the
report's numbers, so a run still in progress has a plot before ``accuracy.png`` exists."""

from __future__ import annotations

from looptool.view.html import Safe, esc

WIDTH, HEIGHT, PAD = 320, 180, 32
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def line_chart(title: str, series: dict[str, list[tuple[int, float]]]) -> Safe:
    """``series``: mode -> [(iteration, accuracy in 0..1)]; iteration 0 is the base model."""
    points = [point for values in series.values() for point in values]
    if not points:
        return Safe("")
    last = max(1, max(iteration for iteration, _ in points))
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def x(iteration: int) -> float:
        return PAD + plot_w * iteration / last

    def y(value: float) -> float:
        return PAD + plot_h * (1 - max(0.0, min(1.0, value)))

    parts = [
        f'<text x="{PAD}" y="16" font-size="12">{esc(title)}</text>',
        f'<line x1="{PAD}" y1="{PAD + plot_h}" x2="{PAD + plot_w}" y2="{PAD + plot_h}" stroke="#999"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{PAD + plot_h}" stroke="#999"/>',
        f'<text x="2" y="{PAD + 4}" font-size="10">100%</text>',
        f'<text x="8" y="{PAD + plot_h}" font-size="10">0%</text>',
    ]
    parts += [f'<text x="{x(i) - 3:.1f}" y="{HEIGHT - 14}" font-size="10">{i}</text>' for i in range(last + 1)]
    for number, (mode, values) in enumerate(sorted(series.items())):
        colour = COLOURS[number % len(COLOURS)]
        dash = ' stroke-dasharray="5,3"' if mode.rsplit("/", 1)[-1] == "static" else ""
        coordinates = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in sorted(values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{coordinates}"/>')
        parts += [f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"><title>{esc(mode)} '
                  f'iteration {i}: {100 * v:.1f}%</title></circle>' for i, v in values]
        parts.append(f'<text x="{WIDTH - 4}" y="{16 + 12 * number}" font-size="10" fill="{colour}" '
                     f'text-anchor="end">{esc(mode)}</text>')
    return Safe(f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
                f'role="img" aria-label="{esc(title)}">{"".join(parts)}</svg>')
