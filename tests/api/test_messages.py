"""Sends over the API: text inside the window, the 24-hour rule's refusal, templates, and
`Idempotency-Key` (one Graph API call however often a request is retried)."""

import threading

import pytest
from django.db import close_old_connections, connection

from messaging.models import IdempotencyKey, Message
from messaging.services.outbound import _check_window

from .conftest import (
    assert_error,
    graph_bodies,
    key_client,
    open_window,
    token_client,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """POST a send and run what it leaves for after the commit (the delivery task)."""

    def post(client, body, **headers):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/api/v1/messages/", body, format="json", **headers)

    return post


def test_it_sends_text_to_a_contact_inside_the_window(graph, send, manager, wa_channel, giulia):
    open_window(wa_channel, giulia)
    response = send(token_client(manager), {"contact_id": giulia.pk, "text": "Ciao!"})
    assert response.status_code == 201, response.content
    # The answer is given when the message is queued; delivery runs after the commit.
    assert response.json()["status"] == "queued"
    assert Message.objects.get(pk=response.json()["id"]).status == "sent"
    [body] = graph_bodies(graph)
    assert body["to"] == "393351032246"
    assert body["text"]["body"] == "Ciao!"


def test_outside_the_window_text_is_refused_with_the_inbox_text(
    graph, send, manager, wa_channel, giulia
):
    response = send(token_client(manager), {"contact_id": giulia.pk, "text": "Ciao!"})
    error = assert_error(response, 422, "outside_window")
    with pytest.raises(Exception) as refused:
        _check_window(channel=wa_channel, contact=giulia)
    assert error["message"] == str(refused.value)
    assert graph_bodies(graph) == []
    assert not Message.objects.exists()


def test_a_template_goes_to_a_phone_number_outside_the_window(
    graph, send, wa_key, wa_channel, template
):
    response = send(
        key_client(wa_key),
        {
            "phone": "0039 335 103 2246",
            "template": {
                "name": "order_update",
                "language": "it",
                "body_params": ["Giulia", "A-1", "spedito"],
            },
        },
    )
    assert response.status_code == 201, response.content
    [body] = graph_bodies(graph)
    assert body["to"] == "393351032246"
    assert body["template"]["name"] == "order_update"
    assert body["template"]["components"] == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Giulia"},
                {"type": "text", "text": "A-1"},
                {"type": "text", "text": "spedito"},
            ],
        }
    ]
    # The number became one of the key's contacts.
    assert key_client(wa_key).get("/api/v1/contacts/").json()["count"] == 1


def test_an_unknown_template_is_a_404(send, wa_key, wa_channel):
    response = send(
        key_client(wa_key), {"phone": "+393351032246", "template": {"name": "x", "language": "it"}}
    )
    assert_error(response, 404)


def test_a_wrong_parameter_count_is_refused_before_any_call(
    graph, send, wa_key, wa_channel, template
):
    body = {"phone": "+393351032246", "template": {"name": "order_update", "language": "it"}}
    error = assert_error(send(key_client(wa_key), body), 422, "template_parameters")
    assert "takes 3 body parameter(s); 0 given" in error["message"]
    assert graph_bodies(graph) == []


def test_text_and_template_together_are_a_field_error(manager, giulia):
    response = token_client(manager).post(
        "/api/v1/messages/",
        {"contact_id": giulia.pk, "text": "a", "template": {"name": "x", "language": "it"}},
        format="json",
    )
    assert "text" in assert_error(response, 400)["fields"]


def test_a_sales_rep_cannot_send_to_someone_elses_client(send, rep1, wa_channel, marco):
    open_window(wa_channel, marco)
    response = send(token_client(rep1), {"phone": marco.phone, "text": "hi"})
    assert "not one of their clients" in assert_error(response, 403)["message"]


def test_a_key_cannot_send_on_a_channel_of_another_account(send, shop_key, wa_channel):
    response = send(
        key_client(shop_key), {"channel": wa_channel.pk, "phone": "+393351032246", "text": "x"}
    )
    assert_error(response, 404)


# --- Idempotency-Key ------------------------------------------------------------------------


