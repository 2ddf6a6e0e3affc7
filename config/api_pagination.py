"""List pagination for the REST API: numbered pages for most lists, a cursor for messages."""

from rest_framework.pagination import CursorPagination, PageNumberPagination


class PagePagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


class MessageCursorPagination(CursorPagination):
    """A conversation keeps growing while a client reads it: a cursor never skips or repeats."""

    ordering = ("created_at", "pk")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
