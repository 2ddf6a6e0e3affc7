"""The account page's buttons for providers whose account holds many channels and is told where
to post (Wazzup): "Import channels" and "Connect webhooks". Shown only where the provider says
it can (`Provider.lists_channels`, `Provider.subscribes_webhooks`)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse

from integrations.models import IntegrationAccount
from messaging.http import RemoteError
from messaging.providers import PROVIDERS
from messaging.services.provider_items import account_channels_import, account_webhooks_connect


def provider_account_context(account) -> dict:
    if account is None or account.platform not in PROVIDERS:
        return {}
    klass = PROVIDERS.get(account.platform)
    return {
        "lists_channels": klass.lists_channels,
        "subscribes_webhooks": klass.subscribes_webhooks,
    }


def provider_account_urls(model_admin) -> list:
    def action_view(do):
        def view(request, object_id):
            account = get_object_or_404(IntegrationAccount, pk=min(object_id, 2**63 - 1))
            if request.method == "POST" and model_admin.has_change_permission(request, account):
                do(model_admin, request, account)
            return redirect(
                reverse("admin:integrations_integrationaccount_change", args=[account.pk])
            )

        return model_admin.admin_site.admin_view(view)

    return [
        path(
            "<int:object_id>/channels-import/",
            action_view(_channels_import),
            name="integrations_account_channels_import",
        ),
        path(
            "<int:object_id>/webhooks-connect/",
            action_view(_webhooks_connect),
            name="integrations_account_webhooks_connect",
        ),
    ]


def _channels_import(model_admin, request, account) -> None:
    try:
        created, updated = account_channels_import(account=account)
    except RemoteError as exc:
        model_admin.message_user(request, f"Import failed: {exc.message}", messages.ERROR)
        return
    model_admin.message_user(
        request, f"Channels imported: {created} new, {updated} updated.", messages.SUCCESS
    )


def _webhooks_connect(model_admin, request, account) -> None:
    try:
        said = account_webhooks_connect(account=account)
    except RemoteError as exc:
        model_admin.message_user(
            request, f"Connecting webhooks failed: {exc.message}", messages.ERROR
        )
        return
    model_admin.message_user(request, f"Webhooks connected. {said}", messages.SUCCESS)
