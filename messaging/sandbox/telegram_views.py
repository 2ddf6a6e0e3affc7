"""The Telegram sandbox over HTTP: the Bot API at /sandbox/telegram/bot<token>/<method>, file
downloads, and the customer's chat pages. Sandbox only, like the WhatsApp part."""

import functools
import json
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from messaging.sandbox import telegram as tg
from messaging.sandbox.views import sandbox_only

DEFAULT_USER_ID = "5123456789"
DEFAULT_NAME = "Olivia Bennett"


def bot_api_view(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except tg.BotApiError as exc:
            return JsonResponse(exc.body(), status=exc.code)

    return csrf_exempt(sandbox_only(wrapper))


def _params(request) -> dict:
    """Parameters as Telegram takes them: query string, form, or a JSON body."""
    params = dict(request.GET.items())
    content_type = request.content_type or ""
    if content_type == "application/json" and request.body:
        try:
            body = json.loads(request.body)
        except ValueError:
            raise tg.BotApiError(400, "Bad Request: can't parse JSON object") from None
        if not isinstance(body, dict):
            raise tg.BotApiError(400, "Bad Request: can't parse JSON object")
        params.update(body)
    elif request.method == "POST":
        params.update(request.POST.items())
    return params


@bot_api_view
def bot_method(request, token, method):
    bot = tg.bot_for_token(token)
    method = method.lower()  # method names are case-insensitive
    params = _params(request)
    if method == "getme":
        return _ok(tg.get_me(bot))
    if method == "setwebhook":
        tg.set_webhook(bot, params)
        return _ok(
            True,
            description="Webhook was set" if params.get("url") else "Webhook is already deleted",
        )
    if method == "deletewebhook":
        tg.delete_webhook(bot)
        return _ok(True, description="Webhook was deleted")
    if method == "getwebhookinfo":
        return _ok(tg.webhook_info(bot))
    if method in tg.SEND_METHODS:
        return _ok(tg.bot_sends(bot, method, params))
    if method == "answercallbackquery":
        if not tg.callback_answer(bot, str(params.get("callback_query_id") or "")):
            raise tg.BotApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        return _ok(True)
    if method == "getfile":
        stored = tg.file_by_id(str(params.get("file_id") or ""))
        if stored is None:
            raise tg.BotApiError(400, "Bad Request: invalid file_id")
        return _ok(
            {
                "file_id": stored.file_id,
                "file_unique_id": f"AQAD{stored.file_id[-6:]}",
                "file_size": len(stored.data),
                "file_path": stored.path,
            }
        )
    if method == "getupdates" and tg.webhook_of(bot).get("url"):
        raise tg.BotApiError(409, "Conflict: can't use getUpdates method while webhook is active")
    raise tg.BotApiError(404, "Not Found")


@bot_api_view
@require_GET
def file_download(request, token, path):
    tg.bot_for_token(token)
    stored = tg.file_by_path(path)
    if stored is None:
        raise tg.BotApiError(404, "Not Found")
    return HttpResponse(stored.data, content_type=stored.mime_type)


def _ok(result, description: str = "") -> JsonResponse:
    body = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return JsonResponse(body)


# The customer's side


@sandbox_only
@require_GET
def index(request):
    error = ""
    if "user_id" in request.GET:
        user_id = request.GET["user_id"].strip()
        bot_id = request.GET.get("bot", "")
        if user_id.isdigit() and bot_id:
            query = {"name": request.GET.get("name", "").strip() or DEFAULT_NAME}
            if request.GET.get("username", "").strip():
                query["username"] = request.GET["username"].strip().lstrip("@")
            url = reverse("sandbox:telegram:chat", args=[bot_id, user_id])
            return redirect(f"{url}?{urlencode(query)}")
        error = "Pick a bot and type a numeric Telegram user id."
    api_base = f"{settings.PUBLIC_BASE_URL}/sandbox/telegram"
    return render(
        request,
        "sandbox/telegram/index.html",
        {
            "bots": tg.bots(),
            "error": error,
            "user_id": request.GET.get("user_id", DEFAULT_USER_ID),
            "name": request.GET.get("name", DEFAULT_NAME),
            "api_base": api_base,
            "api_base_ok": api_base == settings.TELEGRAM_API_BASE_URL,
            "current_api_base": settings.TELEGRAM_API_BASE_URL,
        },
    )


def _bot_or_404(bot_id: str) -> tg.Bot:
    bot = tg.bot_by_id(bot_id)
    if bot is None:
        raise Http404("No Telegram bot channel has this id.")
    return bot


@sandbox_only
@require_GET
def chat(request, bot_id, user_id):
    bot = _bot_or_404(bot_id)
    customer = tg.customer(
        bot,
        int(user_id),
        name=request.GET.get("name", DEFAULT_NAME),
        username=request.GET.get("username", ""),
    )
    return render(
        request,
        "sandbox/telegram/chat.html",
        {
            "bot": bot,
            "customer": customer,
            "webhook": tg.webhook_of(bot).get("url", ""),
        },
    )


@sandbox_only
@require_GET
def chat_state(request, bot_id, user_id):
    _bot_or_404(bot_id)
    found = tg.find_customer(bot_id, user_id)
    if found is None:
        raise Http404("No such sandbox chat.")
    return JsonResponse(tg.snapshot(found))


@sandbox_only
@require_POST
def chat_send(request, bot_id, user_id):
    bot = _bot_or_404(bot_id)
    found = tg.find_customer(bot_id, user_id)
    if found is None:
        raise Http404("Open the chat first.")
    try:
        payload = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "The body is not JSON."}, status=400)
    try:
        update, status = tg.customer_sends(bot, found, payload)
    except tg.CustomerError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"update": update, "webhook_status": status, **tg.snapshot(found)})
