"""Twilio's webhooks through the real URL: inbound messages of each kind, status callbacks in and
out of order, X-Twilio-Signature exactly as Twilio computes it, and deliveries named by
MessageSid (and MessageStatus)."""

import base64
from datetime import timedelta

import pytest
import responses
from django.conf import settings as django_settings
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact
from messaging.models import Conversation, Message, PendingStatus, WebhookEvent
from messaging.providers.base import WebhookRejected
from messaging.providers.twilio import TwilioProvider, signature_for, url_variants
from messaging.webhook_request import webhook_request

from ..webhook_cases import ProviderWebhookCases
from .conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CUSTOMER,
    FIXTURES,
    SENDER,
    fixture_bytes,
    fixture_json,
    form_body,
    sign,
)

pytestmark = pytest.mark.django_db

MEDIA_URL = (
    f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/"
    "MM0f1e2d3c4b5a69788796a5b4c3d2e1f0/Media/ME4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0"
)
SENT_SID = "SMb7c8d9e0f1a2b3c4d5e6f708192a3b4c"  # the message of the status fixtures


@pytest.fixture
def twilio_media():
    """Twilio's media URL, answering only to the account's basic auth."""
    expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:

        def answer(request):
            if request.headers.get("Authorization") != expected:
                return 401, {}, '{"code": 20003, "message": "Authenticate", "status": 401}'
            return 200, {"Content-Type": "image/jpeg"}, b"\xff\xd8jpeg"

        mocked.add_callback(responses.GET, MEDIA_URL, callback=answer)
        yield mocked


def one_message(**expected):
    def check():
        message = Message.objects.get()
        assert {name: getattr(message, name) for name in expected} == expected

    return check


class TestTwilioWebhook(ProviderWebhookCases):
    PROVIDER = "twilio"
    FIXTURE_DIR = FIXTURES
    VALID_FIXTURE = "inbound_text.form"
    SIGNING_SECRETS = ("auth_token",)
    FIXTURE_CASES = {
        "inbound_text.form": one_message(
            direction="in", type="text", text="Hi, my order #4821 has not arrived yet"
        ),
        "inbound_media.form": one_message(direction="in", type="image", text="Damaged box"),
        "inbound_location.form": one_message(
            direction="in", type="location", text="Big Ben, Westminster, London SW1A 0AA"
        ),
        "inbound_button.form": one_message(
            direction="in",
            type="button",
            text="Talk to an agent",
            reply_to_provider_id=SENT_SID,
        ),
        "inbound_reply.form": one_message(
            direction="in",
            type="text",
            text="Yes, that one please",
            reply_to_provider_id=SENT_SID,
        ),
    }

    @pytest.fixture(autouse=True)
    def media(self, twilio_media):
        return twilio_media

    def account_settings(self):
        return {"account_sid": ACCOUNT_SID, "messaging_service_sid": ""}

    def account_secrets(self):
        return {"auth_token": AUTH_TOKEN}

    def channel_kwargs(self):
        return {"name": "Twilio line", "external_id": SENDER, "display_number": "+14155550100"}

    def content_type(self, name):
        return "application/x-www-form-urlencoded"

    def sign(self, *, method, url, body, content_type, secrets):
        return {"X-Twilio-Signature": sign(url, body, secrets["auth_token"])}

    # A form has no "}" to alter, so the inherited case is redone with a form's own change.
    def test_it_rejects_a_signature_over_another_body(self, post, channel):
        body = self.valid_body()
        other = body.replace(b"has+not+arrived", b"has+arrived")
        assert other != body

        url = django_settings.PUBLIC_BASE_URL + reverse(
            "webhook", args=["twilio", channel.account.key]
        )
        assert post(body, headers={"X-Twilio-Signature": sign(url, other)}).status_code == 403
        assert not Message.objects.exists()


# --- Inbound: what each kind becomes ------------------------------------------------------------


def test_a_text_opens_a_lead_with_the_profile_name(post_twilio, tw_channel):
    assert post_twilio("inbound_text.form").status_code == 200
    message = Message.objects.get()
    contact = message.conversation.contact
    assert (contact.phone, contact.name, contact.kind) == (CUSTOMER, "Olivia Bennett", "lead")
    assert message.provider_message_id == "SM1a2b3c4d5e6f708192a3b4c5d6e7f809"
    assert message.conversation.channel == tw_channel
    assert message.raw["WaId"] == "447700900123"


def test_a_media_message_is_downloaded_with_the_accounts_basic_auth(
    post_twilio, tw_channel, twilio_media
):
    assert post_twilio("inbound_media.form").status_code == 200
    message = Message.objects.get()
    assert message.payload["media_id"] == MEDIA_URL
    assert message.payload["mime_type"] == "image/jpeg"
    assert message.media_state == Message.MediaState.STORED
    assert message.media_file.read() == b"\xff\xd8jpeg"


