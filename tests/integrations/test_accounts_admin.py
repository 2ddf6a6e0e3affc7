"""Integration accounts in the admin: add per platform, verify, activate/deactivate, delete."""

import pytest
import responses
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection

from crm.models import Contact
from integrations.models import ExternalLink, IntegrationAccount
from messaging.models import Channel, WebhookEvent
from messaging.services import MessageRefused, message_send_text

from .crm_mocks import (
    AC_API,
    AC_TOKEN,
    VT_ACCESS_KEY,
    VT_URL,
    ac_account,
    load,
    vt_account,
    vt_login,
)

pytestmark = pytest.mark.django_db

ACCOUNTS_URL = "/admin/integrations/integrationaccount/"


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def raw_secrets(account) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secrets FROM integrations_integrationaccount WHERE id = %s", [account.pk]
        )
        return cursor.fetchone()[0]


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- the list and the add flow ------------------------------------------------------------------


def test_the_list_shows_description_platform_and_active(admin_client):
    vt_account(description="Main CRM")
    ac_account(description="Newsletter", is_active=False)
    page = admin_client.get(ACCOUNTS_URL).content.decode()
    assert "Main CRM" in page and "Newsletter" in page
    assert "vtenext / vtiger CRM" in page and "ActiveCampaign" in page


def test_adding_asks_for_the_platform_then_shows_its_own_settings(admin_client):
    choose = admin_client.get(f"{ACCOUNTS_URL}add/").content.decode()
    for label in ("WhatsApp Cloud API", "vtenext / vtiger CRM", "ActiveCampaign", "Clerk.io"):
        assert label in choose
    form = admin_client.get(f"{ACCOUNTS_URL}add/?platform=vtenext").content.decode()
    assert 'name="setting_url"' in form and 'name="secret_access_key"' in form
    clerk = admin_client.get(f"{ACCOUNTS_URL}add/?platform=clerk").content.decode()
    assert 'name="secret_public_key"' in clerk and 'name="secret_private_key"' in clerk


