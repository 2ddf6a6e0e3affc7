"""Admin list pages cost the same number of queries for 3 rows as for 30."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Contact
from messaging.models import Conversation, Message, WebhookEvent

pytestmark = pytest.mark.django_db


def make_rows(channel, count, start=0):
    for i in range(start, start + count):
        contact = Contact.objects.create(phone=f"+3933510{i:05d}", name=f"C{i}")
        conversation = Conversation.objects.create(channel=channel, contact=contact)
        Message.objects.create(
            channel=channel,
            conversation=conversation,
            direction="in",
            provider_message_id=f"wamid.{i}",
            type="text",
            text="hi",
            status="received",
        )
        WebhookEvent.objects.create(
            provider="whatsapp_cloud", account=channel.account, body=b"{}", dedupe_key=str(i)
        )


def queries_for(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx)


@pytest.mark.parametrize(
    "url",
    [
        "/admin/messaging/conversation/",
        "/admin/messaging/message/",
        "/admin/messaging/webhookevent/",
        "/admin/messaging/channel/",
        "/admin/crm/contact/",
    ],
)
def test_list_pages_do_not_run_a_query_per_row(admin_client, wa_channel, url):
    make_rows(wa_channel, 3)
    few = queries_for(admin_client, url)
    make_rows(wa_channel, 27, start=3)
    assert queries_for(admin_client, url) == few