def test_a_media_download_that_fails_keeps_the_message_and_retries(
    post_twilio, tw_account, tw_channel, twilio_media
):
    tw_account.secrets = {"auth_token": "a-token-twilio-no-longer-takes"}
    tw_account.save()
    body = fixture_bytes("inbound_media.form")

    url = django_settings.PUBLIC_BASE_URL + reverse("webhook", args=["twilio", tw_account.key])
    assert (
        post_twilio(body, signature=sign(url, body, "a-token-twilio-no-longer-takes")).status_code
        == 200
    )
    message = Message.objects.get()
    assert message.text == "Damaged box"
    assert message.media_state == Message.MediaState.FAILED
    assert "20003" in message.media_error
    assert message.next_attempt_at is None  # a wrong token fails again: no retry until fixed
    tw_account.refresh_from_db()
    assert tw_account.is_healthy is False


def test_a_location_keeps_coordinates_label_and_address(post_twilio, tw_channel):
    post_twilio("inbound_location.form")
    payload = Message.objects.get().payload
    assert payload == {
        "latitude": 51.5007292,
        "longitude": -0.1246254,
        "name": "Big Ben",
        "address": "Westminster, London SW1A 0AA",
        "url": "",
    }


def test_a_quick_reply_keeps_its_text_and_payload(post_twilio, tw_channel):
    post_twilio("inbound_button.form")
    assert Message.objects.get().payload == {"text": "Talk to an agent", "payload": "agent_request"}


def test_unknown_fields_are_kept_in_the_raw_event_and_never_an_error(post_twilio, tw_channel):
    post_twilio("inbound_reply.form")
    message = Message.objects.get()
    assert message.raw["SomeFieldTwilioAddsLater"] == "kept"
    assert message.raw["Forwarded"] == "true"
    assert WebhookEvent.objects.get().state == WebhookEvent.State.PROCESSED


def test_a_retry_with_the_same_message_sid_is_one_event(post_twilio, tw_channel):
    # Twilio retries a timed-out webhook; a retry that differs in one field is still the same.
    body = fixture_bytes("inbound_text.form")
    assert post_twilio(body).status_code == 200
    assert post_twilio(body + b"&AddedOnRetry=1").status_code == 200
    assert WebhookEvent.objects.count() == 1
    assert Message.objects.count() == 1


def test_a_username_where_the_phone_would_be_is_kept_as_a_user_id(post_twilio, tw_channel):
    body = form_body(
        MessageSid="SM99999999999999999999999999999999",
        From="whatsapp:IT.1502576394655843",
        To=SENDER,
        Body="ciao",
        ProfileName="Sofia",
        NumMedia="0",
    )
    assert post_twilio(body).status_code == 200
    contact = Message.objects.get().conversation.contact
    assert contact.phone in (None, "")
    assert contact.addresses.get().address == "IT.1502576394655843"


def test_a_message_to_an_unknown_sender_fails_visibly(post_twilio, tw_channel):
    body = form_body(
        MessageSid="SM88888888888888888888888888888888",
        From="whatsapp:+447700900123",
        To="whatsapp:+15550000000",
        Body="hello?",
        NumMedia="0",
    )
    assert post_twilio(body).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.FAILED
    assert "whatsapp:+15550000000" in event.error


def test_a_form_without_a_message_sid_is_stored_and_marked_malformed(post_twilio, tw_channel):
    assert post_twilio(form_body(Body="hello")).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.FAILED
    assert "MessageSid" in event.error


# --- X-Twilio-Signature --------------------------------------------------------------------------


def test_the_reference_vectors():
    vector = fixture_json("signature_vector.json")
    params = dict(QueryDict(fixture_bytes(vector["form_file"].removeprefix("twilio_"))).lists())
    for case in vector["cases"]:
        given = {} if "json_body" in case else params
        assert (
            signature_for(case["url"], given, vector["auth_token"])
            == (case["expected_x_twilio_signature"])
        ), case["url"]


def test_a_json_webhook_is_checked_by_its_body_hash(tw_account):

    vector = fixture_json("signature_vector.json")
    case = vector["cases"][3]
    provider = TwilioProvider(settings={}, secrets={"auth_token": vector["auth_token"]})
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Signature": case["expected_x_twilio_signature"],
    }
    body = case["json_body"].encode()
    provider.verify_request(webhook_request(body, headers=headers, url=case["url"]))
    with pytest.raises(WebhookRejected, match="bodySHA256"):
        provider.verify_request(webhook_request(body + b" ", headers=headers, url=case["url"]))


