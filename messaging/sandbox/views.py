"""The sandbox over HTTP: Meta's Graph API endpoints, and the customer's phone pages.

Every view answers 404 unless `settings.SANDBOX_ENABLED` is true, checked per request, so the URLs
can always be included and a test (or an operator) can switch the sandbox on and off.
"""

import base64
import functools
import json
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from messaging.sandbox import emulator
from messaging.sandbox.emulator import GraphError

DEFAULT_CUSTOMER_NUMBER = "+39 333 123 4567"
DEFAULT_CUSTOMER_NAME = "Demo Customer"
DEFAULT_TEMPLATE_PAGE_SIZE = 2  # small on purpose, so clients exercise paging


def sandbox_only(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not getattr(settings, "SANDBOX_ENABLED", False):
            raise Http404("The sandbox is disabled.")
        return view(request, *args, **kwargs)

    return wrapper


def graph_view(view):
    """A Graph endpoint: sandbox only, no CSRF (API clients), errors in Meta's shape."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except GraphError as exc:
            return JsonResponse(exc.body(), status=exc.http_status)

    return csrf_exempt(sandbox_only(wrapper))


def authorize(request, token: str) -> None:
    if not emulator.bearer_matches(request.headers.get("Authorization", ""), token):
        raise emulator.invalid_token()


def subscription_or_error(phone_number_id: str, method: str) -> emulator.Subscription:
    sub = emulator.subscription_for_number(phone_number_id)
    if sub is None:
        raise emulator.no_such_object(phone_number_id, method)
    return sub


# --- Graph API ---------------------------------------------------------------------------------


@graph_view
@require_POST
def graph_messages(request, version, phone_number_id):
    sub = subscription_or_error(phone_number_id, "post")
    authorize(request, sub.access_token)
    try:
        payload = json.loads(request.body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise GraphError(100, "Invalid parameter", "The request body is not a JSON object.")
    if payload.get("status") == "read":
        if not payload.get("message_id"):
            raise emulator.missing("message_id")
        typing = (payload.get("typing_indicator") or {}).get("type") == "text"
        if not emulator.mark_read(phone_number_id, str(payload["message_id"]), typing):
            raise emulator.invalid("Invalid WhatsApp message ID")
        return JsonResponse({"success": True})
    return JsonResponse(emulator.accept_send(sub, payload))


@graph_view
@require_POST
def graph_media_upload(request, version, phone_number_id):
    sub = subscription_or_error(phone_number_id, "post")
    authorize(request, sub.access_token)
    if request.POST.get("messaging_product") != "whatsapp":
        raise GraphError(100, "The parameter messaging_product is required.", "messaging_product")
    upload = request.FILES.get("file")
    if upload is None:
        raise emulator.missing("file")
    mime = (request.POST.get("type") or upload.content_type or "").split(";")[0].strip().lower()
    if mime not in emulator.MEDIA_MIME_TYPES and not mime.startswith("application/"):
        raise GraphError(131053, "Media upload error", f"Unsupported mime type {mime or '?'}.")
    media = emulator.store_media(phone_number_id, upload.read(), mime, upload.name or "")
    return JsonResponse({"id": media.id})


@graph_view
@require_http_methods(["GET", "DELETE"])
def graph_object(request, version, object_id):
    """GET a media id, a WABA id or a phone-number-id; DELETE a media id."""
    method = request.method.lower()
    media = emulator.get_media(object_id)
    if media is not None:
        sub = emulator.subscription_for_number(media.phone_number_id)
        authorize(request, sub.access_token if sub else "")
        if request.method == "DELETE":
            emulator.delete_media(object_id)
            return JsonResponse({"success": True})
        url = reverse("sandbox:media_download", args=[media.id])
        return JsonResponse(
            {
                "messaging_product": "whatsapp",
                "url": request.build_absolute_uri(url),
                "mime_type": media.mime_type,
                "sha256": media.sha256_hex,
                "file_size": str(len(media.data)),
                "id": media.id,
            }
        )
    if request.method == "GET":
        account = emulator.account_for_waba(object_id)
        if account is not None:
            authorize(request, (account.secrets or {}).get("access_token", ""))
            return JsonResponse({"id": object_id, "name": account.description})
        sub = emulator.subscription_for_number(object_id)
        if sub is not None:
            authorize(request, sub.access_token)
            return JsonResponse(
                {
                    "verified_name": sub.channel_name,
                    "display_phone_number": sub.display_number,
                    "id": object_id,
                    "quality_rating": "GREEN",
                }
            )
    raise emulator.no_such_object(object_id, method)


@graph_view
@require_GET
def media_download(request, media_id):
    media = emulator.get_media(media_id)
    if media is None:
        raise emulator.no_such_object(media_id)
    sub = emulator.subscription_for_number(media.phone_number_id)
    authorize(request, sub.access_token if sub else "")
    return HttpResponse(media.data, content_type=media.mime_type)


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"sandbox:{index}".encode()).decode()


def _uncursor(cursor: str) -> int:
    try:
        tag, _, index = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if tag == "sandbox":
            return int(index)
    except ValueError:
        pass
    raise GraphError(100, "Invalid parameter", "The paging cursor is not valid.")


def _page_url(request, **params) -> str:
    query = request.GET.copy()
    for key in ("after", "before"):
        query.pop(key, None)
    query.update(params)
    return request.build_absolute_uri(request.path) + "?" + query.urlencode()


def _matches(template: dict, query) -> bool:
    for key in ("status", "category", "language"):
        wanted = query.get(key)
        if wanted and template[key].lower() != wanted.lower():
            return False
    return query.get("name", "").lower() in template["name"].lower()


@graph_view
@require_GET
def graph_templates(request, version, waba_id):
    account = emulator.account_for_waba(waba_id)
    if account is None:
        raise emulator.no_such_object(waba_id)
    authorize(request, (account.secrets or {}).get("access_token", ""))
    try:
        limit = max(1, min(100, int(request.GET.get("limit", DEFAULT_TEMPLATE_PAGE_SIZE))))
    except ValueError:
        raise GraphError(100, "Invalid parameter", "limit must be a number.") from None
    templates = [t for t in emulator.DEMO_TEMPLATES if _matches(t, request.GET)]
    if request.GET.get("fields"):
        fields = {*request.GET["fields"].split(","), "id"}
        templates = [{k: v for k, v in t.items() if k in fields} for t in templates]

    if request.GET.get("after"):
        start = _uncursor(request.GET["after"]) + 1
    elif request.GET.get("before"):
        start = max(0, _uncursor(request.GET["before"]) - limit)
    else:
        start = 0
    page = templates[start : start + limit]
    body = {"data": page}
    if page:
        end = start + len(page)
        cursors = {"before": _cursor(start), "after": _cursor(end - 1)}
        body["paging"] = {"cursors": cursors}
        if end < len(templates):
            body["paging"]["next"] = _page_url(request, limit=limit, after=cursors["after"])
        if start > 0:
            body["paging"]["previous"] = _page_url(request, limit=limit, before=cursors["before"])
    return JsonResponse(body)


# --- The customer's phone ----------------------------------------------------------------------


@sandbox_only
@require_GET
def index(request):
    error = ""
    if "number" in request.GET:
        wa_id = emulator.customer_key(request.GET["number"])
        channel_id = request.GET.get("channel", "")
        if wa_id and channel_id:
            name = request.GET.get("name", "").strip() or DEFAULT_CUSTOMER_NAME
            url = reverse("sandbox:chat", args=[channel_id, wa_id])
            return redirect(f"{url}?{urlencode({'name': name})}")
        error = "Pick a channel and type a phone number or a username."
    graph_base = f"{settings.PUBLIC_BASE_URL}/sandbox/graph"
    return render(
        request,
        "sandbox/index.html",
        {
            "channels": emulator.sandbox_channels(),
            "error": error,
            "number": request.GET.get("number", DEFAULT_CUSTOMER_NUMBER),
            "name": request.GET.get("name", DEFAULT_CUSTOMER_NAME),
            "error_numbers": [
                (f"+39 333 123 {suffix}", effect)
                for suffix, effect in emulator.ERROR_NUMBERS.items()
            ],
            "graph_base": graph_base,
            "graph_base_ok": graph_base == settings.GRAPH_API_BASE_URL,
            "current_graph_base": settings.GRAPH_API_BASE_URL,
        },
    )


def _chat_subscription(phone_number_id):
    sub = emulator.subscription_for_number(phone_number_id)
    if sub is None:
        raise Http404("No WhatsApp Cloud channel has this phone-number-id.")
    return sub


@sandbox_only
@require_GET
def chat(request, phone_number_id, wa_id):
    sub = _chat_subscription(phone_number_id)
    # ?phone= : a username customer shares a number; their next messages carry it too.
    customer = emulator.customer(sub, wa_id, phone=request.GET.get("phone", ""))
    name = (
        request.GET.get("name")
        or emulator.snapshot(phone_number_id, wa_id)["name"]
        or DEFAULT_CUSTOMER_NAME
    )
    return render(
        request,
        "sandbox/chat.html",
        {"sub": sub, "wa_id": wa_id, "name": name, "customer": customer},
    )


@sandbox_only
@require_GET
def chat_state(request, phone_number_id, wa_id):
    _chat_subscription(phone_number_id)
    return JsonResponse(emulator.snapshot(phone_number_id, wa_id))


@sandbox_only
@require_POST
def chat_send(request, phone_number_id, wa_id):
    """The customer did something: post its webhook now and tell the page Switchboard's answer."""
    sub = _chat_subscription(phone_number_id)
    try:
        action = json.loads(request.body)
        if not isinstance(action, dict):
            raise ValueError
    except ValueError:
        return JsonResponse({"error": "Send a JSON object."}, status=400)
    try:
        if action.get("kind") == "resend":
            entry, status = emulator.resend(sub, wa_id, str(action.get("message_id")))
        else:
            name = str(action.get("name") or "").strip() or DEFAULT_CUSTOMER_NAME
            entry, status = emulator.customer_sends(sub, wa_id, name, action)
    except emulator.CustomerError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(
        {"message_id": entry.id, "webhook_url": sub.webhook_url, "webhook_status": status}
    )
