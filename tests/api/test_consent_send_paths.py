"""One consent policy on every send path: a STOP typed by the customer stops the next marketing
send before any provider call (inbox template, ticket utility template, business event, REST
API, a message already queued), START lets it go again, and Meta's own refusals count."""

import itertools
import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from crm.models import ConsentRecord, ConsentSource, ConsentState, ContactAddress
from crm.services_consent import consent_record, send_policy_check
from integrations.models import BusinessEvent, NotificationRule
from messaging.models import Conversation, Message, MessageTemplate
from messaging.services import MessageRefused, message_deliver, message_send_template
from tests.messaging.conftest import inbound_body, sign, status_body
from tickets.models import Ticket
from tickets.routing import conversation_reply_template
from tickets.services import ticket_comment_add, ticket_open_from_conversation

from .conftest import SEND_URL, assert_error, graph_bodies, key_client, token_client

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)
WA_ID = "393351032246"


@pytest.fixture
def marketing(wa_account):
    return MessageTemplate.objects.create(
        account=wa_account,
        name="spring_sale",
        language="it",
        category="MARKETING",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Ciao {{1}}, -20% da oggi"}],
        body_param_count=1,
    )


@pytest.fixture
def inbound(client, wa_account, wa_channel, django_capture_on_commit_callbacks):
    """The customer writes through the real webhook URL (signed), processed as in production."""

    def post(text: str = "", *, button_payload: str = "") -> None:
        message = {"id": f"wamid.IN{next(_ids)}", "timestamp": str(int(timezone.now().timestamp()))}
        if button_payload:
            message |= {"type": "button", "button": {"text": text, "payload": button_payload}}
        else:
            message |= {"type": "text", "text": {"body": text}}
        body = json.dumps(inbound_body(message, wa_id=WA_ID)).encode()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/webhooks/whatsapp/{wa_account.key}/",
                data=body,
                content_type="application/json",
                HTTP_X_HUB_SIGNATURE_256=sign(body),
            )
        assert response.status_code == 200

    return post


@pytest.fixture
def opted_in(giulia):
    return consent_record(
        contact=giulia,
        purpose="marketing",
        state="opted_in",
        source="widget",
        text_shown="Yes, send me offers on WhatsApp",
    )


def provider_sends(graph) -> int:
    return len(graph_bodies(graph))


