"""Charts for the studio as inline SVG, drawn on the server: no script, no library, and no
``style=`` attribute anywhere (the page's Content-Security-Policy allows no inline styles),
only SVG presentation attributes (``fill=``, ``stroke=``, ``font-size=``) and ``class=``.

Every chart is a ``<figure>``: an ``<svg role="img">`` labelled by its ``<title>`` and
described by a ``<desc>`` that says the figures in words (for screen readers), then a
``<figcaption>``. Every value from outside (titles, labels, series names) is escaped, and the
output is well-formed XML as well as HTML. Text and axes are drawn in ``currentColor`` and the
series in a palette of six mid-tone colours, so a chart reads on a light or a dark page.

Values that are not finite or are negative count as 0; a chart with nothing above 0 draws its
axes and says "no data"."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from bot.contract import texts

__all__ = [
    "NO_DATA",
    "PALETTE",
    "Series",
    "bar_chart",
    "format_value",
    "line_chart",
    "nice_ceiling",
    "share_chart",
]

#: six colours told apart by hue and lightness (after Okabe and Ito), mid-tones that keep
#: their contrast on a white and on a near-black page; a seventh series reuses the first
PALETTE = ("#3a86d4", "#e69f00", "#009e73", "#d55e00", "#9b6bd6", "#cc79a7")
#: what an empty chart says in its plot area and its description
NO_DATA = texts.CHART_NO_DATA

_FONT = 11  # px, in the SVG's own units
_CHAR_W = _FONT * 0.6  # a rough average glyph width, for layout only
_MAX_X_LABELS = 12
_LEGEND_ROW = 16
_MIN_WIDTH, _MIN_HEIGHT = 160, 60
_ids = itertools.count(1)
# characters XML 1.0 does not allow (html.escape leaves them; a parser would refuse them)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Series:
    """One named row of values, one per bucket (label) of the chart."""

    name: str  # legend label
    values: tuple[float, ...]  # one per bucket


@dataclass(frozen=True)
class _Plot:
    """The plot area inside the SVG's viewBox (y grows downwards)."""

    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float

    @property
    def w(self) -> float:
        return self.right - self.left

    @property
    def h(self) -> float:
        return self.bottom - self.top


# --- small pieces ---------------------------------------------------------------------------


def _esc(text: str) -> str:
    return escape(_NOT_XML.sub("", str(text)), quote=True)


def _n(x: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _clean(value: object) -> float:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return f if math.isfinite(f) and f > 0 else 0.0


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _clip(text: str, chars: int) -> str:
    chars = max(chars, 2)
    return text if len(text) <= chars else text[: chars - 1] + "\u2026"


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-")
    return slug or "chart"


def _new_id(title: str) -> str:
    return f"chart-{_slug(title)}-{next(_ids)}"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 x 10^k at or above ``value`` (1 for anything not above 0)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 5.0, 10.0):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10.0 * power  # pragma: no cover (10 always fits)


def _compact(value: float) -> str:
    """1234 -> 1.2k, 12345 -> 12k, 3.456 -> 3.5, 0.25 -> 0.25, 999 -> 999."""
    if value == 0:
        return "0"
    size = abs(value)
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if size >= scale * 0.9995:
            scaled = value / scale
            text = f"{scaled:.1f}" if abs(scaled) < 9.95 else f"{scaled:.0f}"
            if abs(float(text)) >= 1000 and suffix != "T":
                return _compact(float(text) * scale)  # 999.96k rounds up to 1M
            return text.removesuffix(".0") + suffix
    if size >= 9.95:
        return f"{value:.0f}" if size >= 99.5 else f"{value:.1f}".removesuffix(".0")
    if size >= 0.001:
        return f"{value:.2g}"
    return f"{value:.1e}"


def format_value(value: float, unit: str = "") -> str:
    """A value with its unit, compact: ``1.2k``, ``3.4 s``, ``250 ms``, ``2.5 min``, ``45%``.
    Seconds are shown in ms, s, min or h, whichever reads best."""
    if unit == "s" and value > 0:
        if value < 1:
            return f"{_compact(value * 1000)} ms"
        if value >= 3600:
            return f"{_compact(value / 3600)} h"
        if value >= 120:
            return f"{_compact(value / 60)} min"
    number = _compact(value)
    if not unit:
        return number
    return f"{number}{unit}" if unit == "%" else f"{number} {unit}"


# --- data ------------------------------------------------------------------------------------


def _grid(
    labels: Sequence[str], series: Sequence[Series]
) -> tuple[tuple[str, ...], tuple[tuple[float, ...], ...]]:
    """Labels and rows of clean values, all as long as the longest of them (short rows are
    padded with 0, missing labels with "")."""
    count = max([len(labels), *(len(s.values) for s in series)])
    names = tuple(str(label) for label in labels) + ("",) * (count - len(labels))
    rows = tuple(
        tuple(_clean(v) for v in s.values) + (0.0,) * (count - len(s.values)) for s in series
    )
    return names, rows


