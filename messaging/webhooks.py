"""Webhook endpoints: verify, store, enqueue, answer. No provider calls happen in the request."""

import logging

from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from messaging.providers import provider_class
from messaging.providers.base import WebhookRejected
from messaging.services import webhook_event_store
from messaging.webhook_accounts import webhook_account

logger = logging.getLogger(__name__)


@csrf_exempt
def whatsapp(request, account_key):
    """Meta's GET handshake and signed POSTs for one WhatsApp Cloud account."""
    try:
        account = webhook_account(platform="whatsapp_cloud", key=account_key)
    except DatabaseError:
        # Nothing stored, so nothing acknowledged: the provider retries once we are back.
        logger.exception("webhook account could not be read")
        return _unavailable()
    if account is None:
        return JsonResponse({"error": "Unknown webhook address."}, status=404)
    provider = provider_class("whatsapp_cloud")(settings=account.settings, secrets=account.secrets)

    if request.method == "GET":
        try:
            return HttpResponse(provider.handshake(params=request.GET), content_type="text/plain")
        except WebhookRejected as exc:
            return HttpResponseForbidden(str(exc))
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})

    body = request.body
    try:
        provider.verify_request(body=body, headers=request.headers)
        rejected = ""
    except WebhookRejected as exc:
        rejected = str(exc) or "Signature rejected."
    try:
        webhook_event_store(
            provider="whatsapp_cloud",
            account=account,
            body=body,
            headers=request.headers,
            rejected_reason=rejected,
        )
    except DatabaseError:
        # Not stored means not acknowledged: Meta retries for days, so nothing is lost.
        logger.exception("webhook could not be stored")
        return _unavailable()
    if rejected:
        return HttpResponseForbidden(rejected)
    return HttpResponse("OK")


def _unavailable() -> JsonResponse:
    return JsonResponse(
        {"error": "Temporarily unable to store the event."},
        status=503,
        headers={"Retry-After": "30"},
    )
