import base64
import hashlib
import re

import pytest
import responses

from messaging.models import Message, MessageTemplate
from messaging.services import media_fetch, media_retry_due, templates_sync

from .conftest import WABA_ID, fixture_json

pytestmark = pytest.mark.django_db
TEMPLATES_URL = re.compile(rf"https://graph\.facebook\.com/v23\.0/{WABA_ID}/message_templates.*")


@pytest.fixture
def graph():
    with responses.RequestsMock() as mocked:
        yield mocked


def test_sync_reads_every_page(graph, wa_account):
    page1, page2 = fixture_json("templates_page1.json"), fixture_json("templates_page2_last.json")
    graph.get(page1["paging"]["next"], json=page2)
    graph.get(TEMPLATES_URL, json=page1)
    counts = templates_sync(account=wa_account)
    assert counts == {"seen": 3, "created": 3, "deleted": 0}
    statuses = dict(MessageTemplate.objects.values_list("name", "status"))
    assert statuses == {
        "order_shipped": "APPROVED",
        "ticket_update": "PENDING",
        "summer_promo": "REJECTED",
    }
    shipped = MessageTemplate.objects.get(name="order_shipped")
    assert shipped.body_param_count >= 1
    assert shipped.external_id


def test_sync_twice_creates_nothing_new_and_marks_vanished_templates(graph, wa_account):
    page1, page2 = fixture_json("templates_page1.json"), fixture_json("templates_page2_last.json")
    graph.get(page1["paging"]["next"], json=page2)
    graph.get(TEMPLATES_URL, json=page1)
    templates_sync(account=wa_account)
    MessageTemplate.objects.create(account=wa_account, name="old", language="it", status="APPROVED")
    graph.reset()
    graph.get(page1["paging"]["next"], json=page2)
    graph.get(TEMPLATES_URL, json=page1)
    counts = templates_sync(account=wa_account)
    assert counts["created"] == 0
    assert MessageTemplate.objects.get(name="old").status == "DELETED"


def test_a_template_status_webhook_updates_the_template(post_webhook, wa_account):
    MessageTemplate.objects.create(
        account=wa_account, name="order_shipped", language="en_US", status="PENDING"
    )
    assert post_webhook("template_status_update_approved.json").status_code == 200
    assert MessageTemplate.objects.get().status == "APPROVED"


def test_a_rejection_keeps_the_reason(post_webhook, wa_account):
    update = fixture_json("template_status_update_rejected.json")
    value = update["entry"][0]["changes"][0]["value"]
    MessageTemplate.objects.create(
        account=wa_account,
        name=value["message_template_name"],
        language=value["message_template_language"],
        status="PENDING",
    )
    post_webhook(update)
    template = MessageTemplate.objects.get()
    assert template.status == "REJECTED"
    assert template.rejected_reason == value["reason"]


@pytest.fixture
def image_message(post_webhook, wa_channel, graph):
    graph.get(re.compile(r"https://graph\.facebook\.com/v23\.0/\d+"), status=500, json={})
    post_webhook("inbound_image.json")
    graph.reset()
    return Message.objects.get()


def serve_media(graph, content: bytes):
    media = fixture_json("media_get.json")
    media["sha256"] = hashlib.sha256(content).hexdigest()
    graph.get(re.compile(r"https://graph\.facebook\.com/v23\.0/\d+"), json=media)
    graph.get(media["url"], body=content)


def test_a_failed_download_keeps_the_message_and_can_be_retried(
    image_message, graph, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    assert image_message.media_state == Message.MediaState.FAILED
    assert image_message.media_error
    content = b"\xff\xd8\xff-a-jpeg"
    serve_media(graph, content)
    # The webhook carried a base64 digest; make it the one of our bytes.
    payload = {
        **image_message.payload,
        "sha256": base64.b64encode(hashlib.sha256(content).digest()).decode(),
    }
    Message.objects.filter(pk=image_message.pk).update(payload=payload)
    message = media_fetch(message_id=image_message.pk)
    assert message.media_state == Message.MediaState.STORED
    assert message.media_file.read() == content
    assert graph.calls[-1].request.headers["Authorization"] == "Bearer EAAtok"


def test_a_checksum_mismatch_is_a_failure_not_a_stored_file(
    image_message, graph, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    serve_media(graph, b"other bytes")
    message = media_fetch(message_id=image_message.pk)
    assert message.media_state == Message.MediaState.FAILED
    assert "sha256" in message.media_error
    assert not message.media_file


def test_failed_downloads_are_retried_when_due(image_message, graph, settings, tmp_path):
    import time_machine

    settings.MEDIA_ROOT = tmp_path
    assert media_retry_due() == 0  # backoff not over yet
    graph.get(re.compile(r"https://graph\.facebook\.com/v23\.0/\d+"), status=500, json={})
    with time_machine.travel(image_message.next_attempt_at):
        assert media_retry_due() == 1
    image_message.refresh_from_db()
    assert image_message.media_attempts == 2
