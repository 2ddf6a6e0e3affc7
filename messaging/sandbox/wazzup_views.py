"""The Wazzup sandbox over HTTP: the v3 API Switchboard calls, and a page to play the customer
and the agent on their phone (see wazzup.py for the rules)."""

import functools
import json
from urllib.parse import urlencode

from django.apps import apps
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from messaging.sandbox import wazzup
from messaging.sandbox.views import sandbox_only
from messaging.webhook_accounts import webhook_url


def api_view(*, crm_route: bool):
    """A v3 endpoint: sandbox only, no CSRF, the Bearer key checked, errors in Wazzup's shape."""

    def decorate(view):
        @functools.wraps(view)
        @csrf_exempt
        @sandbox_only
        def wrapper(request, *args, **kwargs):
            try:
                acc = wazzup.authenticate(
                    request.headers.get("Authorization", ""), crm_route=crm_route
                )
                body = json.loads(request.body) if request.body else None
                return view(request, acc, body, *args, **kwargs)
            except wazzup.ApiError as exc:
                return JsonResponse(exc.body(), status=exc.status, safe=False)
            except ValueError:
                error = wazzup.ApiError(400, "VALIDATION_ERROR", "The body is not JSON")
                return JsonResponse(error.body(), status=400)

        return wrapper

    return decorate


@require_http_methods(["GET"])
@api_view(crm_route=False)
def channels(request, acc, body):
    return JsonResponse(wazzup.CHANNELS, safe=False)


@require_http_methods(["GET", "POST"])
@api_view(crm_route=True)
def entities(request, acc, body, route):
    _check_route(route)
    if request.method == "GET":
        items = sorted(getattr(acc, route).values(), key=lambda item: str(item.get("id")))
        if route in ("users", "pipelines"):
            return JsonResponse(items, safe=False)
        return JsonResponse({"count": len(items), "data": items[:100]})
    wazzup.entities_post(acc, route, body)
    acc.requests.append(("POST", route, body))
    return HttpResponse(status=200)


@require_http_methods(["PATCH"])
@api_view(crm_route=True)
def entities_bulk_delete(request, acc, body, route):
    _check_route(route)
    wazzup.entities_delete(acc, route, body)
    acc.requests.append(("PATCH", f"{route}/bulk_delete", body))
    return HttpResponse(status=200)


def _check_route(route: str) -> None:
    if route not in wazzup.REQUIRED:
        raise wazzup.ApiError(404, "NOT_FOUND", f"No route {route!r}")


@require_http_methods(["PATCH", "GET"])
@api_view(crm_route=False)
def webhooks(request, acc, body):
    if request.method == "GET":
        return JsonResponse({"webhooksUri": acc.webhooks_uri, "subscriptions": {}})
    return JsonResponse(wazzup.webhooks_patch(acc, body))


@require_http_methods(["POST"])
@api_view(crm_route=False)
def message(request, acc, body):
    return JsonResponse(wazzup.message_accept(acc, body), status=201)


@require_http_methods(["POST"])
@api_view(crm_route=True)
def iframe(request, acc, body):
    base = f"{request.scheme}://{request.get_host()}"
    return JsonResponse(wazzup.iframe_link(acc, body, base))


@xframe_options_exempt  # shown inside Switchboard's page, as Wazzup's own window is
@sandbox_only
def iframe_page(request, token):
    """What Wazzup's chat window would show: here, the request it was opened with."""
    opened = wazzup.iframe_request(token)
    chats = [
        " ".join(
            str(part)
            for part in (chat.get("chatType"), chat.get("chatId") or chat.get("username"))
            if part
        )
        + (f" {chat['name']}" if chat.get("name") else "")
        for chat in (opened or {}).get("filter") or []
        if isinstance(chat, dict)
    ]
    user = (opened or {}).get("user") or {}
    context = {
        "opened": opened,
        "user_name": user.get("name") or user.get("id", ""),
        "scope": (opened or {}).get("scope", ""),
        "chats": chats,
    }
    return render(request, "sandbox/wazzup/iframe.html", context)


# The page where a person plays the customer, or the agent on their phone


def _accounts():
    IntegrationAccount = apps.get_model("integrations", "IntegrationAccount")
    return list(IntegrationAccount.objects.filter(platform="wazzup", is_active=True))


def _emulated(account):
    """The emulator's side of a Switchboard account: known by its API key. Without a PATCH
    /webhooks since the last restart, the URL is what Switchboard would have sent."""
    acc = wazzup.account(account.secrets.get("api_key", ""))
    token = account.secrets.get("webhook_token")
    if not acc.webhooks_uri and token:
        acc.webhooks_uri = f"{webhook_url(account)}?key={token}"
    return acc


@sandbox_only
def index(request):
    accounts = _accounts()
    chosen = next((a for a in accounts if str(a.pk) == request.GET.get("account")), None)
    chosen = chosen or (accounts[0] if accounts else None)
    chat = {
        "channel": request.GET.get("channel") or wazzup.WHATSAPP_CHANNEL_ID,
        "chat_id": request.GET.get("chat") or "447700900123",
        "name": request.GET.get("name") or "Olivia Bennett",
    }
    acc = _emulated(chosen) if chosen else None
    context = {
        "accounts": accounts,
        "account": chosen,
        "channels": wazzup.CHANNELS,
        "chat": chat,
        "bubbles": wazzup.chat_bubbles(acc, chat["channel"], chat["chat_id"]) if acc else [],
        "users": sorted(acc.users.values(), key=lambda u: u.get("name", "")) if acc else [],
        "connected": bool(acc and acc.webhooks_uri),
        "said": request.GET.get("said", ""),
    }
    return render(request, "sandbox/wazzup/index.html", context)


@require_POST
@sandbox_only
def act(request):
    """One of the page's buttons: the customer writes, the agent writes from the phone, or the
    agent presses "create contact" in Wazzup."""
    account = next((a for a in _accounts() if str(a.pk) == request.POST.get("account")), None)
    if account is None:
        return redirect(reverse("sandbox:wazzup_index"))
    acc = _emulated(account)
    channel_id = request.POST.get("channel", "")
    chat_id = request.POST.get("chat", "").strip()
    name = request.POST.get("name", "").strip()
    text = request.POST.get("text", "").strip()
    said = ""
    try:
        if request.POST.get("do") == "customer" and text:
            wazzup.customer_writes(
                acc, channel_id=channel_id, chat_id=chat_id, name=name, text=text
            )
        elif request.POST.get("do") == "echo" and text:
            wazzup.agent_writes_from_phone(
                acc,
                channel_id=channel_id,
                chat_id=chat_id,
                user_id=request.POST.get("user", ""),
                text=text,
            )
        elif request.POST.get("do") == "create_contact":
            found = wazzup.channel(channel_id) or wazzup.CHANNELS[0]
            status, answer = wazzup.create_contact(
                acc,
                chat_type=wazzup.TRANSPORT_CHAT_TYPE[found["transport"]],
                chat_id=chat_id,
                name=name,
                user_id=request.POST.get("user", ""),
            )
            said = f"Switchboard answered {status}: contact {answer and answer.get('id')}"
    except wazzup.ApiError as exc:
        said = f"{exc.code}: {exc.description}"
    query = {"account": account.pk, "channel": channel_id, "chat": chat_id, "name": name}
    if said:
        query["said"] = said
    return redirect(reverse("sandbox:wazzup_index") + "?" + urlencode(query))
