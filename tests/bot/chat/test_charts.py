"""The studio's inline SVG charts (bot/chat/adapters/web/charts.py), read back as XML."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from bot.chat.adapters.web.charts import (
    NO_DATA,
    PALETTE,
    Series,
    bar_chart,
    format_value,
    line_chart,
    nice_ceiling,
    share_chart,
)

HOSTILE = '<script>&"'


def parse(markup: str) -> ET.Element:
    """The chart as an element tree, SVG's namespace taken off the tags."""
    root = ET.fromstring(markup)
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    return root


def svg_of(root: ET.Element) -> ET.Element:
    svg = root.find("svg")
    assert svg is not None
    return svg


def bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter("rect") if r.get("class") == "chart-bar"]


def plot_box(root: ET.Element) -> tuple[float, float]:
    """The plot's top and bottom, from the y axis line."""
    (axis,) = [line for line in root.iter("line") if line.get("class") == "chart-axis-y"]
    return float(axis.get("y1", "nan")), float(axis.get("y2", "nan"))


def texts_of(root: ET.Element, cls: str) -> list[str]:
    return [t.text or "" for t in root.iter("text") if t.get("class") == cls]


def every_chart(title: str = "Renders", label: str = "Mon") -> list[str]:
    two = (Series("ok", (3.0, 5.0)), Series(HOSTILE, (1.0, 2.0)))
    return [
        bar_chart(title, (label, "Tue"), two, unit="s"),
        bar_chart(title, (label, "Tue"), two, stacked=False),
        line_chart(title, (label, "Tue"), two, unit="%"),
        share_chart(title, ((label, 3.0), ("gpu-2", 1.0))),
    ]


@pytest.mark.parametrize("index", range(4))
def test_each_chart_is_a_figure_with_titled_described_svg(index: int) -> None:
    root = parse(every_chart("Renders per day")[index])
    assert root.tag == "figure"
    svg = svg_of(root)
    assert svg.get("role") == "img"
    assert svg.get("viewBox", "").startswith("0 0 ")
    title, desc = svg.find("title"), svg.find("desc")
    assert title is not None and desc is not None
    assert title.text == "Renders per day"
    assert svg.get("aria-labelledby") == title.get("id")
    assert svg.get("aria-describedby") == desc.get("id")
    assert desc.text and any(ch.isdigit() for ch in desc.text)  # the figures, in words
    caption = root.find("figcaption")
    assert caption is not None and caption.text == "Renders per day"
    assert list(root)[-1] is caption  # after the svg


def test_description_gives_the_figures() -> None:
    labels = ("Mon", "Tue", "Wed")
    root = parse(bar_chart("Renders", labels, (Series("ok", (1200.0, 3400.0, 10.0)),)))
    desc = svg_of(root).find("desc")
    assert desc is not None and desc.text is not None
    assert "3 points, Mon to Wed" in desc.text
    assert "total 4.6k" in desc.text and "max 3.4k (Tue)" in desc.text


@pytest.mark.parametrize("index", range(4))
def test_hostile_text_is_escaped_and_never_markup(index: int) -> None:
    markup = every_chart(title=HOSTILE, label=HOSTILE)[index]
    assert "<script" not in markup
    assert "&lt;script&gt;&amp;&quot;" in markup
    root = parse(markup)
    assert not [e for e in root.iter() if e.tag.lower() == "script"]
    title = svg_of(root).find("title")
    assert title is not None and title.text == HOSTILE  # escaped, so it reads back as itself
    assert any(HOSTILE in (e.text or "") for e in root.iter("text"))  # label or legend


def test_characters_xml_cannot_carry_are_dropped() -> None:
    root = parse(bar_chart("a\x00b\x1bc", ("x\x07",), (Series("s\x0b", (1.0,)),)))
    title = svg_of(root).find("title")
    assert title is not None and title.text == "abc"


@pytest.mark.parametrize("index", range(4))
def test_no_inline_style_anywhere(index: int) -> None:
    markup = every_chart(title=HOSTILE, label=HOSTILE)[index]
    assert "style" not in markup.lower()
    assert all("style" not in element.attrib for element in parse(markup).iter())


def test_ids_are_unique_across_charts_with_the_same_title() -> None:
    ids: list[str] = []
    for markup in every_chart("Same") + every_chart("Same"):
        ids += [e.get("id", "") for e in parse(markup).iter() if e.get("id")]
    assert len(ids) == len(set(ids)) == 8 * 3  # figure, title and desc of each
    assert all(i.startswith("chart-same-") for i in ids)


def test_tallest_bar_fills_the_plot_at_a_round_maximum() -> None:
    root = parse(bar_chart("T", ("a", "b", "c"), (Series("s", (25.0, 100.0, 50.0)),)))
    top, bottom = plot_box(root)
    heights = [float(r.get("height", "nan")) for r in bars(root)]
    assert max(heights) == pytest.approx(bottom - top, abs=1)
    tallest = max(bars(root), key=lambda r: float(r.get("height", "0")))
    assert float(tallest.get("y", "nan")) == pytest.approx(top, abs=1)
    assert heights[0] / heights[1] == pytest.approx(0.25, abs=0.01)  # proportional
    assert heights[2] / heights[1] == pytest.approx(0.5, abs=0.01)
    assert texts_of(root, "chart-tick") == ["0", "50", "100"]


