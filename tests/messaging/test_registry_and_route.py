"""The registries behind providers, connectors and platforms; the one error base; the one webhook
route with its alias; channel secrets and capabilities."""

import json
from unittest import mock

import pytest
from django.db import connection
from django.urls import reverse

from integrations.connectors import CONNECTORS, UnknownConnector, connector_class
from integrations.connectors.base import ConnectorError
from integrations.models import IntegrationAccount, Platform
from integrations.platforms import platform_choices, platform_class
from messaging.http import RemoteError
from messaging.models import Channel, WebhookEvent
from messaging.providers import PROVIDERS, UnknownProvider, provider_choices, provider_class
from messaging.providers.base import (
    Capabilities,
    MessageType,
    Provider,
    ProviderError,
    TemplateKind,
    WebhookRejected,
)
from messaging.providers.whatsapp_cloud import WhatsAppCloudProvider
from messaging.registry import Registry, UnknownKey
from messaging.webhook_accounts import webhook_url
from messaging.webhook_request import webhook_request, webhook_request_from_django

from .conftest import fixture_bytes, sign


class QuietProvider(Provider):
    """A provider with no handshake, registered only while a test runs."""

    key = "quiet"
    label = "Quiet test provider"
    channel_setting_fields = ("chat_id",)
    channel_secret_fields = ("bot_token",)
    capabilities = Capabilities(service_window_hours=None, max_text_length=100)

    @classmethod
    def validate_channel_config(cls, *, config, secrets):
        return {} if secrets.get("bot_token") else {"bot_token": "Required."}

    def verify_request(self, request):
        if request.headers.get("X-Token") != self.secrets.get("token"):
            raise WebhookRejected("Wrong token.")

    def parse_webhook(self, request):
        return []


@pytest.fixture
def quiet_provider():
    with mock.patch.dict(PROVIDERS.paths, {"quiet": f"{__name__}.QuietProvider"}):
        yield QuietProvider


# Registry


def test_a_registry_refuses_an_unknown_key_with_its_own_error():
    registry = Registry("widget", {"one": f"{__name__}.QuietProvider"})
    with pytest.raises(UnknownKey, match="No widget is registered as 'two'"):
        registry.get("two")
    with pytest.raises(UnknownProvider):
        provider_class("telegraph")
    with pytest.raises(UnknownConnector):
        connector_class("salesforce")


def test_a_registry_lists_its_keys_and_labels_from_the_classes():
    registry = Registry("widget", {"one": f"{__name__}.QuietProvider"})
    assert registry.keys() == ("one",)
    assert "one" in registry and "two" not in registry
    assert registry.get("one") is QuietProvider
    assert registry.choices() == [("one", "Quiet test provider")]


def test_the_model_choices_come_from_the_registries():
    assert provider_choices()[0] == ("whatsapp_cloud", "WhatsApp Cloud API")
    assert [key for key, _ in provider_choices()] == list(PROVIDERS.keys())
    assert ("telegram", "Telegram bot") in provider_choices()
    assert ("wazzup", "Wazzup") in provider_choices()
    assert Channel._meta.get_field("provider").choices == provider_choices()
    platform_field = IntegrationAccount._meta.get_field("platform")
    assert platform_field.choices == platform_choices()
    assert [key for key, _ in platform_choices()] == [
        *PROVIDERS.keys(),
        *CONNECTORS.keys(),
        "ecommerce",
    ]


def test_a_registered_provider_becomes_a_choice_without_editing_a_list(quiet_provider):
    assert ("quiet", "Quiet test provider") in Channel._meta.get_field("provider").choices
    assert platform_class("quiet") is QuietProvider


def test_the_platform_enum_names_exactly_the_connectors_and_the_shop():
    assert set(Platform.values) == {*CONNECTORS.keys(), "ecommerce"}


def test_the_platform_lookup_covers_providers_connectors_and_the_shop():
    assert platform_class("whatsapp_cloud") is WhatsAppCloudProvider
    assert platform_class("clerk") is connector_class("clerk")
    assert platform_class("ecommerce").key == "ecommerce"
    with pytest.raises(LookupError):
        platform_class("telegraph")


# Errors


def test_a_provider_error_is_transient_unless_marked_permanent():
    error = ProviderError("busy", code=131056, per_recipient=True, retry_after=4)
    assert isinstance(error, RemoteError)
    assert (error.permanent, error.transient, error.per_recipient) == (False, True, True)
    assert (error.code, error.retry_after, error.raw) == (131056, 4, {})
    assert ProviderError("no", permanent=True).transient is False


def test_a_connector_error_is_permanent_unless_marked_transient():
    error = ConnectorError("refused", code="AUTH", credentials_invalid=True)
    assert isinstance(error, RemoteError)
    assert (error.permanent, error.transient, error.credentials_invalid) == (True, False, True)
    assert ConnectorError("later", transient=True).permanent is False
    assert "transient=False" in repr(error)


