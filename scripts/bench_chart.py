"""The echo benchmark's chart, as a hand-written SVG (no plotting library to install).

Two panels side by side, one line with markers per server: throughput (req/s, linear from
0) and p99 latency (ms, log scale: in a closed loop it grows about in proportion to the
connection count, across orders of magnitude) against connections (log scale). A legend
below names every server, including those without a point (not run or failed), so a
missing line is never silently missing. A white background keeps it legible in dark themes.

scripts/bench.py calls write_echo_chart after the echo benchmark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence
from xml.sax.saxutils import escape

WIDTH = 1000
PANEL_W, PANEL_H = 380, 300
PANEL_TOP = 70
PANEL_LEFTS = (80, 570)         # room on the left of each panel for its tick labels
LEGEND_TOP = PANEL_TOP + PANEL_H + 70
LEGEND_ROW_H = 24
FONT = 'font-family="Helvetica, Arial, sans-serif"'
# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), and a
# different marker per series for when colour is not enough.
COLOURS = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
MARKERS = ("circle", "square", "triangle", "diamond", "circle", "square")
# Log axes are padded by this factor at both ends so markers do not sit on the frame.
LOG_PAD = 1.35


@dataclass(frozen=True)
class Point:
    server: str
    conns: int
    rps: float
    p99_ms: float


Scale = Callable[[float], float]


def linear_scale(lo: float, hi: float, out_lo: float, out_hi: float) -> Scale:
    return lambda v: out_lo + (v - lo) / (hi - lo) * (out_hi - out_lo)


def log_scale(lo: float, hi: float, out_lo: float, out_hi: float) -> Scale:
    """Values below lo (a 0 would have no logarithm) are drawn at lo."""
    span = math.log10(hi) - math.log10(lo)
    return lambda v: out_lo + (math.log10(max(v, lo)) - math.log10(lo)) / span * (out_hi - out_lo)


def nice_step(span: float, min_steps: int = 5) -> float:
    """The largest 1, 2 or 5 times a power of ten step that cuts span into at least
    min_steps steps (at most about 2.5 times that many)."""
    raw = span / min_steps
    power = 10 ** math.floor(math.log10(raw))
    return max(m * power for m in (1, 2, 5) if m * power <= raw)


def linear_ticks(top: float) -> tuple[float, list[float]]:
    """Axis maximum (a whole number of steps at least 5% above `top`) and ticks from 0."""
    top = max(top, 1.0)   # an all-zero panel still gets an axis
    step = nice_step(top * 1.05)
    count = math.ceil(top * 1.05 / step)
    return count * step, [i * step for i in range(count + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten within [lo, hi]; with 1, 2, 5 in between when that gives too few."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    ticks = [10.0 ** d for d in decades if lo <= 10.0 ** d <= hi]
    if len(ticks) < 3:
        ticks = [m * 10.0 ** d for d in decades for m in (1, 2, 5) if lo <= m * 10.0 ** d <= hi]
    return ticks


def thousands(value: float) -> str:
    """Request rates: 120000 -> 120k, 2500 -> 2.5k, 0 -> 0."""
    return f"{value / 1e3:g}k" if value >= 1e3 else f"{value:g}"


def milliseconds(value: float) -> str:
    """Latencies: 2000 -> 2,000, 20 -> 20, 0.5 -> 0.5."""
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def text(x: float, y: float, content: str, size: int = 12, anchor: str = "middle",
         extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" {FONT} font-size="{size}" '
            f'text-anchor="{anchor}" fill="#222"{extra}>{escape(content)}</text>')


def marker(shape: str, x: float, y: float, colour: str) -> str:
    style = f'fill="{colour}" stroke="white" stroke-width="1"'
    if shape == "square":
        return f'<rect x="{x - 4.5:.1f}" y="{y - 4.5:.1f}" width="9" height="9" {style}/>'
    if shape == "triangle":
        return (f'<polygon points="{x:.1f},{y - 6:.1f} {x - 5.5:.1f},{y + 4:.1f} '
                f'{x + 5.5:.1f},{y + 4:.1f}" {style}/>')
    if shape == "diamond":
        return (f'<polygon points="{x:.1f},{y - 6:.1f} {x + 6:.1f},{y:.1f} {x:.1f},{y + 6:.1f} '
                f'{x - 6:.1f},{y:.1f}" {style}/>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" {style}/>'


@dataclass(frozen=True)
class Panel:
    left: float
    title: str
    y_label: str
    y_of: Callable[[Point], float]   # the figure this panel plots
    log_y: bool
    tick_label: Callable[[float], str]


def y_axis(panel: Panel, values: list[float]) -> tuple[Scale, list[float]]:
    """The panel's y scale (data to pixels) and its ticks."""
    bottom, top = PANEL_TOP + PANEL_H, PANEL_TOP
    if panel.log_y:
        positive = [v for v in values if v > 0] or [1.0]
        lo, hi = min(positive) / LOG_PAD, max(positive) * LOG_PAD
        return log_scale(lo, hi, bottom, top), log_ticks(lo, hi)
    y_max, ticks = linear_ticks(max(values))
    return linear_scale(0, y_max, bottom, top), ticks