def _where(labels: Sequence[str], row: Sequence[float]) -> str:
    best = max(range(len(row)), key=row.__getitem__)
    return f" ({labels[best]})" if labels[best] else ""


def _describe_series(
    labels: tuple[str, ...],
    series: Sequence[Series],
    rows: Sequence[tuple[float, ...]],
    unit: str,
    totals: bool,
) -> list[str]:
    parts = []
    for s, row in zip(series[:6], rows, strict=False):
        first = (
            texts.CHART_TOTAL.format(value=format_value(sum(row), unit))
            if totals
            else texts.CHART_LATEST.format(value=format_value(row[-1], unit))
        )
        parts.append(
            texts.CHART_SERIES.format(
                name=s.name or "series",
                first=first,
                max=format_value(max(row), unit),
                where=_where(labels, row),
            )
        )
    if len(series) > 6:
        parts.append(texts.CHART_MORE.format(n=len(series) - 6))
    return parts


def _describe(
    labels: tuple[str, ...],
    series: Sequence[Series],
    rows: Sequence[tuple[float, ...]],
    unit: str,
    stacked: bool,
    with_totals: bool,
) -> str:
    if not rows or not labels or not any(any(row) for row in rows):
        return texts.CHART_NO_DATA_DESC
    if labels[0] or labels[-1]:
        span = texts.CHART_SPAN_FROM.format(n=len(labels), first=labels[0], last=labels[-1])
    else:
        span = texts.CHART_SPAN.format(n=len(labels)) + "."
    parts = [span]
    if stacked and len(rows) > 1:
        totals = tuple(sum(col) for col in zip(*rows, strict=True))
        parts.append(
            texts.CHART_ALL.format(
                total=format_value(sum(totals), unit),
                highest=format_value(max(totals), unit),
                where=_where(labels, totals),
            )
        )
    parts += _describe_series(labels, series, rows, unit, with_totals)
    return " ".join(parts)


# --- drawing ---------------------------------------------------------------------------------


def _figure(chart_id: str, title: str, desc: str, width: int, height: int, body: str) -> str:
    return (
        f'<figure class="chart" id="{chart_id}">'
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" role="img" '
        f'aria-labelledby="{chart_id}-title" aria-describedby="{chart_id}-desc" '
        f'viewBox="0 0 {width} {height}" font-size="{_FONT}">'
        f'<title id="{chart_id}-title">{_esc(title)}</title>'
        f'<desc id="{chart_id}-desc">{_esc(desc)}</desc>'
        f"{body}</svg>"
        f"<figcaption>{_esc(title)}</figcaption></figure>"
    )


def _legend(entries: Sequence[tuple[str, str]], width: int, top: float) -> tuple[str, int]:
    """Swatches and names in rows that fit ``width``; the markup and how many rows it took."""
    out: list[str] = []
    x, y, rows = 4.0, top, 1
    for index, (colour, name) in enumerate(entries):
        shown = _clip(name, 32)
        item = 14 + len(shown) * _CHAR_W + 14
        if x > 4 and x + item > width - 4:
            x, y, rows = 4.0, y + _LEGEND_ROW, rows + 1
        tip = f"<title>{_esc(name)}</title>" if shown != name else ""
        out.append(
            f'<g class="chart-legend-item" data-series="{index}">'
            f'<rect x="{_n(x)}" y="{_n(y + 2)}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{_n(x + 14)}" y="{_n(y + 11)}" fill="currentColor">'
            f"{_esc(shown)}{tip}</text></g>"
        )
        x += item
    return f'<g class="chart-legend">{"".join(out)}</g>', rows


def _y_axis(plot: _Plot, ymax: float, unit: str, empty: bool) -> str:
    ticks = (0.0,) if empty else (0.0, ymax / 2, ymax)
    out = []
    for tick in ticks:
        y = plot.bottom - (tick / ymax) * plot.h
        if tick:
            out.append(
                f'<line class="chart-grid" x1="{_n(plot.left)}" y1="{_n(y)}" '
                f'x2="{_n(plot.right)}" y2="{_n(y)}" stroke="currentColor" '
                f'stroke-opacity="0.2"/>'
            )
        out.append(
            f'<text class="chart-tick" x="{_n(plot.left - 6)}" y="{_n(y)}" dy="0.35em" '
            f'text-anchor="end" fill="currentColor">{_esc(format_value(tick, unit))}</text>'
        )
    out.append(
        f'<line class="chart-axis-y" x1="{_n(plot.left)}" y1="{_n(plot.top)}" '
        f'x2="{_n(plot.left)}" y2="{_n(plot.bottom)}" stroke="currentColor" '
        f'stroke-opacity="0.6"/>'
        f'<line class="chart-axis-x" x1="{_n(plot.left)}" y1="{_n(plot.bottom)}" '
        f'x2="{_n(plot.right)}" y2="{_n(plot.bottom)}" stroke="currentColor" '
        f'stroke-opacity="0.6"/>'
    )
    return "".join(out)


