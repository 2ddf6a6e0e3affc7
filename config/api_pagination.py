"""List pagination for the REST API: numbered pages for most lists, a cursor for messages.

`page` and `page_size` are checked, not guessed: a value outside what the schema documents is a
400 naming the parameter (DRF alone would quietly use the default page size for `page_size=0` or
`page_size=null`). A page past the end is a 404.
"""

from django import forms
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination, PageNumberPagination

from config.api_filters import INT64_MAX, whole_number

MAX_PAGE_SIZE = 200


def _number(request, name: str, *, maximum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return whole_number(raw, minimum=1, maximum=maximum)
    except forms.ValidationError as exc:
        raise exceptions.ValidationError({name: exc.messages}) from None


def _bounded(parameters: list[dict], bounds: dict[str, dict]) -> list[dict]:
    for parameter in parameters:
        if parameter["name"] in bounds:
            parameter["schema"] = {**parameter["schema"], **bounds[parameter["name"]]}
    return parameters


class PagePagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    last_page_strings = ()  # `page` is a number, as the schema says

    def paginate_queryset(self, queryset, request, view=None):
        _number(request, self.page_query_param, maximum=INT64_MAX)
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request):
        size = _number(request, self.page_size_query_param, maximum=self.max_page_size)
        return self.page_size if size is None else size

    def get_schema_operation_parameters(self, view):
        return _bounded(
            super().get_schema_operation_parameters(view),
            {
                self.page_query_param: {"minimum": 1, "maximum": INT64_MAX},
                self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
            },
        )


class MessageCursorPagination(CursorPagination):
    """A conversation keeps growing while a client reads it: a cursor never skips or repeats."""

    ordering = ("created_at", "pk")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        size = _number(request, self.page_size_query_param, maximum=self.max_page_size)
        return self.page_size if size is None else size

    def get_schema_operation_parameters(self, view):
        return _bounded(
            super().get_schema_operation_parameters(view),
            {self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size}},
        )