def test_the_same_key_and_body_send_once_and_replay_the_first_answer(
    graph, send, manager, wa_channel, giulia
):
    open_window(wa_channel, giulia)
    client = token_client(manager)
    body = {"contact_id": giulia.pk, "text": "Ciao!"}
    first = send(client, body, HTTP_IDEMPOTENCY_KEY="abc-1")
    again = send(client, body, HTTP_IDEMPOTENCY_KEY="abc-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert len(graph_bodies(graph)) == 1
    assert Message.objects.count() == 1


def test_a_refusal_is_replayed_too(graph, send, manager, wa_channel, giulia):
    client = token_client(manager)
    body = {"contact_id": giulia.pk, "text": "Ciao!"}
    first = send(client, body, HTTP_IDEMPOTENCY_KEY="k")
    open_window(wa_channel, giulia)
    again = send(client, body, HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json()
    assert graph_bodies(graph) == []


def test_the_same_key_with_another_body_is_a_409(graph, send, manager, wa_channel, giulia):
    open_window(wa_channel, giulia)
    client = token_client(manager)
    send(client, {"contact_id": giulia.pk, "text": "one"}, HTTP_IDEMPOTENCY_KEY="k")
    response = send(client, {"contact_id": giulia.pk, "text": "two"}, HTTP_IDEMPOTENCY_KEY="k")
    assert_error(response, 409, "idempotency_key_reused")
    assert len(graph_bodies(graph)) == 1


def test_keys_are_per_principal(graph, send, manager, wa_key, wa_channel, giulia):
    open_window(wa_channel, giulia)
    body = {"contact_id": giulia.pk, "text": "Ciao!"}
    send(token_client(manager), body, HTTP_IDEMPOTENCY_KEY="same")
    send(key_client(wa_key), body, HTTP_IDEMPOTENCY_KEY="same")
    assert len(graph_bodies(graph)) == 2


def test_a_request_still_in_progress_is_a_409(manager, wa_channel, giulia):
    open_window(wa_channel, giulia)
    client = token_client(manager)
    body = {"contact_id": giulia.pk, "text": "Ciao!"}
    from messaging.idempotency import request_fingerprint

    IdempotencyKey.objects.create(
        principal=str(manager.pk),
        key="busy",
        request_hash=request_fingerprint(method="POST", path="/api/v1/messages/", data=body),
    )
    response = client.post("/api/v1/messages/", body, format="json", HTTP_IDEMPOTENCY_KEY="busy")
    assert_error(response, 409, "idempotency_in_progress")


def test_an_overlong_key_is_a_field_error(manager, giulia):
    response = token_client(manager).post(
        "/api/v1/messages/",
        {"contact_id": giulia.pk, "text": "x"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k" * 300,
    )
    assert "Idempotency-Key" in assert_error(response, 400)["fields"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_send_once(graph, wa_channel, manager, giulia):
    open_window(wa_channel, giulia)
    client_token = token_client(manager)._credentials["HTTP_AUTHORIZATION"]
    body = {"contact_id": giulia.pk, "text": "Ciao!"}
    barrier = threading.Barrier(4)
    statuses = []

    def worker():
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=client_token)
        try:
            barrier.wait()
            response = client.post(
                "/api/v1/messages/", body, format="json", HTTP_IDEMPOTENCY_KEY="race"
            )
            statuses.append(response.status_code)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The losers waited on the unique index and replayed the winner's answer.
    assert statuses == [201, 201, 201, 201]
    assert Message.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1
    assert len(graph_bodies(graph)) == 1


def test_keys_are_forgotten_after_a_day(graph, send, manager, wa_channel, giulia):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from messaging.idempotency import idempotency_keys_purge

    open_window(wa_channel, giulia)
    send(token_client(manager), {"contact_id": giulia.pk, "text": "x"}, HTTP_IDEMPOTENCY_KEY="k")
    assert idempotency_keys_purge() == 0
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert idempotency_keys_purge() == 1
    assert not IdempotencyKey.objects.exists()


def test_a_send_by_whatsapp_user_id_reaches_the_contact_owning_it(
    graph, send, manager, wa_channel, giulia
):
    from crm.addresses import Address
    from crm.services import contact_address_add

    contact_address_add(contact=giulia, address=Address("whatsapp_bsuid", "IT.1502576394655843"))
    open_window(wa_channel, giulia)
    response = send(
        token_client(manager),
        {
            "address": {"transport": "whatsapp_bsuid", "address": "IT.1502576394655843"},
            "text": "Ciao!",
        },
    )
    assert response.status_code == 201, response.content
    assert Message.objects.get(pk=response.json()["id"]).conversation.contact == giulia
    [body] = graph_bodies(graph)
    assert body["to"] == "393351032246"


def test_a_send_with_both_a_phone_and_an_address_is_a_field_error(manager, giulia):
    response = token_client(manager).post(
        "/api/v1/messages/",
        {
            "phone": giulia.phone,
            "address": {"transport": "whatsapp_bsuid", "address": "IT.1502576394655843"},
            "text": "Ciao!",
        },
        format="json",
    )
    assert "contact_id" in assert_error(response, 400)["fields"]


def test_a_malformed_user_id_is_a_field_error(manager):
    response = token_client(manager).post(
        "/api/v1/messages/",
        {"address": {"transport": "whatsapp_bsuid", "address": "3933"}, "text": "Ciao!"},
        format="json",
    )
    assert "address.address" in assert_error(response, 400)["fields"]