def test_the_default_port_is_tried_both_ways():
    assert url_variants("https://hub.example.com/x/") == [
        "https://hub.example.com/x/",
        "https://hub.example.com:443/x/",
    ]
    assert url_variants("https://hub.example.com:443/x/?a=1") == [
        "https://hub.example.com:443/x/?a=1",
        "https://hub.example.com/x/?a=1",
    ]
    assert url_variants("https://hub.example.com:8443/x/") == ["https://hub.example.com:8443/x/"]


def test_it_accepts_a_signature_over_the_url_with_the_default_port(
    post_twilio, tw_account, tw_channel, settings
):
    settings.PUBLIC_BASE_URL = "https://hub.example.com"
    path = f"/webhooks/twilio/{tw_account.key}/"
    response = post_twilio("inbound_text.form", signed_url=f"https://hub.example.com:443{path}")
    assert response.status_code == 200
    assert Message.objects.count() == 1


def test_it_signs_the_url_with_its_own_port(post_twilio, tw_account, tw_channel, settings):
    settings.PUBLIC_BASE_URL = "https://hub.example.com:8443"
    path = f"/webhooks/twilio/{tw_account.key}/"
    wrong = post_twilio("inbound_text.form", signed_url=f"https://hub.example.com{path}")
    assert wrong.status_code == 403
    assert post_twilio("inbound_text.form").status_code == 200
    assert Message.objects.count() == 1


def test_behind_a_proxy_the_public_base_url_is_what_is_signed(
    post_twilio, tw_account, tw_channel, settings
):
    # The test client talks to http://testserver; Twilio called the public https address.
    settings.PUBLIC_BASE_URL = "https://hub.example.com"
    path = f"/webhooks/twilio/{tw_account.key}/"
    internal = post_twilio("inbound_text.form", signed_url=f"http://testserver{path}")
    assert internal.status_code == 403
    public = post_twilio("inbound_text.form", signed_url=f"https://hub.example.com{path}")
    assert public.status_code == 200


def test_the_query_string_is_part_of_the_signed_url(post_twilio, tw_account, tw_channel, settings):
    path = f"/webhooks/twilio/{tw_account.key}/"
    without_query = settings.PUBLIC_BASE_URL + path
    refused = post_twilio("inbound_text.form", query="message=7", signed_url=without_query)
    assert refused.status_code == 403
    assert post_twilio("inbound_text.form", query="message=7").status_code == 200


def test_parameters_in_another_order_keep_their_signature(post_twilio, tw_account, tw_channel):

    body = fixture_bytes("inbound_text.form")
    url = django_settings.PUBLIC_BASE_URL + reverse("webhook", args=["twilio", tw_account.key])
    reordered = b"&".join(reversed(body.split(b"&")))
    assert reordered != body
    assert post_twilio(reordered, signature=sign(url, body)).status_code == 200
    assert Message.objects.count() == 1


def test_a_repeated_key_signs_each_value_in_sorted_order(post_twilio, tw_account, tw_channel):

    url = django_settings.PUBLIC_BASE_URL + reverse("webhook", args=["twilio", tw_account.key])
    body = fixture_bytes("inbound_text.form") + b"&Tag=zeta&Tag=alpha"
    params = dict(QueryDict(body).lists())
    expected = url
    for name in sorted(params):
        for value in sorted(set(params[name])):
            expected += name + value
    assert "Tagalpha" + "Tagzeta" in expected
    assert post_twilio(body, signature=sign(url, body)).status_code == 200
    # Signed with the last value only (what a dict of the form would give): refused.
    last_only = {name: values[-1:] for name, values in params.items()}
    forged = signature_for(url, last_only, AUTH_TOKEN)
    WebhookEvent.objects.all().delete()
    Message.objects.all().delete()
    assert post_twilio(body, signature=forged).status_code == 403


def test_a_signature_that_is_not_base64_is_refused_and_stored(post_twilio, tw_channel):
    assert post_twilio("inbound_text.form", signature="not base64 !").status_code == 403
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.REJECTED
    assert "X-Twilio-Signature" in event.error


# --- Status callbacks ---------------------------------------------------------------------------


@pytest.fixture
def sent_message(tw_channel):
    contact = Contact.objects.create(phone=CUSTOMER, name="Olivia")
    conversation = Conversation.objects.create(
        channel=tw_channel, contact=contact, last_inbound_at=timezone.now() - timedelta(hours=1)
    )
    return Message.objects.create(
        channel=tw_channel,
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        type="text",
        text="Thanks Olivia, we are checking with the courier now.",
        provider_message_id=SENT_SID,
        status=Message.Status.SENDING,
    )