def draw_panel(panel: Panel, servers: Sequence[str], points: Sequence[Point],
               conns: list[int]) -> list[str]:
    left, right, bottom = panel.left, panel.left + PANEL_W, PANEL_TOP + PANEL_H
    x_of = log_scale(min(conns) / LOG_PAD, max(conns) * LOG_PAD, left, right)
    y_of, y_ticks = y_axis(panel, [panel.y_of(p) for p in points])
    out = [f'<rect x="{left}" y="{PANEL_TOP}" width="{PANEL_W}" height="{PANEL_H}" '
           'fill="#fafafa" stroke="#999"/>',
           text(left + PANEL_W / 2, PANEL_TOP - 12, panel.title, 14, extra=' font-weight="bold"')]
    for tick in y_ticks:
        y = y_of(tick)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#e2e2e2"/>')
        out.append(text(left - 8, y + 4, panel.tick_label(tick), anchor="end"))
    for c in conns:
        x = x_of(c)
        out.append(f'<line x1="{x:.1f}" y1="{PANEL_TOP}" x2="{x:.1f}" y2="{bottom}" '
                   'stroke="#e2e2e2"/>')
        out.append(text(x, bottom + 18, f"{c:,}"))
    out.append(text(left + PANEL_W / 2, bottom + 42, "concurrent connections (log scale)", 13))
    mid_y = PANEL_TOP + PANEL_H / 2
    out.append(text(left - 58, mid_y, panel.y_label, 13,
                    extra=f' transform="rotate(-90 {left - 58} {mid_y})"'))
    for index, server in enumerate(servers):
        series = sorted((p for p in points if p.server == server), key=lambda p: p.conns)
        xy = [(x_of(p.conns), y_of(panel.y_of(p))) for p in series]
        colour = COLOURS[index % len(COLOURS)]
        if len(xy) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                       'stroke-width="2.2"/>')
        out += [marker(MARKERS[index % len(MARKERS)], x, y, colour) for x, y in xy]
    return out


def draw_legend(servers: Sequence[str], points: Sequence[Point]) -> tuple[list[str], float]:
    """The legend, wrapped into rows that fit the width; returns it and its bottom edge."""
    out, x, y = [], float(PANEL_LEFTS[0]), float(LEGEND_TOP)
    for index, server in enumerate(servers):
        label = server if any(p.server == server for p in points) else f"{server}: no data"
        width = 44 + 7.2 * len(label) + 28   # sample + estimated text width + gap
        if x + width > WIDTH - 20 and x > PANEL_LEFTS[0]:
            x, y = float(PANEL_LEFTS[0]), y + LEGEND_ROW_H
        colour = COLOURS[index % len(COLOURS)]
        out.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + 32:.1f}" y2="{y:.1f}" '
                   f'stroke="{colour}" stroke-width="2.2"/>')
        out.append(marker(MARKERS[index % len(MARKERS)], x + 16, y, colour))
        out.append(text(x + 40, y + 4.5, label, 13, anchor="start"))
        x += width
    return out, y + LEGEND_ROW_H


def echo_chart_svg(servers: Sequence[str], points: Sequence[Point], title: str) -> str:
    """The chart as SVG text. `servers` fixes the legend order and each server's colour;
    `points` are the verified runs (at least one)."""
    if not points:
        raise ValueError("no echo results to chart")
    conns = sorted({p.conns for p in points})
    panels = (
        Panel(PANEL_LEFTS[0], "Throughput (higher is better)", "requests per second",
              lambda p: p.rps, False, thousands),
        Panel(PANEL_LEFTS[1], "p99 latency (lower is better)", "p99 latency, ms (log scale)",
              lambda p: p.p99_ms, True, milliseconds),
    )
    body = [text(WIDTH / 2, 30, title, 16, extra=' font-weight="bold"')]
    for panel in panels:
        body += draw_panel(panel, servers, points, conns)
    legend, height = draw_legend(servers, points)
    body += legend
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}">',
        f'<rect width="{WIDTH}" height="{height:.0f}" fill="white"/>',
        *body,
        "</svg>",
        "",
    ])


def write_echo_chart(servers: Sequence[str], points: Sequence[Point], title: str,
                     path: Path) -> None:
    path.write_text(echo_chart_svg(servers, points, title))
