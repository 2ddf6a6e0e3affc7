"""Figures per row of a list, counted for the rows of one page rather than grouped over the
whole table before the sort (what an annotated Count does)."""

from django.db.models import Count


def totals_for(queryset, *, field: str, ids) -> dict[int, int]:
    """`field` value -> number of rows of `queryset` having it, for the `ids` given only."""
    rows = (
        queryset.filter(**{f"{field}__in": list(ids)})
        .order_by()
        .values(field)
        .annotate(total=Count("pk"))
        .values_list(field, "total")
    )
    return dict(rows)
