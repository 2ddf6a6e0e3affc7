"""Webhook endpoints: verify, store, enqueue, answer. No provider calls happen in the request.

One view serves every provider at /webhooks/<provider>/<account key>/; the provider decides how
a request is verified (and whether GET answers a handshake).
"""

import logging

from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseForbidden, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from messaging.providers import PROVIDERS
from messaging.providers.base import WebhookRejected
from messaging.services import webhook_event_store
from messaging.services.inbound import webhook_event_find
from messaging.services.provider_items import webhook_event_answer
from messaging.webhook_accounts import webhook_account
from messaging.webhook_request import webhook_request_from_django

logger = logging.getLogger(__name__)


@csrf_exempt
def webhook(request, provider, account_key):
    """A provider's GET handshake (where it has one) and its signed POSTs for one account."""
    if provider not in PROVIDERS:
        return JsonResponse({"error": f"Unknown provider {provider!r}."}, status=404)
    has_handshake = PROVIDERS.get(provider).has_handshake
    allowed = ("GET", "POST") if has_handshake else ("POST",)
    if request.method not in allowed:
        return HttpResponse(status=405, headers={"Allow": ", ".join(allowed)})
    try:
        target = webhook_account(provider=provider, key=account_key)
    except DatabaseError:
        # Nothing stored, so nothing acknowledged: the provider retries once we are back.
        logger.exception("webhook account could not be read")
        return _unavailable()
    if target is None:
        return JsonResponse({"error": "Unknown webhook address."}, status=404)
    webhook_request = webhook_request_from_django(request)

    if request.method == "GET":
        try:
            challenge = target.provider.handshake(webhook_request)
        except WebhookRejected as exc:
            return HttpResponseForbidden(str(exc))
        return HttpResponse(challenge, content_type="text/plain")

    try:
        target.provider.verify_request(webhook_request)
        rejected = ""
    except WebhookRejected as exc:
        rejected = str(exc) or "Signature rejected."
    delivery_key = None if rejected else target.provider.dedupe_key(webhook_request)
    try:
        event_id = webhook_event_store(
            provider=provider,
            account=target.account,
            channel=target.channel,
            body=webhook_request.body,
            headers=webhook_request.headers,
            query=request.META.get("QUERY_STRING", ""),
            rejected_reason=rejected,
            delivery_key=delivery_key,
        )
    except DatabaseError:
        # Not stored means not acknowledged: providers retry (Meta for days), so nothing is lost.
        logger.exception("webhook could not be stored")
        return _unavailable()
    if rejected:
        return HttpResponseForbidden(rejected)
    if target.provider.needs_answer(webhook_request):
        return _answer(target, webhook_request, event_id=event_id, delivery_key=delivery_key)
    return HttpResponse(type(target.provider).webhook_ack_body)


def _answer(target, webhook_request, *, event_id, delivery_key) -> HttpResponse:
    """The stored event processed now, answered with what the provider waits for (a created
    contact or deal). A repeated request is answered from its first event."""
    if event_id is None:
        event_id = webhook_event_find(
            provider=target.account.platform,
            account=target.account,
            channel=target.channel,
            body=webhook_request.body,
            delivery_key=delivery_key,
        )
    try:
        body = webhook_event_answer(event_id=event_id) if event_id else None
    except Exception:
        # Stored already: the drain processes it; the provider gets no entity this time.
        logger.exception("webhook event %s could not be answered", event_id)
        return _unavailable()
    if body is None:
        return HttpResponse("OK")
    return JsonResponse(body)


def webhook_urlpatterns() -> list:
    """The generic route, after the aliases a provider keeps for URLs configured at it before the
    generic route existed (they come first: `<slug:provider>` would take the alias as a key)."""
    aliases = [
        path(
            f"webhooks/{alias}/<uuid:account_key>/",
            webhook,
            {"provider": key},
            name=f"webhook-{alias}",
        )
        for key in PROVIDERS
        for alias in PROVIDERS.get(key).url_aliases
    ]
    return [
        *aliases,
        path("webhooks/<slug:provider>/<uuid:account_key>/", webhook, name="webhook"),
    ]


def _unavailable() -> JsonResponse:
    return JsonResponse(
        {"error": "Temporarily unable to store the event."},
        status=503,
        headers={"Retry-After": "30"},
    )
