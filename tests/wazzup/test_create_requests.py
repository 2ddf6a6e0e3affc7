"""createContact / createDeal: answered in the webhook's response with Wazzup's shapes, routed
like a native new client, one contact and one deal however the requests race the messages."""

import json

import pytest

from crm.models import Contact, Deal, Pipeline, Stage
from messaging.models import Conversation, RoutingMode, WebhookEvent
from tests.wazzup.conftest import fixture_json, make_agent


@pytest.fixture
def funnel(db):
    pipeline = Pipeline.objects.create(name="Sales")
    Stage.objects.create(pipeline=pipeline, name="New", position=1)
    qualified = Stage.objects.create(pipeline=pipeline, name="Qualified", position=2)
    return pipeline, qualified


@pytest.fixture
def round_robin(wz_whatsapp, funnel):
    pipeline, stage = funnel
    wz_whatsapp.routing_mode = RoutingMode.ROUND_ROBIN
    wz_whatsapp.new_client_pipeline, wz_whatsapp.new_client_stage = pipeline, stage
    wz_whatsapp.save()
    return wz_whatsapp


def test_create_contact_is_answered_with_the_contact_in_wazzup_shape(wz_post, round_robin):
    igor = make_agent("igor", channels=[round_robin])
    response = wz_post("create_contact.json")
    assert response.status_code == 200
    answer = response.json()
    expected = fixture_json("create_contact_response.json")
    assert answer.keys() == expected.keys()
    contact = Contact.objects.get()
    assert answer["id"] == str(contact.pk)
    assert answer["name"] == expected["name"]
    assert answer["contactData"] == expected["contactData"]
    assert answer["uri"].endswith(f"/admin/crm/contact/{contact.pk}/change/")
    # Routed like a native new client on a round-robin channel: the next agent, a deal in the
    # channel's funnel and stage.
    assert answer["responsibleUserId"] == str(igor.pk)
    assert contact.responsible == igor
    deal = Deal.objects.get()
    assert (deal.pipeline, deal.stage.name, deal.responsible) == (
        round_robin.new_client_pipeline,
        "Qualified",
        igor,
    )
    assert WebhookEvent.objects.get().state == WebhookEvent.State.PROCESSED


def test_first_responder_leaves_the_client_open_and_answers_wazzups_proposal(wz_post, wz_whatsapp):
    response = wz_post("create_contact.json")
    assert response.json()["responsibleUserId"] == "crm-user-17"
    assert Contact.objects.get().responsible is None
    assert not Deal.objects.exists()


def test_create_contact_by_a_user_makes_that_agent_the_first_responder(
    wz_post, wz_whatsapp, funnel
):
    wz_whatsapp.new_client_pipeline = funnel[0]
    wz_whatsapp.save()
    anna = make_agent("anna", channels=[wz_whatsapp])
    body = fixture_json("create_contact.json")
    body["createContact"].update(source="byUser", responsibleUserId=str(anna.pk))
    answer = wz_post(json.dumps(body).encode()).json()
    assert answer["responsibleUserId"] == str(anna.pk)
    assert Contact.objects.get().responsible == anna
    assert Conversation.objects.get().assignee == anna
    assert Deal.objects.get().responsible == anna


def test_create_contact_for_a_known_client_answers_that_client(wz_post, round_robin):
    make_agent("igor", channels=[round_robin])
    wz_post("webhook_messages.json")
    answer = wz_post("create_contact.json").json()
    assert answer["id"] == str(Contact.objects.get().pk)
    assert Deal.objects.count() == 1


def test_create_deal_returns_the_clients_open_deal_or_opens_one(wz_post, round_robin):
    make_agent("igor", channels=[round_robin])
    contact_id = wz_post("create_contact.json").json()["id"]
    body = fixture_json("create_deal.json")
    body["createDeal"]["contacts"] = [contact_id]
    answer = wz_post(json.dumps(body).encode()).json()
    expected = fixture_json("create_deal_response.json")
    assert answer.keys() == expected.keys()
    deal = Deal.objects.get()
    assert answer["id"] == str(deal.pk)
    assert answer["contacts"] == [contact_id]
    assert answer["closed"] is False
    assert answer["uri"].endswith(f"/admin/crm/deal/{deal.pk}/change/")


def test_create_deal_opens_a_deal_when_the_client_has_none(wz_post, wz_whatsapp, funnel):
    wz_whatsapp.new_client_pipeline = funnel[0]
    wz_whatsapp.save()
    contact_id = wz_post("create_contact.json").json()["id"]
    assert not Deal.objects.exists()
    body = fixture_json("create_deal.json")
    body["createDeal"]["contacts"] = [contact_id]
    answer = wz_post(json.dumps(body).encode()).json()
    deal = Deal.objects.get()
    assert answer["id"] == str(deal.pk)
    assert deal.pipeline == funnel[0]
    assert [c.pk for c in deal.contacts.all()] == [int(contact_id)]


def test_create_deal_for_an_unknown_contact_is_stored_and_failed(wz_post, wz_whatsapp, funnel):
    body = fixture_json("create_deal.json")  # names "crm-contact-1003": not one of ours
    response = wz_post(json.dumps(body).encode())
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.FAILED
    assert "no contact of ours" in event.error


def test_a_repeated_create_contact_is_answered_again_with_the_same_contact(wz_post, round_robin):
    make_agent("igor", channels=[round_robin])
    first = wz_post("create_contact.json").json()
    again = wz_post("create_contact.json").json()
    assert first == again
    assert WebhookEvent.objects.count() == 1
    assert Contact.objects.count() == 1
