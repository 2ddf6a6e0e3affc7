"""Admin lists that cost the same at a thousand rows and at a million.

- The count under a list reads at most the rows up to a few pages past the one shown (Django's
  would count every visible row, through the visibility joins, on every page view): the list
  says "1100+ conversations" and a person filters or searches to narrow it.
- No second count of the whole table (`show_full_result_count = False`).
- Figures per row (messages of a conversation, comments of a ticket) are counted for the rows of
  the page only, in one grouped query per figure, instead of a GROUP BY over the whole table
  before the sort: `page_rows_prepare` receives the page's rows.
- Each row's selection box is written directly: Django renders it through the form widget
  templates, a fifth of the time of a hundred-row page.
"""

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.paginator import Paginator
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext as _

from accounts.models import Role
from accounts.selectors import user_role

# How many pages past the one shown the count looks for.
LOOKAHEAD_PAGES = 10


class AtLeast(int):
    """A count that stopped looking: shown as "1100+"."""

    def __str__(self):
        return f"{int(self)}+"


class BoundedCountPaginator(Paginator):
    def __init__(self, object_list, per_page, *, page_number: int = 1, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.page_number = max(1, page_number)

    @cached_property
    def count(self) -> int:
        cap = (self.page_number + LOOKAHEAD_PAGES) * self.per_page
        # Only ids, no joins of the display: COUNT(*) over at most cap + 1 rows.
        found = self.object_list.order_by().values("pk")[: cap + 1].count()
        return AtLeast(cap) if found > cap else found


class PageRowsChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        self.result_list = list(self.result_list)
        self.model_admin.page_rows_prepare(self.result_list)


class BoundedListAdminMixin:
    show_full_result_count = False
    paginator = BoundedCountPaginator

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        try:
            page_number = int(request.GET.get(PAGE_VAR, 1))
        except ValueError:
            page_number = 1
        return self.paginator(
            queryset,
            per_page,
            page_number=page_number,
            orphans=orphans,
            allow_empty_first_page=allow_empty_first_page,
        )

    def get_changelist(self, request, **kwargs):
        return PageRowsChangeList

    def action_checkbox(self, obj):
        """The markup of Django's own (the actions script finds the box by class and name)."""
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            format_html(_("Select this object for an action - {}"), str(obj)),
        )

    def page_rows_prepare(self, rows: list) -> None:
        """Set what the list shows per row on the rows of one page (a query per figure)."""


class RelatedSeenFilter(admin.RelatedOnlyFieldListFilter):
    """RelatedOnlyFieldListFilter's choices (the related rows of the rows the viewer sees) for
    those who see some rows; those who see every row get every related row, without a
    SELECT DISTINCT over the whole table on each page view."""

    def field_choices(self, field, request, model_admin):
        sees_all = request.user.is_superuser or user_role(user=request.user) in (
            Role.MANAGER,
            Role.QUALITY_CONTROL,
        )
        if sees_all:
            return field.get_choices(
                include_blank=False, ordering=self.field_admin_ordering(field, request, model_admin)
            )
        return super().field_choices(field, request, model_admin)
