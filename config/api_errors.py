"""One error body for every API error: `{"error": {"code", "message", "fields"}}`.

Clients branch on `code`; `message` is for people; `fields` maps input fields to their problems.
"""

import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from django.views import csrf
from django.views.csrf import CSRF_FAILURE_TEMPLATE_NAME
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "throttled",
    500: "server_error",
}


def error_body(*, status_code: int, message: str, code: str = "", fields=None) -> dict:
    return {
        "error": {
            "code": code or CODES.get(status_code, "error"),
            "message": message,
            "fields": fields or {},
        }
    }


def _flatten(detail):
    """DRF's nested error details as plain strings; nested serializers become dotted keys."""
    if isinstance(detail, dict):
        out = {}
        for key, value in detail.items():
            flat = _flatten(value)
            if isinstance(flat, dict):
                for sub, messages in flat.items():
                    out[f"{key}.{sub}"] = messages
            else:
                out[str(key)] = flat
        return out
    if isinstance(detail, list):
        if detail and all(isinstance(item, dict) for item in detail):
            out = {}
            for index, item in enumerate(detail):
                for sub, messages in _flatten(item).items():
                    out[f"{index}.{sub}"] = messages
            return out
        return [str(item) for item in detail]
    return [str(detail)]


class ApiError(exceptions.APIException):
    """An error with our own code, raised by API views (for example `outside_window`)."""

    def __init__(self, message: str, *, code: str, status_code: int = 400, fields=None):
        self.status_code = status_code
        self.error_code = code
        self.fields = fields or {}
        super().__init__(detail=message, code=code)


def api_exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, ValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )

    if not isinstance(exc, exceptions.APIException):
        # Still our shape, so a client parses every failure the same way; the details stay in
        # the log, never in the response.
        logger.exception("API request failed", exc_info=exc)
        set_rollback()
        return Response(
            error_body(status_code=500, message="Internal error; it has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, ApiError):
        body = error_body(
            status_code=exc.status_code,
            message=str(exc.detail),
            code=exc.error_code,
            fields=exc.fields,
        )
    elif isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        if isinstance(fields, list):
            fields = {"non_field_errors": fields}
        first = next(iter(fields.values()), ["Invalid input."])
        body = error_body(
            status_code=400,
            message=f"Invalid input: {first[0]}" if first else "Invalid input.",
            code="invalid",
            fields=fields,
        )
    else:
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else "Request failed."
        body = error_body(status_code=exc.status_code, message=message)
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


def is_api_path(request) -> bool:
    return request.path.startswith("/api/")


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """Unknown paths under /api/ answer in the API's shape instead of Django's HTML page.

    CSRF-exempt like every API view (DRF checks CSRF itself, for session logins only): without
    it, the CSRF middleware refuses a POST here before this 404 can answer.
    """
    message = f"No API endpoint at {request.path}."
    if not request.path.endswith("/"):
        message += " API paths end with a slash."
    return JsonResponse(error_body(status_code=404, message=message), status=404)


def api_error_page(request, *, status_code: int, message: str) -> JsonResponse:
    return JsonResponse(error_body(status_code=status_code, message=message), status=status_code)


def api_server_error(request, *args, **kwargs):
    return JsonResponse(
        error_body(status_code=500, message="Internal error; it has been logged."), status=500
    )


def csrf_failure(request, reason="", template_name=CSRF_FAILURE_TEMPLATE_NAME):
    """`CSRF_FAILURE_VIEW`: the API's shape under /api/, Django's page elsewhere."""
    if not is_api_path(request):
        return csrf.csrf_failure(request, reason=reason, template_name=template_name)
    message = f"CSRF check failed: {reason}" if reason else "CSRF check failed."
    return JsonResponse(
        error_body(status_code=403, message=message, code="csrf_failed"), status=403
    )
