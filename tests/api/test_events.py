"""Business events: each type becomes its template message with the exact parameters; every
skip has its reason; reminders wait for their time; duplicates are one event; invalid events
are refused and kept."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from crm.models import Contact
from integrations.models import BusinessEvent, NotificationRule
from integrations.notifications import business_events_send_due
from messaging.models import Message, MessageTemplate

from .conftest import assert_error, graph_bodies, key_client

pytestmark = pytest.mark.django_db

CUSTOMER = {"name": "Giulia", "phone": "+39 335 103 2246"}
OTHER = {"name": "Paolo", "phone": "347 123 4567"}
ACTIVITY = {
    "id": "A-7",
    "title": "Call the plumber",
    "status": "done",
    "due_at": "2026-03-02T10:00:00+01:00",
    "creator": CUSTOMER,
    "assignee": OTHER,
}
FILE_DATA = {
    "file": {"name": "contract.pdf"},
    "folder": {"name": "Contracts", "administrator": CUSTOMER},
    "actor": {"name": "Paolo"},
}

# type, data, body parameter paths, expected body parameters, expected recipient (wa_id)
CASES = [
    (
        "order_status_changed",
        {"status": "shipped", "order": {"number": "A-100"}, "customer": CUSTOMER},
        ["customer.name", "order.number", "status"],
        ["Giulia", "A-100", "shipped"],
        "393351032246",
    ),
    (
        "cart_abandoned",
        {"cart": {"url": "https://shop.example/cart/9", "total": "12.50"}, "customer": CUSTOMER},
        ["contact.name", "cart.total", "cart.url"],
        ["Giulia", "12.50", "https://shop.example/cart/9"],
        "393351032246",
    ),
    (
        "reserved_message_sent",
        {"message": {"subject": "Invoice", "sender": OTHER, "recipient": CUSTOMER}},
        ["message.sender.name", "message.subject"],
        ["Paolo", "Invoice"],
        "393351032246",
    ),
    (
        "reserved_message_read",
        {"message": {"subject": "Invoice", "sender": OTHER, "recipient": CUSTOMER}},
        ["message.recipient.name", "message.subject"],
        ["Giulia", "Invoice"],
        "393471234567",
    ),
    (
        "activity_status_changed",
        {"activity": ACTIVITY},
        ["activity.title", "activity.status"],
        ["Call the plumber", "done"],
        "393351032246",
    ),
    (
        "activity_acknowledged",
        {"activity": ACTIVITY},
        ["activity.assignee.name", "activity.title"],
        ["Paolo", "Call the plumber"],
        "393351032246",
    ),
    (
        "file_uploaded",
        {**FILE_DATA},
        ["actor.name", "file.name", "folder.name"],
        ["Paolo", "contract.pdf", "Contracts"],
        "393351032246",
    ),
    (
        "file_downloaded",
        {**FILE_DATA},
        ["file.name", "event.id"],
        ["contract.pdf", "ev-1"],
        "393351032246",
    ),
    (
        "file_previewed",
        {**FILE_DATA},
        ["file.name", "contact.phone"],
        ["contract.pdf", "+393351032246"],
        "393351032246",
    ),
]


@pytest.fixture
def post_event(shop_key, django_capture_on_commit_callbacks):
    def post(body):
        with django_capture_on_commit_callbacks(execute=True):
            return key_client(shop_key).post("/api/v1/events/", body, format="json")

    return post


def make_rule(shop, channel, event_type, *, body=(), **extra):
    template = MessageTemplate.objects.create(
        account=channel.account,
        name=f"{event_type}_tpl",
        language="it",
        status="APPROVED",
        components=[
            {"type": "BODY", "text": " ".join(f"{{{{{n + 1}}}}}" for n in range(len(body)))}
        ],
        body_param_count=len(body),
        button_param_count=len(extra.get("parameters", {}).get("buttons", [])),
    )
    parameters = extra.pop("parameters", {"body": list(body)})
    return NotificationRule.objects.create(
        account=shop,
        event_type=event_type,
        channel=channel,
        template=template,
        parameters=parameters,
        **extra,
    )


def body_params(request_body):
    [body] = [c for c in request_body["template"]["components"] if c["type"] == "body"]
    return [p["text"] for p in body["parameters"]]


@pytest.mark.parametrize(("event_type", "data", "paths", "expected", "to"), CASES)
def test_each_event_type_sends_its_template_with_the_exact_parameters(
    graph, post_event, shop, wa_channel, event_type, data, paths, expected, to
):
    rule = make_rule(shop, wa_channel, event_type, body=paths)
    response = post_event({"id": "ev-1", "type": event_type, "data": data})
    assert response.status_code == 201, response.content
    assert response.json()["state"] == "sent"
    [sent] = graph_bodies(graph)
    assert sent["to"] == to
    assert sent["type"] == "template"
    assert sent["template"]["name"] == rule.template.name
    assert sent["template"]["language"] == {"code": "it"}
    assert body_params(sent) == expected
    event = BusinessEvent.objects.get()
    assert event.message == Message.objects.get()
    assert event.message.status == "sent"


def test_an_explicit_recipient_wins_over_the_phone_in_the_data(graph, post_event, shop, wa_channel):
    make_rule(shop, wa_channel, "cart_abandoned", body=["contact.name"])
    paolo = Contact.objects.create(phone="+393471234567", name="Paolo")
    post_event(
        {
            "id": "e",
            "type": "cart_abandoned",
            "recipient": {"contact_id": paolo.pk},
            "data": {"cart": {}, "customer": CUSTOMER},
        }
    )
    # Unknown to the shop: a contact id must be one of its own contacts.
    assert BusinessEvent.objects.get().state == "failed"
    post_event(
        {
            "id": "e2",
            "type": "cart_abandoned",
            "recipient": {"phone": "+39 347 123 4567"},
            "data": {"cart": {}, "customer": CUSTOMER},
        }
    )
    [sent] = graph_bodies(graph)
    assert sent["to"] == "393471234567"
    assert body_params(sent) == ["Paolo"]


def test_header_and_button_parameters_come_from_their_paths(graph, post_event, shop, wa_channel):
    rule = make_rule(
        shop,
        wa_channel,
        "order_status_changed",
        parameters={
            "header": ["order.number"],
            "body": ["status"],
            "buttons": [{"index": 0, "sub_type": "url", "path": "order.url"}],
        },
    )
    MessageTemplate.objects.filter(pk=rule.template_id).update(
        header_format="TEXT", header_param_count=1, body_param_count=1
    )
    post_event(
        {
            "id": "o",
            "type": "order_status_changed",
            "data": {
                "status": "paid",
                "order": {"number": "A-9", "url": "a9"},
                "customer": CUSTOMER,
            },
        }
    )
    [sent] = graph_bodies(graph)
    assert sent["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "A-9"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "paid"}]},
        {
            "type": "button",
            "sub_type": "url",
            "index": "0",
            "parameters": [{"type": "text", "text": "a9"}],
        },
    ]


# --- skips and failures ---------------------------------------------------------------------

ORDER = {"status": "shipped", "order": {"number": "A-1"}, "customer": CUSTOMER}


def _outcome(post_event, body):
    response = post_event(body)
    assert response.status_code == 201, response.content
    return response.json()


def test_it_skips_an_event_without_a_rule(graph, post_event):
    result = _outcome(post_event, {"id": "1", "type": "order_status_changed", "data": ORDER})
    assert result["state"] == "skipped"
    assert result["reason"] == "No notification rule for order_status_changed events."
    assert graph_bodies(graph) == []


def test_it_skips_an_event_whose_rule_is_off(graph, post_event, shop, wa_channel):
    make_rule(shop, wa_channel, "order_status_changed", is_enabled=False)
    result = _outcome(post_event, {"id": "1", "type": "order_status_changed", "data": ORDER})
    assert (result["state"], result["reason"]) == (
        "skipped",
        "The notification rule for order_status_changed is off.",
    )
    assert graph_bodies(graph) == []


def test_it_skips_an_order_status_that_does_not_notify(graph, post_event, shop, wa_channel):
    make_rule(shop, wa_channel, "order_status_changed", statuses=["delivered", "cancelled"])
    result = _outcome(post_event, {"id": "1", "type": "order_status_changed", "data": ORDER})
    assert result["state"] == "skipped"
    assert result["reason"] == (
        "Order status 'shipped' does not notify (notifying: delivered, cancelled)."
    )
    assert graph_bodies(graph) == []


def test_it_sends_a_selected_order_status(graph, post_event, shop, wa_channel):
    make_rule(shop, wa_channel, "order_status_changed", statuses=["shipped"])
    result = _outcome(post_event, {"id": "1", "type": "order_status_changed", "data": ORDER})
    assert result["state"] == "sent"
    assert len(graph_bodies(graph)) == 1


def test_it_skips_an_event_with_no_phone(graph, post_event, shop, wa_channel):
    make_rule(shop, wa_channel, "order_status_changed")
    data = {"status": "shipped", "order": {"number": "A-1"}, "customer": {"name": "Anon"}}
    result = _outcome(post_event, {"id": "1", "type": "order_status_changed", "data": data})
    assert result["state"] == "skipped"
    assert result["reason"] == "No phone: the event has no recipient and no data.customer.phone."
    assert graph_bodies(graph) == []


def test_an_unreadable_phone_fails_with_the_reason(graph, post_event, shop, wa_channel):
    make_rule(shop, wa_channel, "order_status_changed")
    data = {**ORDER, "customer": {"phone": "12ab"}}
    result = _outcome(post_event, {"id": "1", "type": "order_status_changed", "data": data})
    assert result["state"] == "failed"
    assert "is not a valid phone number" in result["reason"]


def test_a_missing_parameter_fails_with_its_path(graph, post_event, shop, wa_channel):
    make_rule(shop, wa_channel, "order_status_changed", body=["order.total"])
    result = _outcome(post_event, {"id": "1", "type": "order_status_changed", "data": ORDER})
    assert (result["state"], result["reason"]) == ("failed", "The event data has no order.total.")
    assert graph_bodies(graph) == []
    assert not Message.objects.exists()


def test_a_template_not_approved_fails_with_the_send_services_reason(
    graph, post_event, shop, wa_channel
):
    rule = make_rule(shop, wa_channel, "order_status_changed")
    MessageTemplate.objects.filter(pk=rule.template_id).update(status="PENDING")
    result = _outcome(post_event, {"id": "1", "type": "order_status_changed", "data": ORDER})
    assert result["state"] == "failed"
    assert "is not approved (status PENDING)" in result["reason"]


# --- duplicates and rejections --------------------------------------------------------------


def test_the_same_event_id_twice_is_one_event(graph, post_event, shop, wa_channel):
    make_rule(shop, wa_channel, "order_status_changed")
    body = {"id": "dup", "type": "order_status_changed", "data": ORDER}
    first = post_event(body)
    second = post_event(body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert BusinessEvent.objects.count() == 1
    assert len(graph_bodies(graph)) == 1


def test_an_unknown_type_is_a_400_and_kept_as_rejected(post_event):
    response = post_event({"id": "x", "type": "order_exploded", "data": {}})
    error = assert_error(response, 400, "invalid")
    assert "type" in error["fields"]
    event = BusinessEvent.objects.get()
    assert (event.state, event.external_id, event.type) == ("rejected", "x", "order_exploded")
    assert "type" in event.errors


def test_invalid_data_is_a_400_with_the_nested_fields(post_event):
    response = post_event({"id": "x", "type": "order_status_changed", "data": {"order": {}}})
    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"data.status", "data.order.number"}
    assert BusinessEvent.objects.get().state == "rejected"


def test_a_corrected_resend_of_a_rejected_id_is_accepted(post_event, shop, wa_channel, graph):
    make_rule(shop, wa_channel, "order_status_changed")
    post_event({"id": "x", "type": "order_status_changed", "data": {}})
    response = post_event({"id": "x", "type": "order_status_changed", "data": ORDER})
    assert response.status_code == 201
    assert response.json()["state"] == "sent"
    assert sorted(BusinessEvent.objects.values_list("state", flat=True)) == ["rejected", "sent"]


def test_a_body_that_is_not_an_object_is_rejected(post_event):
    assert_error(post_event(["not", "an", "object"]), 400)
    assert BusinessEvent.objects.get().state == "rejected"


# --- activity_due reminders -----------------------------------------------------------------


def test_an_activity_due_reminder_goes_at_due_time_minus_the_lead_time(
    graph, post_event, shop, wa_channel, django_capture_on_commit_callbacks
):
    make_rule(shop, wa_channel, "activity_due", body=["activity.title"], lead_time_minutes=30)
    due = timezone.now().replace(microsecond=0) + timedelta(hours=2)
    data = {"activity": {**ACTIVITY, "due_at": due.isoformat()}}
    result = _outcome(post_event, {"id": "r", "type": "activity_due", "data": data})
    assert result["state"] == "scheduled"
    event = BusinessEvent.objects.get()
    assert event.send_at == due - timedelta(minutes=30)
    assert graph_bodies(graph) == []

    with time_machine.travel(due - timedelta(minutes=31), tick=False):
        assert business_events_send_due() == {"sent": 0, "skipped": 0, "failed": 0}
    assert graph_bodies(graph) == []

    with (
        time_machine.travel(due - timedelta(minutes=30), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert business_events_send_due()["sent"] == 1
    [sent] = graph_bodies(graph)
    assert sent["to"] == "393471234567"  # the assignee
    assert body_params(sent) == ["Call the plumber"]
    event.refresh_from_db()
    assert event.state == "sent"
    # Running the job again sends nothing more.
    with time_machine.travel(due, tick=False):
        business_events_send_due()
    assert len(graph_bodies(graph)) == 1


def test_a_reminder_whose_time_has_passed_goes_at_once(graph, post_event, shop, wa_channel):
    make_rule(shop, wa_channel, "activity_due", lead_time_minutes=60)
    due = timezone.now() + timedelta(minutes=10)
    data = {"activity": {**ACTIVITY, "due_at": due.isoformat()}}
    assert _outcome(post_event, {"id": "r", "type": "activity_due", "data": data})["state"] == (
        "sent"
    )


def test_a_reminder_whose_rule_was_switched_off_is_skipped_at_its_time(
    graph, post_event, shop, wa_channel
):
    rule = make_rule(shop, wa_channel, "activity_due", lead_time_minutes=0)
    due = timezone.now() + timedelta(hours=1)
    data = {"activity": {**ACTIVITY, "due_at": due.isoformat()}}
    _outcome(post_event, {"id": "r", "type": "activity_due", "data": data})
    rule.is_enabled = False
    rule.save()
    with time_machine.travel(due + timedelta(minutes=1), tick=False):
        assert business_events_send_due()["skipped"] == 1
    assert graph_bodies(graph) == []


def test_an_activity_due_without_due_at_is_rejected(post_event):
    data = {"activity": {"title": "x"}}
    error = assert_error(post_event({"id": "r", "type": "activity_due", "data": data}), 400)
    assert "data.activity.due_at" in error["fields"]


def test_nul_characters_in_the_data_are_stored_without_failing(post_event):
    data = {**ORDER, "note": "a\x00b"}
    result = _outcome(post_event, {"id": "nul", "type": "order_status_changed", "data": data})
    assert result["state"] == "skipped"
    assert BusinessEvent.objects.get().payload["data"]["note"] == "a\ufffdb"


def test_text_that_is_not_unicode_is_a_400(shop_key):
    body = '{"id": "s", "type": "cart_abandoned", "data": {"cart": {"url": "\\ud800"}}}'
    response = key_client(shop_key).post(
        "/api/v1/events/", data=body, content_type="application/json"
    )
    assert "not valid Unicode" in assert_error(response, 400)["message"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_event_id_send_once(graph, shop, shop_key, wa_channel):
    import threading

    from django.db import connection

    make_rule(shop, wa_channel, "order_status_changed")
    body = {"id": "race", "type": "order_status_changed", "data": ORDER}
    barrier = threading.Barrier(4)
    statuses = []

    def worker():
        try:
            barrier.wait()
            response = key_client(shop_key).post("/api/v1/events/", body, format="json")
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    assert BusinessEvent.objects.count() == 1
    assert Message.objects.count() == 1
    assert len(graph_bodies(graph)) == 1