# Capabilities


def test_whatsapp_cloud_declares_its_capabilities():
    caps = WhatsAppCloudProvider.capabilities
    assert caps.service_window_hours == 24
    assert caps.max_text_length == 4096
    assert caps.template_kind == TemplateKind.META
    assert caps.templates_needing_phone == {"AUTHENTICATION"}
    assert caps.rate_limit_backoff_base == 4
    assert caps.read_receipts is True
    assert caps.media[MessageType.IMAGE].max_bytes == 5 * 1024 * 1024
    assert caps.media[MessageType.IMAGE].mime_types == {"image/jpeg", "image/png"}
    assert caps.media[MessageType.DOCUMENT].mime_types == frozenset()  # any type
    assert MessageType.LOCATION not in caps.media


@pytest.mark.django_db
def test_a_channel_has_its_providers_capabilities(wa_channel):
    assert wa_channel.capabilities is WhatsAppCloudProvider.capabilities


# Channel secrets


def raw_channel_secrets(channel) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM messaging_channel WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_channel_secrets_are_encrypted_and_read_back(wa_channel):
    wa_channel.secrets = {"bot_token": "123:secret-token"}
    wa_channel.save()
    assert "secret-token" not in raw_channel_secrets(wa_channel)
    channel = Channel.objects.get(pk=wa_channel.pk)
    assert channel.secrets == {"bot_token": "123:secret-token"}
    assert channel.get_provider().channel_secrets == {"bot_token": "123:secret-token"}


@pytest.mark.django_db
def test_empty_channel_secrets_cost_no_encryption(wa_account):
    with mock.patch("config.crypto.fernet") as fernet:
        channel = Channel.objects.create(
            name="Plain", account=wa_account, provider="whatsapp_cloud", external_id="1"
        )
        assert Channel.objects.get(pk=channel.pk).secrets == {}
    fernet.assert_not_called()
    assert raw_channel_secrets(channel) == ""


# The request