def status_of(message):
    message.refresh_from_db()
    return message.status


@pytest.mark.parametrize(
    "order",
    [
        ["status_sent.form", "status_delivered.form", "status_read.form"],
        ["status_read.form", "status_sent.form", "status_delivered.form"],
        ["status_delivered.form", "status_read.form", "status_sent.form"],
    ],
)
def test_statuses_in_any_order_end_read(post_twilio, sent_message, order):
    for name in order:
        assert post_twilio(name).status_code == 200
    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.READ
    assert sent_message.sent_at and sent_message.delivered_at and sent_message.read_at
    # Three deliveries of one MessageSid: none of them taken for a retry of another.
    assert WebhookEvent.objects.filter(state=WebhookEvent.State.PROCESSED).count() == 3


def test_delivered_and_read_after_sent_are_each_applied(post_twilio, sent_message):
    post_twilio("status_sent.form")
    assert status_of(sent_message) == Message.Status.SENT
    post_twilio("status_delivered.form")
    assert status_of(sent_message) == Message.Status.DELIVERED
    post_twilio("status_read.form")
    assert status_of(sent_message) == Message.Status.READ


def test_a_repeated_status_callback_is_one_event(post_twilio, sent_message):
    post_twilio("status_delivered.form")
    post_twilio("status_delivered.form")
    assert WebhookEvent.objects.count() == 1


def test_failed_with_63016_is_a_failure_with_its_code(post_twilio, sent_message):
    post_twilio("status_sent.form")
    post_twilio("status_failed_63016.form")
    sent_message.refresh_from_db()
    assert sent_message.status == Message.Status.FAILED
    assert sent_message.error_code == 63016
    assert "24-hour" in sent_message.error_title
    assert "outside the allowed window" in sent_message.error_detail


def test_undelivered_is_a_failure_with_its_code(post_twilio, sent_message):
    post_twilio("status_sent.form")
    assert post_twilio("status_undelivered_63024.form").status_code == 200
    assert WebhookEvent.objects.filter(state=WebhookEvent.State.PROCESSED).count() == 2
    sent_message.refresh_from_db()
    assert (sent_message.status, sent_message.error_code) == (Message.Status.FAILED, 63024)
    assert sent_message.error_title == "Invalid WhatsApp recipient"


def test_a_failure_after_read_changes_nothing(post_twilio, sent_message):
    post_twilio("status_read.form")
    post_twilio("status_failed_63016.form")
    assert status_of(sent_message) == Message.Status.READ


def test_sending_is_acknowledged_and_changes_nothing(post_twilio, sent_message):
    assert post_twilio("status_sending.form").status_code == 200
    assert WebhookEvent.objects.get().state == WebhookEvent.State.PROCESSED
    assert status_of(sent_message) == Message.Status.SENDING


def test_a_status_before_its_message_is_kept_for_it(post_twilio, tw_channel):
    post_twilio("status_delivered.form")
    assert PendingStatus.objects.get().provider_message_id == SENT_SID


def test_a_status_callback_carrying_our_id_settles_a_lost_send(post_twilio, sent_message):
    # The send timed out: Twilio has the message, we never learnt its sid.
    Message.objects.filter(pk=sent_message.pk).update(
        provider_message_id=None, status=Message.Status.UNKNOWN
    )
    assert (
        post_twilio("status_delivered.form", query=f"message={sent_message.pk}").status_code == 200
    )
    sent_message.refresh_from_db()
    assert sent_message.provider_message_id == SENT_SID
    assert sent_message.status == Message.Status.DELIVERED
    assert WebhookEvent.objects.get().query == f"message={sent_message.pk}"


@pytest.mark.parametrize(
    ("wire", "expected"),
    [("queued", Message.Status.SENDING), ("accepted", Message.Status.SENDING)],
)
def test_early_statuses_are_acknowledged_and_change_nothing(
    post_twilio, sent_message, wire, expected
):
    body = fixture_bytes("status_sending.form").replace(b"=sending", f"={wire}".encode())
    assert post_twilio(body).status_code == 200
    assert WebhookEvent.objects.get().state == WebhookEvent.State.PROCESSED
    assert status_of(sent_message) == expected


def test_a_callback_naming_its_status_in_smsstatus_only_is_read(post_twilio, sent_message):
    body = fixture_bytes("status_delivered.form").replace(b"MessageStatus=delivered&", b"")
    assert b"MessageStatus" not in body
    assert post_twilio(body).status_code == 200
    assert status_of(sent_message) == Message.Status.DELIVERED