def test_it_sends_marketing_to_an_opted_in_contact(
    graph, giulia, wa_channel, marketing, opted_in, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = message_send_template(
            channel=wa_channel, contact=giulia, template=marketing, body_params=["Giulia"]
        )
    message.refresh_from_db()
    assert message.status == "sent"
    assert provider_sends(graph) == 1


def test_it_refuses_marketing_without_consent_and_allows_utility(
    graph, giulia, wa_channel, marketing, template
):
    with pytest.raises(MessageRefused) as refused:
        message_send_template(
            channel=wa_channel, contact=giulia, template=marketing, body_params=["Giulia"]
        )
    assert refused.value.code == "no_consent"
    assert Message.objects.count() == 0
    message_send_template(
        channel=wa_channel, contact=giulia, template=template, body_params=["G", "A-1", "ok"]
    )
    assert Message.objects.count() == 1


def test_a_legitimate_interest_basis_allows_unknown_but_never_opted_out(
    settings, giulia, wa_channel, marketing
):
    settings.CONSENT_MARKETING_BASIS = "legitimate_interest"
    assert send_policy_check(contact=giulia, transports=["whatsapp"], category="marketing") is None
    consent_record(contact=giulia, purpose="marketing", state="opted_out", source="agent")
    refusal = send_policy_check(contact=giulia, transports=["whatsapp"], category="marketing")
    assert refusal.code == "opted_out"


def test_stop_opts_out_at_once_with_one_confirmation(graph, inbound, giulia, opted_in):
    inbound("  stop! ")
    record = ConsentRecord.objects.filter(contact=giulia).first()
    assert (record.state, record.source) == (ConsentState.OPTED_OUT, ConsentSource.KEYWORD)
    assert record.address.transport == "whatsapp"
    [confirmation] = graph_bodies(graph)
    assert confirmation["type"] == "text"
    assert "no more marketing messages" in confirmation["text"]["body"]
    inbound("please stop sending me things")  # not the whole message: no change
    assert ConsentRecord.objects.filter(contact=giulia).count() == 2
    inbound("STOP")  # said again: recorded, not confirmed twice
    assert ConsentRecord.objects.filter(contact=giulia).count() == 3
    assert provider_sends(graph) == 1


def test_an_italian_keyword_confirms_in_italian(graph, inbound, giulia, opted_in):
    inbound("Disiscrivimi")
    [confirmation] = graph_bodies(graph)
    assert "Non riceverai più" in confirmation["text"]["body"]


def test_an_opt_out_button_payload_opts_out(graph, inbound, giulia, opted_in):
    inbound("Stop promotions", button_payload="STOP_MARKETING")
    assert ConsentRecord.objects.filter(contact=giulia).first().state == "opted_out"


def _inbox_template(*, manager, giulia, wa_channel, marketing, capture, **_):
    conversation = Conversation.objects.get(contact=giulia, channel=wa_channel, status="open")
    try:
        with capture(execute=True):
            conversation_reply_template(
                conversation=conversation, user=manager, template=marketing, body_params=["Giulia"]
            )
    except MessageRefused as exc:
        return exc.code
    return "sent"


def _ticket_utility_template(*, manager, giulia, wa_channel, marketing, capture, **_):
    # A channel whose "utility" template is in fact a marketing one: the policy still holds.
    wa_channel.utility_template = marketing
    wa_channel.utility_template_parameters = ["contact.name"]
    wa_channel.save()
    conversation = Conversation.objects.get(contact=giulia, channel=wa_channel, status="open")
    ticket = Ticket.objects.filter(contact=giulia).first()
    if ticket is None:
        ticket, _ = ticket_open_from_conversation(conversation=conversation, actor=manager)
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        try:
            with capture(execute=True):
                comment = ticket_comment_add(
                    ticket=ticket, author=manager, text="News on your case"
                )
        except MessageRefused as exc:
            return exc.code
    assert comment.message.type == "template"
    return "sent"


def _business_event(*, shop_key, shop, wa_channel, marketing, capture, **_):
    NotificationRule.objects.get_or_create(
        account=shop,
        event_type="cart_abandoned",
        channel=wa_channel,
        template=marketing,
        defaults={"parameters": {"body": ["contact.name"]}},
    )
    with capture(execute=True):
        response = key_client(shop_key).post(
            "/api/v1/events/",
            {
                "id": f"ev-{next(_ids)}",
                "type": "cart_abandoned",
                "data": {"cart": {}, "customer": {"name": "Giulia", "phone": "+393351032246"}},
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    event = BusinessEvent.objects.order_by("-pk").first()
    if event.state == "skipped":
        return event.reason.split(":")[0]
    assert event.state == "sent", event.reason
    return "sent"


def _rest_api(*, manager, giulia, wa_channel, marketing, capture, **_):
    with capture(execute=True):
        response = token_client(manager).post(
            "/api/v1/messages/",
            {
                "contact_id": giulia.pk,
                "channel": wa_channel.pk,
                "template": {"name": "spring_sale", "language": "it", "body_params": ["Giulia"]},
            },
            format="json",
        )
    if response.status_code == 201:
        return "sent"
    return assert_error(response, 422)["code"]


def _queued_before_the_opt_out(*, giulia, wa_channel, marketing, inbound, **_):
    # Queued while consent held; the STOP arrives before the worker delivers it.
    message = message_send_template(
        channel=wa_channel, contact=giulia, template=marketing, body_params=["Giulia"]
    )
    inbound("STOP")
    # The STOP's confirmation wakes the channel's delivery drain, which may take this message
    # along; otherwise the worker gets to it now.
    message.refresh_from_db()
    if message.status == "queued":
        message = message_deliver(message_id=message.pk)
    if message.status == "failed":
        return "opted_out" if "opted out" in message.error_title else message.error_title
    return "sent"


PATHS = {
    "inbox template": _inbox_template,
    "ticket utility template": _ticket_utility_template,
    "business event": _business_event,
    "REST API": _rest_api,
}


@pytest.mark.parametrize("path", PATHS)
def test_a_keyword_opt_out_stops_the_next_marketing_send_before_any_provider_call(
    graph,
    inbound,
    path,
    manager,
    giulia,
    wa_channel,
    marketing,
    opted_in,
    shop,
    shop_key,
    django_capture_on_commit_callbacks,
):
    send = PATHS[path]
    kwargs = dict(
        manager=manager,
        giulia=giulia,
        wa_channel=wa_channel,
        marketing=marketing,
        shop=shop,
        shop_key=shop_key,
        capture=django_capture_on_commit_callbacks,
        inbound=inbound,
    )
    inbound("hello")  # the conversation the inbox and the ticket work in
    assert send(**kwargs) == "sent"
    sent = provider_sends(graph)
    inbound("STOP")
    confirmed = provider_sends(graph)
    assert confirmed == sent + 1  # the confirmation, nothing else
    assert send(**kwargs) == "opted_out"
    assert provider_sends(graph) == confirmed
    inbound("START")
    assert ConsentRecord.objects.filter(contact=giulia).first().state == "opted_in"
    after_start = provider_sends(graph)
    assert send(**kwargs) == "sent"
    assert provider_sends(graph) == after_start + 1


def test_a_marketing_message_queued_before_the_stop_is_never_handed_to_the_provider(
    graph, inbound, giulia, wa_channel, marketing, opted_in
):
    inbound("hello")
    before = provider_sends(graph)
    assert (
        _queued_before_the_opt_out(
            giulia=giulia, wa_channel=wa_channel, marketing=marketing, inbound=inbound
        )
        == "opted_out"
    )
    assert provider_sends(graph) == before + 1  # only the STOP's confirmation


def _marketing_sent(giulia, wa_channel, marketing, capture) -> Message:
    with capture(execute=True):
        message = message_send_template(
            channel=wa_channel, contact=giulia, template=marketing, body_params=["Giulia"]
        )
    message.refresh_from_db()
    return message


def _failed_status(client, wa_account, capture, wamid: str, code: int, title: str):
    body = json.dumps(
        status_body(
            wamid,
            "failed",
            errors=[{"code": code, "title": title, "error_data": {"details": title}}],
        )
    ).encode()
    with capture(execute=True):
        client.post(
            f"/webhooks/whatsapp/{wa_account.key}/",
            data=body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=sign(body),
        )


def test_meta_131050_opts_the_address_out(
    graph,
    client,
    wa_account,
    giulia,
    wa_channel,
    marketing,
    opted_in,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    ContactAddress.objects.create(contact=giulia, transport="whatsapp", address=giulia.phone)
    message = _marketing_sent(giulia, wa_channel, marketing, capture)
    _failed_status(
        client,
        wa_account,
        capture,
        message.provider_message_id,
        131050,
        "Unable to deliver message: user stopped marketing messages",
    )
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", 131050)
    record = ConsentRecord.objects.filter(contact=giulia).first()
    assert (record.state, record.source) == ("opted_out", "platform")
    assert record.address.address == "+393351032246"
    with pytest.raises(MessageRefused) as refused:
        message_send_template(
            channel=wa_channel, contact=giulia, template=marketing, body_params=["Giulia"]
        )
    assert refused.value.code == "opted_out"


def test_meta_131050_on_the_send_call_opts_out_too(
    giulia, wa_channel, marketing, opted_in, django_capture_on_commit_callbacks
):
    import responses

    with responses.RequestsMock() as graph:
        graph.post(
            SEND_URL,
            status=400,
            json={"error": {"message": "(#131050) User stopped marketing", "code": 131050}},
        )
        message = _marketing_sent(giulia, wa_channel, marketing, django_capture_on_commit_callbacks)
    assert message.status == "failed"
    assert ConsentRecord.objects.filter(contact=giulia).first().state == "opted_out"


def test_meta_131049_is_a_skip_with_its_reason_and_holds_marketing_for_a_day(
    graph,
    client,
    wa_account,
    giulia,
    wa_channel,
    marketing,
    opted_in,
    template,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    ContactAddress.objects.create(contact=giulia, transport="whatsapp", address=giulia.phone)
    message = _marketing_sent(giulia, wa_channel, marketing, capture)
    _failed_status(
        client,
        wa_account,
        capture,
        message.provider_message_id,
        131049,
        "This message was not delivered to maintain healthy ecosystem engagement.",
    )
    message.refresh_from_db()
    assert message.status == "failed"
    assert message.error_title.startswith("Skipped: ")
    assert "held until" in message.error_title
    assert ConsentRecord.objects.filter(contact=giulia).first().state == "opted_in"
    with pytest.raises(MessageRefused) as refused:
        message_send_template(
            channel=wa_channel, contact=giulia, template=marketing, body_params=["Giulia"]
        )
    assert refused.value.code == "marketing_held"
    # Utility still goes; marketing goes again once Meta's wait is over.
    message_send_template(
        channel=wa_channel, contact=giulia, template=template, body_params=["G", "A", "ok"]
    )
    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        assert _marketing_sent(giulia, wa_channel, marketing, capture).status == "sent"
