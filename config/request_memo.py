"""Values a web request reads once: a sales rep's client ids are asked for by the list, the ticket
and conversation selectors and the page's side panels of one request, each a UNION over the
contacts. Kept for the request that read them and forgotten with it, and forgotten at once when
the request writes anything (a claim, a hand-over, a new deal may change what a person sees);
outside a request (tasks, the shell, a service called directly) nothing is kept.
"""

from contextvars import ContextVar

from django.db import connection

_memo: ContextVar[dict | None] = ContextVar("request_memo", default=None)


class RequestMemoMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        memo: dict = {}
        token = _memo.set(memo)
        try:
            with connection.execute_wrapper(_forget_on_write(memo)):
                return self.get_response(request)
        finally:
            _memo.reset(token)


def _forget_on_write(memo: dict):
    def wrapper(execute, sql, params, many, context):
        if memo and sql.lstrip("( ")[:6].upper() != "SELECT":
            memo.clear()
        return execute(sql, params, many, context)

    return wrapper


def request_memo(key, compute):
    """`compute()`, once per request for `key` while the request has written nothing since."""
    memo = _memo.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]