def test_a_webhook_request_keeps_the_raw_body_and_parses_only_forms():
    form = webhook_request(
        b"From=whatsapp%3A%2B39&Body=hi",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert form.form["From"] == "whatsapp:+39"
    assert form.body == b"From=whatsapp%3A%2B39&Body=hi"
    json_body = webhook_request(b'{"a": 1}', headers={"content-type": "application/json"})
    assert not json_body.form
    assert json_body.headers["Content-Type"] == "application/json"


def test_a_webhook_request_carries_the_url_the_provider_signed(rf, settings):
    settings.PUBLIC_BASE_URL = "https://desk.example.com"
    request = rf.post(
        "/webhooks/twilio/abc/?x=1&y=2",
        data=b"Body=hi",
        content_type="application/x-www-form-urlencoded",
        HTTP_HOST="internal:8000",
    )
    built = webhook_request_from_django(request)
    assert built.url == "https://desk.example.com/webhooks/twilio/abc/?x=1&y=2"
    assert (built.method, built.body, built.form["Body"], built.query["y"]) == (
        "POST",
        b"Body=hi",
        "hi",
        "2",
    )


# The route


def post_signed(client, path, name="inbound_text.json"):
    body = fixture_bytes(name)
    return client.post(
        path, data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sign(body)
    )


@pytest.mark.django_db
def test_the_generic_route_and_the_old_whatsapp_url_both_accept(client, wa_account, wa_channel):
    generic = f"/webhooks/whatsapp_cloud/{wa_account.key}/"
    assert reverse("webhook", args=["whatsapp_cloud", wa_account.key]) == generic
    assert reverse("webhook-whatsapp", args=[wa_account.key]) == (
        f"/webhooks/whatsapp/{wa_account.key}/"
    )
    assert post_signed(client, generic).status_code == 200
    assert (
        post_signed(client, f"/webhooks/whatsapp/{wa_account.key}/", "status_sent.json").status_code
        == 200
    )
    assert list(WebhookEvent.objects.values_list("provider", "signature_valid")) == [
        ("whatsapp_cloud", True),
        ("whatsapp_cloud", True),
    ]


@pytest.mark.django_db
def test_the_handshake_answers_on_the_generic_route(client, wa_account):
    query = {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "42"}
    response = client.get(f"/webhooks/whatsapp_cloud/{wa_account.key}/", query)
    assert (response.status_code, response.content) == (200, b"42")


@pytest.mark.django_db
def test_an_unknown_provider_is_404(client, wa_account):
    response = client.post(
        f"/webhooks/telegraph/{wa_account.key}/", data=b"{}", content_type="application/json"
    )
    assert response.status_code == 404
    assert json.loads(response.content) == {"error": "Unknown provider 'telegraph'."}
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_an_account_of_another_provider_is_404(client, quiet_provider, wa_account):
    response = client.post(
        f"/webhooks/quiet/{wa_account.key}/", data=b"{}", content_type="application/json"
    )
    assert response.status_code == 404
    assert json.loads(response.content) == {"error": "Unknown webhook address."}


@pytest.mark.django_db
def test_a_provider_without_handshake_refuses_get(client, quiet_provider):
    account = IntegrationAccount.objects.create(
        description="Quiet", platform="quiet", secrets={"token": "t0k"}
    )
    response = client.get(f"/webhooks/quiet/{account.key}/")
    assert (response.status_code, response.headers["Allow"]) == (405, "POST")
    assert (
        client.post(
            f"/webhooks/quiet/{account.key}/",
            data=b"{}",
            content_type="application/json",
            HTTP_X_TOKEN="t0k",
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/webhooks/quiet/{account.key}/", data=b"{}", content_type="application/json"
        ).status_code
        == 403
    )


@pytest.mark.django_db
def test_a_channel_key_reaches_its_account_with_the_channels_secrets(client, quiet_provider):
    account = IntegrationAccount.objects.create(description="Quiet", platform="quiet")
    channel = Channel.objects.create(
        name="Bot", account=account, provider="quiet", external_id="bot-1", secrets={"x": "y"}
    )
    with mock.patch.object(
        QuietProvider, "verify_request", autospec=True, return_value=None
    ) as verify:
        response = client.post(
            f"/webhooks/quiet/{channel.key}/", data=b"{}", content_type="application/json"
        )
    assert response.status_code == 200
    assert verify.call_args.args[0].channel_secrets == {"x": "y"}
    assert WebhookEvent.objects.get().account == account


@pytest.mark.django_db
def test_the_generic_route_costs_one_query_once_the_account_is_cached(
    client, wa_account, wa_channel, django_assert_num_queries
):
    path = f"/webhooks/whatsapp_cloud/{wa_account.key}/"
    post_signed(client, path, "status_sent.json")
    with mock.patch("messaging.services.inbound.task_wake"), django_assert_num_queries(1):
        assert post_signed(client, path).status_code == 200


@pytest.mark.django_db
def test_the_stored_event_keeps_the_providers_headers_only(client, wa_account):
    body = fixture_bytes("status_sent.json")
    client.post(
        f"/webhooks/whatsapp_cloud/{wa_account.key}/",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=sign(body),
        HTTP_COOKIE="session=1",
        HTTP_USER_AGENT="facebookexternalua",
    )
    assert WebhookEvent.objects.get().headers == {
        "content-type": "application/json",
        "user-agent": "facebookexternalua",
        "x-hub-signature-256": sign(body),
    }


@pytest.mark.django_db
def test_the_admin_shows_the_generic_webhook_url(settings, wa_account):
    settings.PUBLIC_BASE_URL = "https://desk.example.com"
    assert webhook_url(wa_account) == (
        f"https://desk.example.com/webhooks/whatsapp_cloud/{wa_account.key}/"
    )


# The channel admin


def channel_change(admin_client, channel, **fields):
    url = f"/admin/messaging/channel/{channel.pk}/change/"
    form = admin_client.get(url).context["adminform"].form
    data = {n: v for n, v in form.initial.items() if v is not None and n in form.fields}
    data.update(config=json.dumps(channel.config), **fields)
    return admin_client.post(url, data)


@pytest.mark.django_db
def test_the_channel_admin_never_shows_channel_secrets(admin_client, wa_channel):
    wa_channel.secrets = {"bot_token": "123:secret-token"}
    wa_channel.save()
    page = admin_client.get(f"/admin/messaging/channel/{wa_channel.pk}/change/")
    assert "secret-token" not in page.content.decode()
    assert "secrets" not in page.context["adminform"].form.fields


@pytest.mark.django_db
def test_the_channel_admin_edits_the_providers_channel_fields(admin_client, quiet_provider):
    account = IntegrationAccount.objects.create(description="Quiet", platform="quiet")
    channel = Channel.objects.create(
        name="Bot", account=account, provider="quiet", external_id="bot-1"
    )
    refused = channel_change(admin_client, channel, setting_chat_id="42", secret_bot_token="")
    assert refused.status_code == 200
    assert "Required." in refused.content.decode()

    saved = channel_change(admin_client, channel, setting_chat_id="42", secret_bot_token="t0k")
    assert saved.status_code == 302
    channel.refresh_from_db()
    assert (channel.config["chat_id"], channel.secrets) == ("42", {"bot_token": "t0k"})

    page = admin_client.get(f"/admin/messaging/channel/{channel.pk}/change/").content.decode()
    assert "Stored (hidden)" in page and "t0k" not in page
    # A blank secret field keeps the stored one.
    assert channel_change(admin_client, channel, secret_bot_token="").status_code == 302
    channel.refresh_from_db()
    assert channel.secrets == {"bot_token": "t0k"}
