"""What a request reads once it keeps for itself: only within the request, and not past a write
(config/request_memo.py)."""

import itertools

import pytest
from django.test import RequestFactory

from config.request_memo import RequestMemoMiddleware, request_memo
from crm.models import Contact

pytestmark = pytest.mark.django_db


def counting():
    calls = itertools.count(1)
    return lambda: next(calls)


def in_a_request(view):
    return RequestMemoMiddleware(view)(RequestFactory().get("/"))


def test_a_request_computes_once_and_the_next_request_afresh():
    compute = counting()

    def view(request):
        return [request_memo("k", compute), request_memo("k", compute)]

    assert in_a_request(view) == [1, 1]
    assert in_a_request(view) == [2, 2]


def test_outside_a_request_nothing_is_kept():
    compute = counting()
    assert [request_memo("k", compute), request_memo("k", compute)] == [1, 2]


def test_a_write_in_the_request_forgets_what_was_read():
    compute = counting()

    def view(request):
        first = request_memo("k", compute)
        Contact.objects.filter(pk=0).exists()  # a read keeps it
        kept = request_memo("k", compute)
        Contact.objects.create(name="New client")  # a write forgets it
        return [first, kept, request_memo("k", compute)]

    assert in_a_request(view) == [1, 1, 2]