def _x_labels(plot: _Plot, labels: tuple[str, ...]) -> str:
    """At most 12 labels, fewer where they would overlap, each clipped to the room it has."""
    if not labels:
        return ""
    band = plot.w / len(labels)
    longest = min(max(len(label) for label in labels), 14)
    fits = max(1, int(plot.w // (longest * _CHAR_W + 8)))
    step = math.ceil(len(labels) / min(_MAX_X_LABELS, fits))
    room = int((band * step - 4) // _CHAR_W)
    out = []
    for i in range(0, len(labels), step):
        if not labels[i]:
            continue
        x = plot.left + (i + 0.5) * band
        out.append(
            f'<text class="chart-label" x="{_n(x)}" y="{_n(plot.bottom + 15)}" '
            f'text-anchor="middle" fill="currentColor">{_esc(_clip(labels[i], room))}</text>'
        )
    return f'<g class="chart-labels">{"".join(out)}</g>'


def _no_data(plot: _Plot) -> str:
    return (
        f'<text class="chart-empty" x="{_n(plot.left + plot.w / 2)}" '
        f'y="{_n(plot.top + plot.h / 2)}" dy="0.35em" text-anchor="middle" '
        f'fill="currentColor" fill-opacity="0.7">{_esc(NO_DATA)}</text>'
    )


def _tip(label: str, name: str, value: float, unit: str, named: bool) -> str:
    parts = [p for p in (label, name if named else "") if p]
    return f"<title>{_esc(': '.join([*parts, format_value(value, unit)]))}</title>"


def _rect(x: float, y: float, w: float, h: float, colour: str, index: int, tip: str) -> str:
    return (
        f'<rect class="chart-bar" data-series="{index}" x="{_n(x)}" y="{_n(y)}" '
        f'width="{_n(w)}" height="{_n(h)}" fill="{colour}">{tip}</rect>'
    )


def _bars(
    plot: _Plot,
    labels: tuple[str, ...],
    series: Sequence[Series],
    rows: Sequence[tuple[float, ...]],
    ymax: float,
    unit: str,
    stacked: bool,
) -> str:
    band = plot.w / len(labels)
    named = len(rows) > 1
    out = []
    for i, label in enumerate(labels):
        base = plot.bottom
        group = band * (0.7 if stacked else 0.8)
        bar_w = group if stacked else group / len(rows)
        for s, row in enumerate(rows):
            height = row[i] / ymax * plot.h
            x = plot.left + i * band + (band - group) / 2 + (0 if stacked else s * bar_w)
            if height <= 0:
                continue
            top = base - height
            tip = _tip(label, series[s].name, row[i], unit, named)
            out.append(_rect(x, top, bar_w, height, _colour(s), s, tip))
            if stacked:
                base = top
    return f'<g class="chart-bars">{"".join(out)}</g>'


def _lines(
    plot: _Plot,
    labels: tuple[str, ...],
    series: Sequence[Series],
    rows: Sequence[tuple[float, ...]],
    ymax: float,
    unit: str,
) -> str:
    band = plot.w / len(labels)
    named = len(rows) > 1
    out = []
    for s, row in enumerate(rows):
        points = [
            (plot.left + (i + 0.5) * band, plot.bottom - v / ymax * plot.h)
            for i, v in enumerate(row)
        ]
        colour = _colour(s)
        out.append(
            f'<polyline class="chart-line" data-series="{s}" fill="none" stroke="{colour}" '
            f'stroke-width="2" stroke-linejoin="round" '
            f'points="{" ".join(f"{_n(x)},{_n(y)}" for x, y in points)}"/>'
        )
        if len(points) <= 60:  # a dot per point, with its value, while they do not crowd
            out.extend(
                f'<circle class="chart-point" data-series="{s}" cx="{_n(x)}" cy="{_n(y)}" '
                f'r="2.5" fill="{colour}">{_tip(labels[i], series[s].name, row[i], unit, named)}'
                f"</circle>"
                for i, (x, y) in enumerate(points)
            )
    return f'<g class="chart-lines">{"".join(out)}</g>'


def _frame(
    width: int, height: int, series: Sequence[Series], ymax: float, unit: str
) -> tuple[_Plot, str]:
    """The plot area (room left for the tick labels, the legend and the x labels) and the
    legend's markup."""
    legend, rows = "", 0
    if len(series) > 1:
        legend, rows = _legend([(_colour(i), s.name) for i, s in enumerate(series)], width, 4)
    top = 8 + rows * _LEGEND_ROW + (6 if rows else 4)
    ticks = (format_value(t, unit) for t in (0.0, ymax / 2, ymax))
    left = max(32.0, max(len(t) for t in ticks) * _CHAR_W + 12)
    bottom = max(float(height - 22), top + 20)
    return _Plot(width, int(max(height, bottom + 22)), left, top, width - 12.0, bottom), legend


def _chart(
    kind: str,
    title: str,
    labels: tuple[str, ...],
    series: tuple[Series, ...],
    unit: str,
    stacked: bool,
    size: tuple[int, int],
) -> str:
    names, rows = _grid(labels, series)
    if stacked and rows:
        peak = max((sum(col) for col in zip(*rows, strict=True)), default=0.0)
    else:
        peak = max((max(row, default=0.0) for row in rows), default=0.0)
    empty = peak <= 0 or not names
    ymax = nice_ceiling(peak)
    width, height = max(size[0], _MIN_WIDTH), max(size[1], _MIN_HEIGHT)
    plot, legend = _frame(width, height, series, ymax, unit)
    body = [legend, _y_axis(plot, ymax, unit, empty), _x_labels(plot, names)]
    if empty:
        body.append(_no_data(plot))
    elif kind == "bar":
        body.append(_bars(plot, names, series, rows, ymax, unit, stacked))
    else:
        body.append(_lines(plot, names, series, rows, ymax, unit))
    desc = _describe(names, series, rows, unit, stacked and kind == "bar", kind == "bar")
    return _figure(_new_id(title), title, desc, plot.width, plot.height, "".join(body))


# --- the charts ------------------------------------------------------------------------------


def bar_chart(
    title: str,
    labels: tuple[str, ...],
    series: tuple[Series, ...],
    *,
    unit: str = "",
    stacked: bool = True,
    width: int = 640,
    height: int = 240,
) -> str:
    """Bars per label, one colour per series: stacked (the default) or side by side. The y
    axis runs from 0 to a round number (1, 2 or 5 x 10^k) at or above the highest bar."""
    return _chart("bar", title, labels, series, unit, stacked, (width, height))


def line_chart(
    title: str,
    labels: tuple[str, ...],
    series: tuple[Series, ...],
    *,
    unit: str = "",
    width: int = 640,
    height: int = 240,
) -> str:
    """A line per series over the labels (with a dot per point while there are at most 60)."""
    return _chart("line", title, labels, series, unit, False, (width, height))


def _share_desc(parts: Sequence[tuple[str, float]], total: float) -> str:
    if total <= 0:
        return texts.CHART_NO_DATA_DESC
    said = [f"{name}: {_percent(value, total)} ({format_value(value)})" for name, value in parts]
    return texts.CHART_SHARE_TOTAL.format(total=format_value(total), parts="; ".join(said))


def _percent(value: float, total: float) -> str:
    share = 100 * value / total if total > 0 else 0.0
    if 0 < share < 1:
        return f"{share:.1f}%"
    return f"{share:.0f}%"


def share_chart(
    title: str,
    parts: tuple[tuple[str, float], ...],
    *,
    width: int = 640,
    height: int = 80,
) -> str:
    """One horizontal bar split by share (say, the queue per server), with a legend that gives
    each part's percentage and value."""
    clean = [(str(name), _clean(value)) for name, value in parts]
    total = sum(value for _, value in clean)
    width = max(width, _MIN_WIDTH)
    bar = _Plot(width, height, 1.0, 4.0, width - 1.0, 28.0)
    legend, rows = _legend(
        [(_colour(i), f"{name} {_percent(value, total)}") for i, (name, value) in enumerate(clean)],
        width,
        bar.bottom + 6,
    )
    body = [
        f'<rect class="chart-track" x="{_n(bar.left)}" y="{_n(bar.top)}" width="{_n(bar.w)}" '
        f'height="{_n(bar.h)}" fill="none" stroke="currentColor" stroke-opacity="0.4"/>'
    ]
    if total <= 0:
        body.append(_no_data(bar))
    else:
        x = bar.left
        for i, (name, value) in enumerate(clean):
            w = value / total * bar.w
            if w > 0:
                tip = f"<title>{_esc(f'{name}: {_percent(value, total)}')}</title>"
                body.append(_rect(x, bar.top, w, bar.h, _colour(i), i, tip))
            x += w
    if clean:
        body.append(legend)
    needed = int(bar.bottom + 6 + rows * _LEGEND_ROW + 4) if clean else int(bar.bottom + 4)
    height = max(height, needed)
    desc = _share_desc(clean, total)
    return _figure(_new_id(title), title, desc, width, height, "".join(body))