def test_y_axis_ends_at_a_round_number_with_the_unit() -> None:
    root = parse(bar_chart("T", ("a", "b"), (Series("s", (3.4, 1.0)),), unit="s"))
    assert texts_of(root, "chart-tick") == ["0 s", "2.5 s", "5 s"]
    top, bottom = plot_box(root)
    tallest = max(float(r.get("height", "0")) for r in bars(root))
    assert tallest == pytest.approx((bottom - top) * 3.4 / 5, abs=1)


def test_stacked_bars_add_up_to_the_bucket_total() -> None:
    series = (Series("a", (10.0, 20.0)), Series("b", (30.0, 5.0)), Series("c", (0.0, 15.0)))
    root = parse(bar_chart("T", ("x", "y"), series))
    top, bottom = plot_box(root)  # peak 40 -> axis to 50
    columns: dict[str, list[ET.Element]] = {}
    for rect in bars(root):
        columns.setdefault(rect.get("x", ""), []).append(rect)
    assert len(columns) == 2
    for rects, total in zip(columns.values(), (40.0, 40.0), strict=True):
        height = sum(float(r.get("height", "nan")) for r in rects)
        assert height == pytest.approx((bottom - top) * total / 50, abs=0.1)
        highest = min(float(r.get("y", "nan")) for r in rects)
        assert highest == pytest.approx(bottom - height, abs=0.1)  # no gaps, no overlap
    assert texts_of(root, "chart-tick")[-1] == "50"


def test_grouped_bars_stand_side_by_side_on_the_baseline() -> None:
    series = (Series("a", (10.0,)), Series("b", (20.0,)))
    root = parse(bar_chart("T", ("x",), series, stacked=False))
    top, bottom = plot_box(root)
    a, b = bars(root)
    assert float(a.get("x", "0")) < float(b.get("x", "0"))
    for rect in (a, b):
        y, h = float(rect.get("y", "nan")), float(rect.get("height", "nan"))
        assert y + h == pytest.approx(bottom, abs=0.1)
    assert float(b.get("height", "nan")) == pytest.approx(bottom - top, abs=1)
    assert (a.get("fill"), b.get("fill")) == PALETTE[:2]


@pytest.mark.parametrize(
    "markup",
    [
        bar_chart("Empty", (), ()),
        bar_chart("No series", ("a", "b"), ()),
        bar_chart("Zeros", ("a", "b"), (Series("s", (0.0, 0.0)),)),
        bar_chart("Junk", ("a", "b"), (Series("s", (math.nan, -3.0)), Series("t", (-math.inf,)))),
        line_chart("Zeros", ("a", "b"), (Series("s", (0.0, 0.0)),)),
        line_chart("Empty", (), ()),
        share_chart("Empty", ()),
        share_chart("Zeros", (("a", 0.0), ("b", math.nan))),
    ],
)
def test_no_data_draws_the_frame_and_says_so(markup: str) -> None:
    root = parse(markup)
    assert texts_of(root, "chart-empty") == [NO_DATA]
    assert not bars(root) and root.find(".//polyline") is None
    desc = svg_of(root).find("desc")
    assert desc is not None and desc.text == "No data."
    if "chart-track" not in markup:  # bar and line charts keep their axes
        classes = {line.get("class") for line in root.iter("line")}
        assert {"chart-axis-x", "chart-axis-y"} <= classes
        assert texts_of(root, "chart-tick") == ["0"]


def test_nan_inf_and_negative_count_as_zero() -> None:
    values = (math.nan, math.inf, -5.0, 10.0)
    root = parse(bar_chart("T", ("a", "b", "c", "d"), (Series("s", values),)))
    (only,) = bars(root)
    title = only.find("title")
    assert title is not None and title.text == "d: 10"
    line = parse(line_chart("T", ("a", "b", "c", "d"), (Series("s", values),)))
    points = line.find(".//polyline")
    assert points is not None
    _, bottom = plot_box(line)
    ys = [float(p.split(",")[1]) for p in points.get("points", "").split()]
    assert ys[:3] == [bottom] * 3 and ys[3] < bottom


def test_short_series_and_missing_labels_are_padded() -> None:
    root = parse(bar_chart("T", ("a", "b", "c"), (Series("s", (1.0,)), Series("t", (1.0, 2.0)))))
    assert len(bars(root)) == 3
    root = parse(line_chart("T", ("a",), (Series("s", (1.0, 2.0, 3.0)),)))
    points = root.find(".//polyline")
    assert points is not None and len(points.get("points", "").split()) == 3


