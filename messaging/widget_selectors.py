"""Reads about website widgets: who sees them, and how many conversations each started, by day
and by page (one grouped query each, whatever the number of rows)."""

from datetime import timedelta

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from messaging.models import Conversation, Widget


def widget_list_visible_to(*, user) -> QuerySet[Widget]:
    """Every role reads the widgets (what the website offers is no secret inside the company)."""
    return Widget.objects.all()


def widget_started_by_day(*, widget: Widget, days: int = 30) -> list[tuple]:
    """(day, conversations started from `widget` that day), newest first, over `days` days."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        Conversation.objects.filter(widget=widget, opened_at__gte=since)
        .annotate(day=TruncDate("opened_at"))
        .values("day")
        .annotate(n=Count("pk"))
        .order_by("-day")
    )
    return [(row["day"], row["n"]) for row in rows]


def widget_started_by_page(*, widget: Widget, limit: int = 50) -> list[tuple[str, int]]:
    """(page, conversations started from it), most first."""
    rows = (
        Conversation.objects.filter(widget=widget)
        .values("widget_page")
        .annotate(n=Count("pk"))
        .order_by("-n", "widget_page")[:limit]
    )
    return [(row["widget_page"], row["n"]) for row in rows]
