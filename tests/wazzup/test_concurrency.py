"""Real threads on PostgreSQL: a new client's first message and Wazzup's createContact for them
arrive at once, and there is still one contact, one conversation and one deal."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from crm.models import Contact, Deal, Pipeline, Stage
from messaging.models import Conversation, RoutingMode
from messaging.providers.wazzup_parse import parse_body
from messaging.services import message_receive
from tests.concurrency import run_at_once
from tests.wazzup.conftest import TOKEN, fixture_bytes, fixture_json, make_agent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_message_and_create_contact_at_once_make_one_contact_and_one_deal(
    wz_account, wz_whatsapp
):
    pipeline = Pipeline.objects.create(name="Sales")
    Stage.objects.create(pipeline=pipeline, name="New")
    wz_whatsapp.routing_mode = RoutingMode.ROUND_ROBIN
    wz_whatsapp.new_client_pipeline = pipeline
    wz_whatsapp.save()
    make_agent("anna", channels=[wz_whatsapp])
    make_agent("igor", channels=[wz_whatsapp])
    url = reverse("webhook", args=["wazzup", wz_account.key]) + f"?key={TOKEN}"
    answers = []

    for round_ in range(5):
        phone = f"4477009001{round_:02d}"
        message_body = fixture_bytes("webhook_messages.json")
        message_body = message_body.replace(b"447700900123", phone.encode())
        message_body = message_body.replace(b"-5f4e3d2c1b0a", f"-5f4e3d2c1b{round_:02d}".encode())
        message_body = message_body.replace(b"-3e4f5a6b7c8d", f"-3e4f5a6b7c{round_:02d}".encode())
        inbound = parse_body(message_body)[0]
        create = fixture_json("create_contact.json")
        create["createContact"]["contactData"][0]["chatId"] = phone

        def work(index, inbound=inbound, create=create):
            if index == 0:
                message_receive(channel=wz_whatsapp, inbound=inbound)
            else:
                response = Client().post(
                    url, data=json.dumps(create), content_type="application/json"
                )
                answers.append(response.json())

        assert run_at_once(2, work) == []
        contact = Contact.objects.get(phone=f"+{phone}")
        assert Conversation.objects.filter(contact=contact).count() == 1
        assert Deal.objects.filter(contacts=contact).count() == 1
        assert answers[-1]["id"] == str(contact.pk)
        assert answers[-1]["responsibleUserId"] == str(contact.responsible_id)
    assert Contact.objects.count() == 5
