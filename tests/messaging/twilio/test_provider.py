"""The Twilio provider against Twilio's REST API (mocked with the reference's answers): the form
bodies it posts, the errors it maps, the Content templates it syncs, the account check."""

import json

import pytest
import responses
from django.http import QueryDict

from messaging.models import Message, MessageTemplate
from messaging.providers.base import OutboundMessage, ProviderError, TemplateCall
from messaging.providers.twilio import TwilioProvider, message_form
from messaging.services import message_send_template, message_send_text, templates_sync
from messaging.services.outbound import message_deliver

from .conftest import (
    ACCOUNT_SID,
    API,
    AUTH_TOKEN,
    CUSTOMER,
    SENDER,
    SERVICE_SID,
    fixture_bytes,
    fixture_form,
    fixture_json,
)

pytestmark = pytest.mark.django_db

SEND_URL = f"{API}/Accounts/{ACCOUNT_SID}/Messages.json"
STATUS_URL = "https://hub.example.com/webhooks/twilio/status/"  # the one in the fixtures
CONTENT = "https://content.twilio.com/v1"


def provider(**settings):
    return TwilioProvider(
        settings={"account_sid": ACCOUNT_SID, **settings}, secrets={"auth_token": AUTH_TOKEN}
    )


def lists(form) -> dict:
    return dict(QueryDict(form).lists()) if isinstance(form, (bytes, str)) else form


@pytest.fixture
def twilio():
    with responses.RequestsMock() as mocked:
        yield mocked


# --- Request bodies ------------------------------------------------------------------------------


def test_a_text_posts_the_reference_form():
    message = OutboundMessage(
        to=CUSTOMER,
        type="text",
        text="Thanks Olivia, we are checking with the courier now.",
        status_url=STATUS_URL,
    )
    form = message_form(message, sender_id=SENDER)
    assert {k: [v] for k, v in form.items()} == dict(fixture_form("send_text_request.form").lists())


def test_media_through_a_messaging_service_posts_the_reference_form():
    message = OutboundMessage(
        to=CUSTOMER,
        type="image",
        media={
            "link": "https://files.example.com/labels/4821.png",
            "caption": "Label for your return",
        },
    )
    form = message_form(message, sender_id=SENDER, service_sid=SERVICE_SID)
    assert {k: [v] for k, v in form.items()} == dict(
        fixture_form("send_media_request.form").lists()
    )


def test_a_content_template_posts_its_sid_and_variables_as_json():
    message = OutboundMessage(
        to=CUSTOMER,
        type="template",
        template=TemplateCall(
            name="order_update",
            language="en",
            body_params=["Olivia", "#4821", "July 16"],
            external_id="HXd4e5f60718293a4b5c6d7e8f90a1b2c3",
        ),
        status_url=STATUS_URL,
    )
    form = message_form(message, sender_id=SENDER)
    expected = dict(fixture_form("send_template_request.form").lists())
    assert {k: [v] for k, v in form.items()} == expected
    assert json.loads(form["ContentVariables"]) == {"1": "Olivia", "2": "#4821", "3": "July 16"}


def test_the_status_callback_carries_our_message_id():
    message = OutboundMessage(
        to=CUSTOMER, type="text", text="hi", status_url=STATUS_URL, callback_data="42"
    )
    assert message_form(message, sender_id=SENDER)["StatusCallback"] == STATUS_URL + "?message=42"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (OutboundMessage(to="", type="text", text="hi"), "phone numbers only"),
        (OutboundMessage(to=CUSTOMER, type="image", media={"id": "123"}), "public URL"),
        (
            OutboundMessage(to=CUSTOMER, type="template", template=TemplateCall("t", "en")),
            "Content SID",
        ),
        (
            OutboundMessage(to=CUSTOMER, type="reaction", reaction={"message_id": "x"}),
            "cannot send reaction",
        ),
    ],
)
def test_what_twilio_cannot_send_is_refused_for_good(message, reason):
    with pytest.raises(ProviderError, match=reason) as caught:
        message_form(message, sender_id=SENDER)
    assert caught.value.permanent


