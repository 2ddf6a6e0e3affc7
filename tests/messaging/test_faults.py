"""Faults after and before the commit: with the broker unreachable a stored webhook and a queued
send are successes that the sweep delivers once; with the database unreachable nothing is stored
and the webhook answers 503 so the provider retries."""

import json
from datetime import timedelta
from unittest import mock

import pytest
import redis
import time_machine
from django.db import DatabaseError, OperationalError, connection
from django.utils import timezone
from django_q.brokers.redis_broker import Redis as RedisBroker
from django_q.conf import Conf

from crm.models import Contact
from messaging import queueing
from messaging.models import Conversation, Message, WebhookEvent
from messaging.services import messages_retry_due, webhook_events_requeue
from tests.api.conftest import graph, graph_bodies, make_user, open_window, token_client

from .conftest import fixture_bytes, sign

__all__ = ["graph"]

pytestmark = pytest.mark.django_db

# Nothing listens on the discard port: every broker call fails with a connection error.
CLOSED_REDIS = "redis://127.0.0.1:9/0"


class Broker:
    """Switches the task cluster's broker between unreachable and back (tasks run inline)."""

    def __init__(self, settings, monkeypatch):
        self.settings = settings
        self.monkeypatch = monkeypatch
        self.inline = settings.Q_CLUSTER

    def down(self):
        broken = RedisBroker(list_key="faults")
        broken.connection = redis.Redis.from_url(CLOSED_REDIS, socket_connect_timeout=0.5)
        self.settings.Q_CLUSTER = {**self.inline, "sync": False, "redis": CLOSED_REDIS}
        self.monkeypatch.setattr(Conf, "SYNC", False)
        self.monkeypatch.setattr(queueing, "_broker", lambda: broken)
        self.monkeypatch.setattr(queueing, "_last_wake", {})

    def back(self):
        self.settings.Q_CLUSTER = self.inline
        self.monkeypatch.undo()


@pytest.fixture
def broker(settings, monkeypatch):
    return Broker(settings, monkeypatch)


def test_a_stored_webhook_is_answered_200_while_the_broker_is_down(
    broker, post_webhook, wa_channel
):
    broker.down()
    response = post_webhook("inbound_text.json")
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.PENDING
    assert not Message.objects.exists()

    broker.back()
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert webhook_events_requeue() == 1
    event.refresh_from_db()
    assert event.state == WebhookEvent.State.PROCESSED
    assert Message.objects.filter(direction="in").count() == 1


def test_a_webhook_refused_for_its_signature_is_still_403_while_the_broker_is_down(
    broker, post_webhook, wa_channel
):
    broker.down()
    assert post_webhook("inbound_text.json", signature="sha256=00").status_code == 403
    assert WebhookEvent.objects.get().state == WebhookEvent.State.REJECTED


@pytest.fixture
def giulia(db):
    return Contact.objects.create(phone="+393351032246", name="Giulia")


def test_an_api_send_is_answered_once_and_delivered_once_after_the_broker_returns(
    broker, graph, wa_channel, giulia, django_capture_on_commit_callbacks
):
    open_window(wa_channel, giulia)
    manager = make_user("manager", "manager")
    broker.down()
    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(manager).post(
            "/api/v1/messages/", {"contact_id": giulia.pk, "text": "Ciao!"}, format="json"
        )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "queued"
    message = Message.objects.get(direction="out")
    assert message.status == "queued"
    assert graph_bodies(graph) == []

    broker.back()
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        messages_retry_due()
        messages_retry_due()  # a second sweep finds nothing left to send
    message.refresh_from_db()
    assert message.status == "sent"
    assert [body["text"]["body"] for body in graph_bodies(graph)] == ["Ciao!"]
    assert Message.objects.filter(direction="out").count() == 1


def test_an_inbox_reply_shows_as_queued_while_the_broker_is_down(
    broker, client, wa_channel, giulia, django_capture_on_commit_callbacks
):
    conversation = open_window(wa_channel, giulia)
    client.force_login(make_user("manager", "manager"))
    broker.down()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/inbox/c/{conversation.pk}/reply", {"text": "On its way"}, follow=True
        )
    assert response.status_code == 200
    message = Message.objects.get(direction="out")
    assert message.status == "queued"
    assert f'id="m{message.pk}"' in response.content.decode()
    assert "On its way" in response.content.decode()


def test_a_webhook_answers_503_when_its_account_cannot_be_read(client, wa_account):
    body = fixture_bytes("inbound_text.json")
    with mock.patch(
        "messaging.webhooks.webhook_account", side_effect=OperationalError("server closed")
    ):
        response = client.post(
            f"/webhooks/whatsapp/{wa_account.key}/",
            data=body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=sign(body),
        )
    assert response.status_code == 503
    assert json.loads(response.content) == {"error": "Temporarily unable to store the event."}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_webhook_answers_503_when_the_database_is_unreachable(client, wa_account):
    body = fixture_bytes("inbound_text.json")
    key = wa_account.key
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "9"  # nothing listens there
    try:
        response = client.post(
            f"/webhooks/whatsapp/{key}/",
            data=body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=sign(body),
        )
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert not WebhookEvent.objects.exists()
    assert not Conversation.objects.exists()


def test_a_database_error_while_storing_is_503_not_500(client, wa_account):
    body = fixture_bytes("inbound_text.json")
    with mock.patch("messaging.webhooks.webhook_event_store", side_effect=DatabaseError("full")):
        response = client.post(
            f"/webhooks/whatsapp/{wa_account.key}/",
            data=body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=sign(body),
        )
    assert response.status_code == 503
