"""The reports' charts, drawn as SVG on the server with pygal: no script and no CDN, so the page
works offline and prints. Labels arrive translated; pygal escapes them."""

import functools
import hashlib
import json

import pygal
from django.core.cache import cache
from django.utils import translation
from django.utils.translation import gettext as _
from pygal.etree import etree
from pygal.style import Style

STYLE = Style(
    background="transparent",
    plot_background="#ffffff",
    foreground="#1f2933",
    foreground_strong="#1f2933",
    foreground_subtle="#d9e2ec",
    colors=("#128c7e", "#b44d12", "#1e88e5", "#616e7c", "#8e24aa", "#c62828"),
    font_family="system-ui, -apple-system, 'Segoe UI', sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=12,
    title_font_size=14,
)
COMMON = {
    "style": STYLE,
    "js": [],  # pygal's default loads its tooltip script from a CDN
    "disable_xml_declaration": True,
    "width": 900,
    "height": 320,
    "legend_at_bottom": True,
    "print_values": False,
    "show_minor_x_labels": False,
    "truncate_label": 24,
}
MAX_BARS = 15


def _render(chart) -> str:
    """The chart's SVG without pygal's inline config script: the page runs no chart code, and
    a label (an agent's name) can never end up inside a script element."""
    tree = chart.render_tree()
    for parent in tree.iter():
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.endswith("script"):
                parent.remove(child)
    return etree.tostring(tree, encoding="unicode")


def _day_labels(rows) -> dict:
    labels = [row["day"].strftime("%d/%m") for row in rows]
    # A dot per day is legible for a month; for a year it is 365 shapes that only slow drawing.
    return {
        "x_labels": labels,
        "x_labels_major_count": min(len(labels), 12),
        "show_dots": len(labels) <= 62,
    }


CACHE_SECONDS = 3600


def drawn_once(draw):
    """Drawing is most of a year's page (30-40 ms of CPU per chart): the same figures in the
    same language give the same picture, so it is kept, keyed by exactly what it shows."""

    @functools.wraps(draw)
    def cached(*args, **kwargs):
        shown = json.dumps(
            [draw.__name__, translation.get_language(), args, kwargs], default=str, sort_keys=True
        )
        key = "report-chart:" + hashlib.sha256(shown.encode()).hexdigest()
        svg = cache.get(key)
        if svg is None:
            svg = draw(*args, **kwargs)
            cache.set(key, svg, CACHE_SECONDS)
        return svg

    return cached


def _whole_numbers(chart, values) -> None:
    """Counts have no fractions: small ones get a tick per unit instead of 0.1 steps."""
    top = max(values, default=0)
    if top <= 10:
        chart.y_labels = list(range(0, top + 1 or 2))


@drawn_once
def chart_conversations(rows) -> str:
    chart = pygal.Line(title=_("Conversations per day"), dots_size=2, x_label_rotation=30, **COMMON)
    for key, value in _day_labels(rows).items():
        setattr(chart, key, value)
    chart.add(_("Opened"), [row["opened"] for row in rows])
    chart.add(_("Closed"), [row["closed"] for row in rows])
    _whole_numbers(chart, [v for row in rows for v in (row["opened"], row["closed"])])
    return _render(chart)


@drawn_once
def chart_queue(rows) -> str:
    chart = pygal.Line(title=_("Queue over time"), dots_size=2, x_label_rotation=30, **COMMON)
    for key, value in _day_labels(rows).items():
        setattr(chart, key, value)
    chart.add(_("Waiting at the end of the day"), [row["queue_waiting"] for row in rows])
    chart.add(_("Entered the queue"), [row["queue_entered"] for row in rows])
    _whole_numbers(chart, [v for row in rows for v in (row["queue_waiting"], row["queue_entered"])])
    return _render(chart)


@drawn_once
def chart_durations(rows, *, title: str) -> str:
    """Median and p90 in minutes of the busiest agents or channels (the table lists them all)."""
    shown = rows[:MAX_BARS]
    chart = pygal.HorizontalBar(title=title, **{**COMMON, "height": 120 + 28 * len(shown)})
    chart.x_labels = [row["label"] for row in shown]
    chart.add(_("Median (min)"), [round(row["median"] / 60, 1) for row in shown])
    chart.add(_("p90 (min)"), [round(row["p90"] / 60, 1) for row in shown])
    return _render(chart)


@drawn_once
def chart_messages(rows) -> str:
    chart = pygal.StackedBar(title=_("Messages per channel type"), **COMMON)
    chart.x_labels = [row["label"] for row in rows]
    chart.add(_("Received"), [row["in"] for row in rows])
    chart.add(_("Sent"), [row["out"] for row in rows])
    _whole_numbers(chart, [row["in"] + row["out"] for row in rows])
    return _render(chart)


@drawn_once
def chart_failures(rows) -> str:
    chart = pygal.Bar(title=_("Template send failures by code"), **COMMON)
    shown = rows[:MAX_BARS]
    chart.x_labels = [row["code"] or _("no code") for row in shown]
    chart.add(_("Failures"), [row["count"] for row in shown])
    _whole_numbers(chart, [row["count"] for row in shown])
    return _render(chart)