def test_send_posts_with_basic_auth_and_returns_the_sid(twilio):
    twilio.post(SEND_URL, json=fixture_json("send_ok.json"), status=201)
    result = provider().send(
        sender_id=SENDER, message=OutboundMessage(to=CUSTOMER, type="text", text="hi")
    )
    assert result.provider_message_id == "SMb7c8d9e0f1a2b3c4d5e6f708192a3b4c"
    request = twilio.calls[0].request
    assert request.headers["Authorization"].startswith("Basic ")
    assert lists(request.body) == {"To": [f"whatsapp:{CUSTOMER}"], "From": [SENDER], "Body": ["hi"]}


# --- Errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "status", "code", "permanent", "credentials"),
    [
        ("error_400_21211.json", 400, 21211, True, False),
        ("error_400_63016.json", 400, 63016, True, False),
        ("error_400_63024.json", 400, 63024, True, False),
        ("error_404_20404.json", 404, 20404, True, False),
        ("error_401_20003.json", 401, 20003, True, True),
        ("error_429_20429.json", 429, 20429, False, False),
        ("content_error_429.json", 429, 20429, False, False),
        ("error_500_20500.json", 500, 20500, False, False),
    ],
)
def test_rest_errors_are_mapped_by_code(twilio, fixture, status, code, permanent, credentials):
    twilio.post(SEND_URL, body=fixture_bytes(fixture), status=status)
    with pytest.raises(ProviderError) as caught:
        provider().send(
            sender_id=SENDER, message=OutboundMessage(to=CUSTOMER, type="text", text="x")
        )
    error = caught.value
    assert (error.code, error.permanent, error.credentials_invalid) == (
        code,
        permanent,
        credentials,
    )


def test_63016_says_to_send_a_template(twilio):
    twilio.post(SEND_URL, body=fixture_bytes("error_400_63016.json"), status=400)
    with pytest.raises(ProviderError, match="Content template"):
        provider().send(
            sender_id=SENDER, message=OutboundMessage(to=CUSTOMER, type="text", text="x")
        )


def test_a_429_waits_as_long_as_twilio_says(twilio):
    twilio.post(
        SEND_URL,
        body=fixture_bytes("error_429_20429.json"),
        status=429,
        headers={"Retry-After": "7"},
    )
    with pytest.raises(ProviderError) as caught:
        provider().send(
            sender_id=SENDER, message=OutboundMessage(to=CUSTOMER, type="text", text="x")
        )
    assert caught.value.retry_after == 7


def test_a_5xx_without_json_is_transient(twilio):
    twilio.post(SEND_URL, body="<html>Bad gateway</html>", status=502)
    with pytest.raises(ProviderError) as caught:
        provider().send(
            sender_id=SENDER, message=OutboundMessage(to=CUSTOMER, type="text", text="x")
        )
    assert not caught.value.permanent


def test_a_timeout_is_transient_and_says_the_message_may_have_gone(twilio):
    import requests

    twilio.post(SEND_URL, body=requests.ReadTimeout("slow"))
    with pytest.raises(ProviderError, match="may have reached Twilio") as caught:
        provider().send(
            sender_id=SENDER, message=OutboundMessage(to=CUSTOMER, type="text", text="x")
        )
    assert caught.value.raw["timeout"] is True


