"""The sandbox's Twilio over HTTP: the REST API (account, Messages.json, media), the Content API,
and the customer's phone pages. Every view answers 404 unless `settings.SANDBOX_ENABLED`."""

import functools
import json
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from messaging.sandbox import twilio
from messaging.sandbox.twilio import TwilioError
from messaging.sandbox.views import sandbox_only

DEFAULT_CUSTOMER_NUMBER = "+39 333 765 4321"
DEFAULT_CUSTOMER_NAME = "Demo Customer"
DEFAULT_CONTENT_PAGE_SIZE = 2  # small on purpose, so clients exercise paging


def api_view(view):
    """A Twilio endpoint: sandbox only, no CSRF (API clients), errors in Twilio's shape."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except TwilioError as exc:
            return JsonResponse(exc.body(), status=exc.http_status)

    return csrf_exempt(sandbox_only(wrapper))


def _account(request, account_sid: str):
    account = twilio.account_authorized(account_sid, request.headers.get("Authorization", ""))
    if account is None:
        raise twilio.authenticate()
    return account


def _any_account(request):
    """The Content API has no SID in its path: the Basic credentials name the account."""
    import base64

    _, _, encoded = request.headers.get("Authorization", "").partition(" ")
    try:
        sid = base64.b64decode(encoded.strip()).decode().partition(":")[0]
    except ValueError:
        sid = ""
    return _account(request, sid)


# --- REST API ------------------------------------------------------------------------------------


@api_view
@require_GET
def account(request, account_sid):
    return JsonResponse(twilio.account_answer(_account(request, account_sid)))


@api_view
@require_POST
def messages(request, account_sid):
    found = _account(request, account_sid)
    return JsonResponse(twilio.accept_send(found, request.POST), status=201)


@api_view
@require_GET
def media(request, account_sid, message_sid, media_sid):
    _account(request, account_sid)
    found = twilio.get_media(account_sid, message_sid, media_sid)
    if found is None:
        raise twilio.not_found(request.path)
    return HttpResponse(found.data, content_type=found.mime_type)


# --- Content API ---------------------------------------------------------------------------------


def _content_resource(request, content: dict) -> dict:
    sid = content["sid"]
    base = request.build_absolute_uri(reverse("sandbox:twilio:content_list"))
    item = {k: v for k, v in content.items() if k != "approval"}
    return {
        **item,
        "url": f"{base}/{sid}",
        "links": {
            "approval_create": f"{base}/{sid}/ApprovalRequests/whatsapp",
            "approval_fetch": f"{base}/{sid}/ApprovalRequests",
        },
    }


@api_view
@require_GET
def content_list(request):
    _any_account(request)
    try:
        size = max(1, min(1000, int(request.GET.get("PageSize", DEFAULT_CONTENT_PAGE_SIZE))))
        page = max(0, int(request.GET.get("Page", 0)))
    except ValueError:
        raise TwilioError(20001, "PageSize and Page must be numbers.") from None
    contents = twilio.DEMO_CONTENT[page * size : (page + 1) * size]
    base = request.build_absolute_uri(request.path)

    def page_url(n):
        return f"{base}?{urlencode({'PageSize': size, 'Page': n})}"

    more = (page + 1) * size < len(twilio.DEMO_CONTENT)
    return JsonResponse(
        {
            "contents": [_content_resource(request, c) for c in contents],
            "meta": {
                "page": page,
                "page_size": size,
                "first_page_url": page_url(0),
                "previous_page_url": page_url(page - 1) if page else None,
                "url": page_url(page),
                "next_page_url": page_url(page + 1) if more else None,
                "key": "contents",
            },
        }
    )


@api_view
@require_GET
def content_approvals(request, content_sid):
    account = _any_account(request)
    content = twilio.find_content(content_sid)
    if content is None:
        raise twilio.not_found(request.path)
    return JsonResponse(
        {
            "sid": content_sid,
            "account_sid": account.settings["account_sid"],
            "whatsapp": content["approval"],
            "url": request.build_absolute_uri(request.path),
        }
    )


# --- The customer's phone ------------------------------------------------------------------------


def _digits(text) -> str:
    return "".join(ch for ch in str(text or "") if ch.isdigit())


@sandbox_only
@require_GET
def index(request):
    error = ""
    if "number" in request.GET:
        phone = _digits(request.GET["number"])
        sender = request.GET.get("channel", "")
        if phone and sender:
            name = request.GET.get("name", "").strip() or DEFAULT_CUSTOMER_NAME
            url = reverse("sandbox:twilio:chat", args=[_digits(sender), phone])
            return redirect(f"{url}?{urlencode({'name': name})}")
        error = "Pick a sender and type a phone number."
    api_base = f"{settings.PUBLIC_BASE_URL}/sandbox/twilio/api"
    content_base = f"{settings.PUBLIC_BASE_URL}/sandbox/twilio/content"
    return render(
        request,
        "sandbox/twilio/index.html",
        {
            "lines": twilio.lines(),
            "error": error,
            "number": request.GET.get("number", DEFAULT_CUSTOMER_NUMBER),
            "name": request.GET.get("name", DEFAULT_CUSTOMER_NAME),
            "error_numbers": [
                (f"+39 333 765 {suffix}", effect) for suffix, effect in twilio.ERROR_NUMBERS.items()
            ],
            "api_base": api_base,
            "content_base": content_base,
            "bases_ok": (api_base, content_base)
            == (settings.TWILIO_API_BASE_URL, settings.TWILIO_CONTENT_API_BASE_URL),
        },
    )


def _line(sender_digits):
    line = twilio.line_for(f"whatsapp:+{sender_digits}")
    if line is None:
        raise Http404("No Twilio channel has this WhatsApp sender.")
    return line


@sandbox_only
@require_GET
def chat(request, sender, phone):
    line = _line(sender)
    name = (
        request.GET.get("name")
        or twilio.snapshot(line.sender, phone)["name"]
        or DEFAULT_CUSTOMER_NAME
    )
    return render(
        request,
        "sandbox/twilio/chat.html",
        {"line": line, "sender": sender, "phone": phone, "name": name},
    )


@sandbox_only
@require_GET
def chat_state(request, sender, phone):
    return JsonResponse(twilio.snapshot(_line(sender).sender, phone))


@sandbox_only
@require_POST
def chat_send(request, sender, phone):
    """The customer did something: post its signed webhook now and say Switchboard's answer."""
    line = _line(sender)
    try:
        action = json.loads(request.body)
        if not isinstance(action, dict):
            raise ValueError
    except ValueError:
        return JsonResponse({"error": "Send a JSON object."}, status=400)
    try:
        if action.get("kind") == "resend":
            entry, status = twilio.resend(line, phone, str(action.get("message_id")))
        else:
            name = str(action.get("name") or "").strip() or DEFAULT_CUSTOMER_NAME
            entry, status = twilio.customer_sends(line, phone, name, action)
    except twilio.CustomerError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(
        {"message_id": entry.id, "webhook_url": line.webhook_url, "webhook_status": status}
    )