def test_a_saved_secret_is_encrypted_in_the_database_and_never_shown_again(admin_client):
    response = admin_client.post(
        f"{ACCOUNTS_URL}add/?platform=vtenext",
        {
            "platform": "vtenext",
            "description": "Main CRM",
            "is_active": "on",
            "setting_url": VT_URL,
            "setting_username": "admin",
            "setting_timezone": "Europe/Rome",
            "secret_access_key": VT_ACCESS_KEY,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account = IntegrationAccount.objects.get(description="Main CRM")
    assert account.secrets == {"access_key": VT_ACCESS_KEY}
    assert VT_ACCESS_KEY not in raw_secrets(account)
    page = admin_client.get(f"{ACCOUNTS_URL}{account.pk}/change/").content.decode()
    assert VT_ACCESS_KEY not in page
    assert "Stored (hidden)" in page


def test_the_platform_code_rejects_bad_settings_in_the_form(admin_client):
    response = admin_client.post(
        f"{ACCOUNTS_URL}add/?platform=activecampaign",
        {
            "platform": "activecampaign",
            "description": "AC",
            "setting_api_url": "http://acme.api-us1.com",
            "secret_api_token": "has spaces in it",
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Enter a full URL starting with https://." in page
    assert "A key has no spaces" in page
    assert not IntegrationAccount.objects.exists()


# --- verify credentials -------------------------------------------------------------------------


def test_verify_reports_success_from_the_platform(admin_client, rsps):
    account = vt_account()
    vt_login(rsps)
    response = admin_client.post(f"{ACCOUNTS_URL}{account.pk}/verify/", follow=True)
    assert messages_of(response) == [
        "vtenext CRM (vtenext / vtiger CRM): credentials verified. "
        "Logged in as admin (vtiger 7.5.0)"
    ]
    account.refresh_from_db()
    assert account.is_healthy


def test_verify_reports_the_exact_error_of_the_platform(admin_client, rsps, caplog):
    account = vt_account()
    vt_login(rsps, "login_error_invalid_credentials")
    response = admin_client.post(f"{ACCOUNTS_URL}{account.pk}/verify/", follow=True)
    [said] = messages_of(response)
    assert said == (
        "vtenext CRM (vtenext / vtiger CRM): verification failed. Login as 'admin' failed: "
        "INVALID_USER_CREDENTIALS: Invalid username or password"
    )
    account.refresh_from_db()
    assert not account.is_healthy
    assert "INVALID_USER_CREDENTIALS" in account.last_error
    assert VT_ACCESS_KEY not in caplog.text


def test_the_verify_action_checks_each_selected_account(admin_client, rsps):
    vt = vt_account()
    ac = ac_account()
    vt_login(rsps)
    rsps.get(f"{AC_API}/users/me", json=load("activecampaign", "error_403_forbidden"), status=403)
    response = admin_client.post(
        ACCOUNTS_URL,
        {"action": "verify_credentials", ACTION_CHECKBOX_NAME: [vt.pk, ac.pk]},
        follow=True,
    )
    said = messages_of(response)
    assert any("credentials verified. Logged in as admin" in m for m in said)
    assert any("ActiveCampaign refused the API token" in m for m in said)
    assert not any(AC_TOKEN in m for m in said)


def test_the_change_page_has_a_verify_button(admin_client):
    account = vt_account()
    page = admin_client.get(f"{ACCOUNTS_URL}{account.pk}/change/").content.decode()
    assert f"{ACCOUNTS_URL}{account.pk}/verify/" in page


def test_verify_is_post_only(admin_client, rsps):
    account = vt_account()
    response = admin_client.get(f"{ACCOUNTS_URL}{account.pk}/verify/")
    assert response.status_code == 302
    assert not rsps.calls


# --- activate / deactivate ----------------------------------------------------------------------


@pytest.fixture
def wa_account(db):
    return IntegrationAccount.objects.create(
        description="WABA",
        platform="whatsapp_cloud",
        settings={"app_id": "1234567890", "waba_id": "104896532187654"},
        secrets={"app_secret": "s3cret-app", "verify_token": "v", "access_token": "EAAtok"},
    )


@pytest.fixture
def channel(wa_account):
    return Channel.objects.create(
        name="Support line", account=wa_account, provider="whatsapp_cloud", external_id="1170945"
    )


def test_deactivating_keeps_every_setting_and_the_channel_refuses_to_send(
    admin_client, wa_account, channel
):
    admin_client.post(ACCOUNTS_URL, {"action": "deactivate", ACTION_CHECKBOX_NAME: [wa_account.pk]})
    wa_account.refresh_from_db()
    assert not wa_account.is_active
    assert wa_account.settings == {"app_id": "1234567890", "waba_id": "104896532187654"}
    assert wa_account.secrets["access_token"] == "EAAtok"

    contact = Contact.objects.create(phone="+393351032246")
    with pytest.raises(MessageRefused, match="The account 'WABA' is inactive: sending is off"):
        message_send_text(channel=channel, contact=contact, text="hello")

    admin_client.post(ACCOUNTS_URL, {"action": "activate", ACTION_CHECKBOX_NAME: [wa_account.pk]})
    wa_account.refresh_from_db()
    assert wa_account.is_active


def test_an_inactive_account_stores_webhooks_without_processing_them(client, wa_account):
    IntegrationAccount.objects.filter(pk=wa_account.pk).update(is_active=False)
    body = b'{"object":"whatsapp_business_account","entry":[{"id":"104896532187654","changes":[]}]}'
    import hashlib
    import hmac

    signature = "sha256=" + hmac.new(b"s3cret-app", body, hashlib.sha256).hexdigest()
    response = client.post(
        f"/webhooks/whatsapp/{wa_account.key}/",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature,
    )
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.SKIPPED


# --- delete -------------------------------------------------------------------------------------


def test_the_delete_confirmation_lists_what_depends_on_the_account(admin_client, channel):
    account = channel.account
    ExternalLink.objects.create(
        account=account, object_type="contact", local_id=1, external_id="12x1"
    )
    page = admin_client.get(f"{ACCOUNTS_URL}{account.pk}/delete/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Channels" in text and "protected: delete them or move them" in text
    assert "External links" in text
    assert "sync_templates, sync_messages, close_conversations" in text
    assert "Support line" in text  # Django's own list of the protected channel


def test_deleting_an_account_with_channels_gives_a_clear_page_not_an_error(admin_client, channel):
    account = channel.account
    response = admin_client.post(f"{ACCOUNTS_URL}{account.pk}/delete/", {"post": "yes"})
    assert response.status_code == 200
    assert "Cannot delete" in response.content.decode()
    assert IntegrationAccount.objects.filter(pk=account.pk).exists()

    bulk = admin_client.post(
        ACCOUNTS_URL, {"action": "delete_selected", ACTION_CHECKBOX_NAME: [account.pk]}
    )
    assert bulk.status_code == 200
    assert "Cannot delete" in bulk.content.decode()


def test_an_account_without_channels_is_deleted_with_its_links(admin_client):
    account = vt_account()
    ExternalLink.objects.create(
        account=account, object_type="contact", local_id=1, external_id="12x1"
    )
    response = admin_client.post(f"{ACCOUNTS_URL}{account.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not IntegrationAccount.objects.exists()
    assert not ExternalLink.objects.exists()


def test_the_delete_page_of_a_missing_account_is_not_an_error(admin_client):
    response = admin_client.get(f"{ACCOUNTS_URL}999999/delete/", follow=True)
    assert response.status_code == 200