# --- Delivery through the service -------------------------------------------------------------


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what a send leaves for after the commit (the delivery task, run inline)."""

    def run(send, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return send(**kwargs)

    return run


@pytest.fixture
def customer_wrote(tw_channel):
    from datetime import timedelta

    from django.utils import timezone

    from crm.models import Contact
    from messaging.models import Conversation

    contact = Contact.objects.create(phone=CUSTOMER, name="Olivia")
    Conversation.objects.create(
        channel=tw_channel, contact=contact, last_inbound_at=timezone.now() - timedelta(hours=1)
    )
    return contact


def test_a_reply_is_delivered_with_its_status_callback(
    twilio, tw_channel, customer_wrote, committed
):
    twilio.post(SEND_URL, json=fixture_json("send_ok.json"), status=201)
    message = committed(message_send_text, channel=tw_channel, contact=customer_wrote, text="On it")
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.provider_message_id == "SMb7c8d9e0f1a2b3c4d5e6f708192a3b4c"
    form = lists(twilio.calls[0].request.body)
    callback = form["StatusCallback"][0]
    assert callback.endswith(f"/webhooks/twilio/{tw_channel.account.key}/?message={message.pk}")


def test_a_timed_out_send_is_not_sent_again(twilio, tw_channel, customer_wrote, committed):
    import requests

    twilio.post(SEND_URL, body=requests.ReadTimeout("slow"))
    message = committed(message_send_text, channel=tw_channel, contact=customer_wrote, text="On it")
    message.refresh_from_db()
    assert message.status == Message.Status.UNKNOWN
    assert message_deliver(message_id=message.pk) is None  # not queued: never claimed again
    assert len(twilio.calls) == 1


def test_a_revoked_token_marks_the_account_and_channel_unhealthy(
    twilio, tw_account, tw_channel, customer_wrote, committed
):
    twilio.post(SEND_URL, body=fixture_bytes("error_401_20003.json"), status=401)
    message = committed(message_send_text, channel=tw_channel, contact=customer_wrote, text="On it")
    message.refresh_from_db()
    tw_account.refresh_from_db()
    tw_channel.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert (tw_account.is_healthy, tw_channel.is_healthy) == (False, False)
    assert "SID or token is wrong" in tw_account.last_error


def test_a_content_template_goes_out_of_the_window_with_its_sid(
    twilio, tw_account, tw_channel, committed
):
    from crm.models import Contact

    template = MessageTemplate.objects.create(
        account=tw_account,
        external_id="HX75b08b071adb674f4e8b35fa493b123c",
        name="order_shipped_it",
        language="it",
        category="UTILITY",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Ciao {{1}}, ordine {{2}}, entro {{3}}."}],
        body_param_count=3,
    )
    contact = Contact.objects.create(phone=CUSTOMER, name="Olivia")
    twilio.post(SEND_URL, json=fixture_json("send_ok.json"), status=201)
    message = committed(
        message_send_template,
        channel=tw_channel,
        contact=contact,
        template=template,
        body_params=["Giulia", "5531", "3 giorni"],
    )
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.text == "Ciao Giulia, ordine 5531, entro 3 giorni."
    form = lists(twilio.calls[0].request.body)
    assert form["ContentSid"] == ["HX75b08b071adb674f4e8b35fa493b123c"]
    assert json.loads(form["ContentVariables"][0]) == {"1": "Giulia", "2": "5531", "3": "3 giorni"}
    assert "Body" not in form


# --- Content templates ----------------------------------------------------------------------------


def content_api(twilio):
    page1 = fixture_json("content_list_page1.json")
    page2 = fixture_json("content_list_page2_last.json")
    twilio.get(
        f"{CONTENT}/Content",
        json=page1,
        match=[responses.matchers.query_param_matcher({"PageSize": "100"})],
    )
    twilio.get(page1["meta"]["next_page_url"], json=page2)
    approvals = {
        "HX75b08b071adb674f4e8b35fa493b123c": "content_approval_fetch_approved.json",
        "HXde12c495f6a17470fc6dc421fbdc5c07": "content_approval_fetch_unsubmitted.json",
        "HXa21cc5e1e5671970c6f75f108efd10a8": "content_approval_fetch_rejected.json",
    }
    for sid, name in approvals.items():
        twilio.get(f"{CONTENT}/Content/{sid}/ApprovalRequests", json=fixture_json(name))


def test_templates_sync_reads_every_page_with_its_approval(twilio, tw_account):
    content_api(twilio)
    result = templates_sync(account=tw_account)
    assert result == {"seen": 3, "created": 3, "deleted": 0}
    shipped = MessageTemplate.objects.get(name="order_shipped_it")
    assert (shipped.external_id, shipped.language, shipped.category, shipped.status) == (
        "HX75b08b071adb674f4e8b35fa493b123c",
        "it",
        "UTILITY",
        "APPROVED",
    )
    assert shipped.body_param_count == 3
    promo = MessageTemplate.objects.get(name="promo_maggio")
    assert promo.status == "REJECTED"
    assert promo.rejected_reason.startswith("INVALID_FORMAT")
    welcome = MessageTemplate.objects.get(name="welcome_quick_reply")
    assert welcome.status == "UNSUBMITTED"
    assert {"type": "QUICK_REPLY", "text": "Order status"} in next(
        c for c in welcome.components if c["type"] == "BUTTONS"
    )["buttons"]


def test_only_approved_templates_are_offered(twilio, tw_account, tw_channel):
    from messaging.selectors import template_list_fillable

    content_api(twilio)
    templates_sync(account=tw_account)
    assert [t.name for t in template_list_fillable(channel=tw_channel)] == ["order_shipped_it"]


def test_a_template_sync_with_a_revoked_token_marks_the_account(twilio, tw_account, tw_channel):
    twilio.get(f"{CONTENT}/Content", body=fixture_bytes("content_error_401.json"), status=401)
    with pytest.raises(ProviderError, match="SID or token is wrong") as caught:
        templates_sync(account=tw_account)
    assert caught.value.credentials_invalid
    tw_account.refresh_from_db()
    assert tw_account.is_healthy is False
    assert tw_account.channels.get().is_healthy is False


# --- The account check ----------------------------------------------------------------------------


def test_verify_credentials_shows_twilios_answer(twilio):
    twilio.get(f"{API}/Accounts/{ACCOUNT_SID}.json", json=fixture_json("account.json"))
    said = provider().verify_credentials()
    assert said == "Twilio account 'Helpdesk Hub (test)' (active, Full)."
    assert AUTH_TOKEN not in said


def test_verify_credentials_with_a_wrong_token_says_which(twilio):
    twilio.get(
        f"{API}/Accounts/{ACCOUNT_SID}.json",
        body=fixture_bytes("error_401_20003.json"),
        status=401,
    )
    with pytest.raises(ProviderError, match="SID or token is wrong"):
        provider().verify_credentials()


def test_a_suspended_account_does_not_verify(twilio):
    twilio.get(
        f"{API}/Accounts/{ACCOUNT_SID}.json",
        json={**fixture_json("account.json"), "status": "suspended"},
    )
    with pytest.raises(ProviderError, match="is suspended"):
        provider().verify_credentials()


@pytest.mark.parametrize(
    ("settings", "secrets", "errors"),
    [
        ({"account_sid": ACCOUNT_SID}, {"auth_token": "x"}, set()),
        ({"account_sid": "ACnope"}, {"auth_token": "x"}, {"account_sid"}),
        (
            {"account_sid": ACCOUNT_SID, "messaging_service_sid": "MGx"},
            {"auth_token": "x"},
            {"messaging_service_sid"},
        ),
        ({"account_sid": ACCOUNT_SID}, {}, {"auth_token"}),
    ],
)
def test_account_settings_are_checked(settings, secrets, errors):
    assert set(TwilioProvider.validate_config(settings=settings, secrets=secrets)) == errors


def test_the_sync_templates_job_includes_twilio_accounts(twilio, tw_account):
    from integrations.services.maintenance import templates_sync_all

    content_api(twilio)
    report = templates_sync_all()
    assert report.counts["accounts_synced"] == 1
    assert report.counts["templates_seen"] == 3
    assert MessageTemplate.objects.filter(account=tw_account).count() == 3
