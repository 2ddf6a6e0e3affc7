"""The WhatsApp Cloud webhook fixtures for usernames and user ids, each posted through the real
URL with the shared provider cases (signature, storage, processing)."""

import pytest

from crm.models import Contact, ContactAddress
from messaging.models import Message, PendingStatus

from .conftest import FIXTURES, PHONE_NUMBER_ID, WABA_ID, sign
from .webhook_cases import ProviderWebhookCases

pytestmark = pytest.mark.django_db
BSUID = "IT.1502576394655843"


def inbound_from(phone, *transports):
    def check():
        message = Message.objects.get()
        assert message.direction == "in"
        contact = Contact.objects.get()
        assert contact.phone == phone
        assert set(ContactAddress.objects.values_list("transport", flat=True)) == set(transports)

    return check


def pending(status):
    def check():
        assert PendingStatus.objects.get().status == status

    return check


def no_contact():
    assert Contact.objects.count() == 0
    assert Message.objects.count() == 0


class TestWhatsAppCloudWebhooks(ProviderWebhookCases):
    PROVIDER = "whatsapp_cloud"
    FIXTURE_DIR = FIXTURES
    VALID_FIXTURE = "inbound_text_username_only.json"
    SIGNING_SECRETS = ("app_secret",)
    FIXTURE_CASES = {
        "inbound_text_username_only.json": inbound_from(None, "whatsapp_bsuid"),
        "inbound_text_bsuid_and_phone.json": inbound_from(
            "+393351032246", "whatsapp", "whatsapp_bsuid", "whatsapp_parent_bsuid"
        ),
        "inbound_text_parent_bsuid.json": inbound_from(
            None, "whatsapp_bsuid", "whatsapp_parent_bsuid"
        ),
        "status_delivered_recipient_user_id_only.json": pending("delivered"),
        "status_read_with_contacts.json": pending("read"),
        "status_failed_131062.json": pending("failed"),
        # Nobody had the old user id: nothing to move, and nobody is made up.
        "user_id_update.json": no_contact,
    }

    def account_settings(self):
        return {"app_id": "1234567890", "waba_id": WABA_ID, "graph_version": "v23.0"}

    def account_secrets(self):
        return {"app_secret": "kit-app-secret", "verify_token": "v", "access_token": "EAAtok"}

    def channel_kwargs(self):
        return {"name": "Support line", "external_id": PHONE_NUMBER_ID}

    def sign(self, *, method, url, body, content_type, secrets):
        return {"X-Hub-Signature-256": sign(body, secrets["app_secret"])}