def test_x_labels_are_thinned_so_they_do_not_overlap() -> None:
    labels = tuple(f"2024-01-{i:02d}" for i in range(1, 101))
    root = parse(bar_chart("T", labels, (Series("s", tuple(float(i) for i in range(100))),)))
    shown = [t for t in root.iter("text") if t.get("class") == "chart-label"]
    assert 2 <= len(shown) <= 12
    xs = [float(t.get("x", "nan")) for t in shown]
    widths = [len(t.text or "") * 11 * 0.6 for t in shown]
    for (x1, w1), (x2, w2) in zip(
        zip(xs, widths, strict=True), zip(xs[1:], widths[1:], strict=True), strict=False
    ):
        assert x2 - x1 > (w1 + w2) / 2
    assert shown[0].text == "2024-01-01"
    few = parse(bar_chart("T", ("a", "b", "c"), (Series("s", (1.0, 2.0, 3.0)),)))
    assert texts_of(few, "chart-label") == ["a", "b", "c"]


def test_legend_only_for_several_series_and_colours_cycle_after_six() -> None:
    one = parse(bar_chart("T", ("a",), (Series("only", (1.0,)),)))
    assert one.find(".//g[@class='chart-legend']") is None
    many = tuple(Series(f"s{i}", (1.0,)) for i in range(8))
    root = parse(bar_chart("T", ("a",), many))
    legend = root.find(".//g[@class='chart-legend']")
    assert legend is not None
    assert [t.text for t in legend.iter("text")] == [f"s{i}" for i in range(8)]
    fills = [r.get("fill") for r in bars(root)]
    assert fills == [*PALETTE, PALETTE[0], PALETTE[1]]
    assert len(set(PALETTE)) == 6


def test_line_chart_draws_a_line_per_series_within_the_plot() -> None:
    series = (Series("p50", (1.0, 2.0, 4.0)), Series("p95", (2.0, 8.0, 3.0)))
    root = parse(line_chart("Latency", ("a", "b", "c"), series, unit="s"))
    top, bottom = plot_box(root)
    lines = list(root.iter("polyline"))
    assert [line.get("stroke") for line in lines] == list(PALETTE[:2])
    for line in lines:
        assert line.get("fill") == "none"
        for point in line.get("points", "").split():
            assert top - 0.01 <= float(point.split(",")[1]) <= bottom + 0.01
    p95 = [float(p.split(",")[1]) for p in lines[1].get("points", "").split()]
    assert min(p95) == pytest.approx(top + (bottom - top) * 0.2, abs=1)  # 8 of 10
    assert texts_of(root, "chart-tick") == ["0 s", "5 s", "10 s"]
    assert len(list(root.iter("circle"))) == 6


def test_share_chart_splits_the_bar_by_share() -> None:
    root = parse(share_chart("Queue", (("gpu-1", 3.0), ("gpu-2", 1.0), ("idle", 0.0))))
    (track,) = [r for r in root.iter("rect") if r.get("class") == "chart-track"]
    width = float(track.get("width", "nan"))
    a, b = bars(root)
    assert float(a.get("width", "nan")) == pytest.approx(width * 0.75, abs=0.02)
    assert float(b.get("width", "nan")) == pytest.approx(width * 0.25, abs=0.02)
    assert float(b.get("x", "nan")) == pytest.approx(
        float(a.get("x", "nan")) + float(a.get("width", "nan")), abs=0.02
    )
    legend = root.find(".//g[@class='chart-legend']")
    assert legend is not None
    assert [t.text for t in legend.iter("text")] == ["gpu-1 75%", "gpu-2 25%", "idle 0%"]
    desc = svg_of(root).find("desc")
    assert (
        desc is not None and desc.text == "Total 4. gpu-1: 75% (3); gpu-2: 25% (1); idle: 0% (0)."
    )


def test_share_chart_grows_to_fit_a_long_legend() -> None:
    parts = tuple((f"server-number-{i}", 1.0) for i in range(20))
    svg = svg_of(parse(share_chart("Q", parts)))
    height = float(svg.get("viewBox", "").split()[3])
    legend_ys = [float(r.get("y", "nan")) for r in svg.iter("rect") if r.get("width") == "10"]
    assert height > 80 and max(legend_ys) + 10 <= height


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.3, 0.5),
        (1.0, 1.0),
        (1.01, 2.0),
        (3.0, 5.0),
        (7.0, 10.0),
        (0.2, 0.2),
        (340.0, 500.0),
        (20_000.0, 20_000.0),
        (0.0, 1.0),
        (math.nan, 1.0),
    ],
)
def test_nice_ceiling_is_one_two_or_five_times_a_power_of_ten(
    value: float, expected: float
) -> None:
    assert nice_ceiling(value) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (0.0, "", "0"),
        (1234.0, "", "1.2k"),
        (12_345.0, "", "12k"),
        (999_960.0, "", "1M"),
        (2_500_000.0, "", "2.5M"),
        (999.0, "", "999"),
        (12.5, "", "12.5"),
        (3.4, "s", "3.4 s"),
        (0.25, "s", "250 ms"),
        (150.0, "s", "2.5 min"),
        (7200.0, "s", "2 h"),
        (45.0, "%", "45%"),
        (3.0, "GB", "3 GB"),
    ],
)
def test_values_are_formatted_compactly(value: float, unit: str, expected: str) -> None:
    assert format_value(value, unit) == expected
