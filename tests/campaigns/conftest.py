"""Campaign set-up: the WhatsApp Cloud account and channel of the messaging tests, an approved
marketing template, opted-in contacts, and a Graph API mock that counts template sends."""

import json
import threading
from collections import Counter

import pytest
import responses

from crm.models import ConsentPurpose, ConsentSource, ConsentState, Contact
from crm.services_consent import consent_record
from messaging.models import MessageTemplate
from tests.messaging.conftest import (  # noqa: F401  (fixtures)
    SEND_URL,
    post_webhook,
    wa_account,
    wa_channel,
)


@pytest.fixture
def marketing_template(wa_account):  # noqa: F811
    return MessageTemplate.objects.create(
        account=wa_account,
        external_id="tpl-spring",
        name="spring_sale",
        language="it",
        category="MARKETING",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Ciao {{1}}, {{2}} per te."}],
        body_param_count=2,
    )


def opted_in(contact: Contact) -> Contact:
    consent_record(
        contact=contact,
        purpose=ConsentPurpose.MARKETING,
        state=ConsentState.OPTED_IN,
        source=ConsentSource.IMPORT,
    )
    return contact


@pytest.fixture
def customers(db):
    """Three opted-in customers, in id order: Anna, Bruno, Carla."""
    return [
        opted_in(Contact.objects.create(phone=f"+3933510322{n}", name=name, kind="customer"))
        for n, name in ((41, "Anna Rossi"), (42, "Bruno Bianchi"), (43, "Carla Verdi"))
    ]


class GraphSends:
    """Template sends the Graph API mock received, per recipient phone."""

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    def callback(self, request):
        body = json.loads(request.body)
        with self.lock:
            self.calls.append(body)
            n = len(self.calls)
        return 200, {}, json.dumps({"messages": [{"id": f"wamid.CAMPAIGN{n}"}]})

    def templates_to(self) -> Counter:
        return Counter(c["to"] for c in self.calls if c.get("type") == "template")


@pytest.fixture
def graph_sends():
    sends = GraphSends()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add_callback(responses.POST, SEND_URL, callback=sends.callback)
        yield sends
