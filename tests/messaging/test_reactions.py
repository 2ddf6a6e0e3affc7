"""A reaction belongs to the message it reacts to: one current reaction per person per message,
set, changed or cleared there, by the one-by-one and the batch paths alike; the thread shows the
current one and a removal, never a stale emoji."""

import json
from unittest import mock

import pytest

from messaging.models import Conversation, Message
from messaging.selectors import reaction_key
from messaging.services import webhook_event_process, webhook_event_store, webhook_events_drain

from .conftest import fixture_bytes, fixture_json

pytestmark = pytest.mark.django_db
# Our reply to Olivia, the message every reaction fixture reacts to.
REACTED = "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSNUExQjJDM0Q0RTVGNjA3MTgyAA=="
THUMBS_UP = "👍"


def reaction(emoji: str | None, *, wamid: str, timestamp: str) -> bytes:
    """The reaction fixture with another emoji (None: no emoji key, as Meta removes one)."""
    data = fixture_json("inbound_reaction.json")
    message = data["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update(id=wamid, timestamp=timestamp)
    if emoji is None:
        del message["reaction"]["emoji"]
    else:
        message["reaction"]["emoji"] = emoji
    return json.dumps(data).encode()


@pytest.fixture(params=["batch", "one by one"])
def deliver(request, wa_account):
    """Store webhook bodies and process them through one inbound path (the drain's batch, or
    `message_receive` as the batch's fallback and the admin's reprocess do)."""

    def deliver(*bodies: bytes) -> None:
        with mock.patch("messaging.services.inbound.task_wake"):
            ids = [
                webhook_event_store(
                    provider="whatsapp_cloud", account=wa_account, body=body, headers={}
                )
                for body in bodies
            ]
        if request.param == "batch":
            assert webhook_events_drain() == len(ids)
        else:
            for event_id in ids:
                webhook_event_process(event_id=event_id)

    return deliver


@pytest.fixture
def reacted(deliver, wa_channel):
    deliver(fixture_bytes("inbound_text.json"))
    conversation = Conversation.objects.get()
    return Message.objects.create(
        channel=wa_channel,
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        provider_message_id=REACTED,
        text="Your parcel is at the locker.",
        status=Message.Status.DELIVERED,
    )


def current(message) -> dict:
    message.refresh_from_db()
    key = reaction_key(contact_id=message.conversation.contact_id)
    return {"emoji": message.reactions[key]["emoji"], "id": message.reactions[key]["id"]}


def thread_html(admin_client, message) -> str:
    page = admin_client.get(f"/inbox/c/{message.conversation_id}/")
    assert page.status_code == 200
    return page.content.decode()


def test_a_reaction_is_set_on_the_message_it_reacts_to(deliver, reacted, admin_client):
    deliver(fixture_bytes("inbound_reaction.json"))
    assert current(reacted)["emoji"] == THUMBS_UP
    html = thread_html(admin_client, reacted)
    assert f'<p class="reactions">{THUMBS_UP}</p>' in html


def test_a_removed_reaction_clears_the_earlier_one_and_shows_the_removal(
    deliver, reacted, admin_client
):
    deliver(fixture_bytes("inbound_reaction.json"), fixture_bytes("inbound_reaction_removed.json"))
    assert current(reacted) == {
        "emoji": "",
        "id": "wamid.FAKE0000REACTIONREMOVED0000000000000000000001",
    }
    html = thread_html(admin_client, reacted)
    assert THUMBS_UP not in html
    assert "removed a reaction" in html
    # Both reactions stay stored (a redelivery of either is still recognised).
    assert Message.objects.filter(type="reaction").count() == 2


def test_an_empty_emoji_clears_the_reaction_too(deliver, reacted, admin_client):
    deliver(
        reaction(THUMBS_UP, wamid="wamid.R1", timestamp="1752489800"),
        reaction("", wamid="wamid.R2", timestamp="1752489900"),
    )
    assert current(reacted) == {"emoji": "", "id": "wamid.R2"}
    assert THUMBS_UP not in thread_html(admin_client, reacted)


def test_a_changed_reaction_replaces_the_earlier_one(deliver, reacted, admin_client):
    deliver(
        reaction(THUMBS_UP, wamid="wamid.R1", timestamp="1752489800"),
        reaction("❤️", wamid="wamid.R2", timestamp="1752489900"),
    )
    assert current(reacted)["emoji"] == "❤️"
    html = thread_html(admin_client, reacted)
    assert THUMBS_UP not in html
    assert '<p class="reactions">❤️</p>' in html


def test_an_older_reaction_delivered_late_does_not_come_back(deliver, reacted, admin_client):
    deliver(
        reaction(None, wamid="wamid.R2", timestamp="1752489900"),
        reaction(THUMBS_UP, wamid="wamid.R1", timestamp="1752489800"),
    )
    assert current(reacted) == {"emoji": "", "id": "wamid.R2"}
    assert THUMBS_UP not in thread_html(admin_client, reacted)


def test_a_reaction_to_a_message_not_stored_here_is_kept_and_shown(deliver, wa_channel):
    deliver(fixture_bytes("inbound_reaction.json"))
    (stored,) = Message.objects.filter(type="reaction")
    assert stored.text == THUMBS_UP
    assert Message.objects.exclude(reactions={}).count() == 0
