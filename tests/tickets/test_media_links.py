"""A customer's photo or document reads in the ticket as a labelled link to a staff-only page that
serves the downloaded file, never a public URL."""

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile

from crm.models import Contact
from messaging.models import Message
from tickets.models import Ticket

from .conftest import inbound_body, staff_user

pytestmark = pytest.mark.django_db
JPEG = b"\xff\xd8\xff\xe0 a tiny jpeg"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path, graph, wa_channel):
    # The download after the webhook finds no Graph API (the `graph` mock): the media stays
    # undownloaded until a test stores a file itself.
    settings.MEDIA_ROOT = tmp_path
    settings.PUBLIC_BASE_URL = "https://desk.example.com"


def media_url(message) -> str:
    return f"/admin/tickets/ticket/media/{message.pk}/"


def store(message, data=JPEG, name="photo.jpg"):
    message.media_file.save(f"{message.channel_id}/{name}", ContentFile(data), save=True)


def test_the_description_links_the_photo_and_keeps_its_caption(post_webhook, admin_client):
    post_webhook("inbound_image.json")
    message = Message.objects.get()
    ticket = Ticket.objects.get()
    link = f"https://desk.example.com{media_url(message)}"
    assert ticket.description.splitlines()[1:] == [f"[image] {link}", "Damaged box"]

    page = admin_client.get(f"/admin/tickets/ticket/{ticket.pk}/change/").content.decode()
    assert f'<a href="{link}"' in page


def test_a_later_photo_is_a_comment_with_a_link(say, post_webhook, admin_client):
    say("my parcel arrived broken", wamid="wamid.T1")
    photo = {
        "id": "wamid.P1",
        "timestamp": "1752489100",
        "type": "document",
        "document": {"id": "555", "mime_type": "application/pdf", "filename": "receipt.pdf"},
    }
    post_webhook(inbound_body(photo))
    message = Message.objects.get(provider_message_id="wamid.P1")
    comment = Ticket.objects.get().comments.get()
    link = f"https://desk.example.com{media_url(message)}"
    assert comment.text == f"[document] {link} (receipt.pdf)"
    page = admin_client.get(f"/admin/tickets/ticket/{comment.ticket_id}/change/").content.decode()
    assert f'<a href="{link}"' in page


def test_the_media_page_serves_the_downloaded_photo(post_webhook, admin_client):
    post_webhook("inbound_image.json")
    message = Message.objects.get()

    waiting = admin_client.get(media_url(message))
    assert waiting.status_code == 404
    assert "This image is not downloaded yet (download failed" in waiting.content.decode()

    store(message)
    response = admin_client.get(media_url(message))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"].startswith("inline")
    assert b"".join(response.streaming_content) == JPEG


def test_a_file_that_could_run_in_the_browser_is_only_downloaded(post_webhook, admin_client):
    page = {
        "id": "wamid.H1",
        "timestamp": "1752489100",
        "type": "document",
        "document": {"id": "777", "mime_type": "text/html", "filename": "invoice.html"},
    }
    post_webhook(inbound_body(page))
    message = Message.objects.get()
    store(message, b"<script>alert(1)</script>", "invoice.html")
    response = admin_client.get(media_url(message))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")


def test_only_staff_who_see_the_contacts_tickets_open_the_media(post_webhook, client):
    post_webhook("inbound_image.json")
    message = Message.objects.get()
    store(message)

    stranger = staff_user("rep", role="sales_rep")
    stranger.user_permissions.add(Permission.objects.get(codename="view_ticket"))
    client.force_login(stranger)
    assert client.get(media_url(message)).status_code == 404

    Contact.objects.update(responsible=stranger)
    assert client.get(media_url(message)).status_code == 200


def test_a_text_message_or_unknown_number_has_no_media_page(say, admin_client):
    say("hello", wamid="wamid.T1")
    assert admin_client.get(media_url(Message.objects.get())).status_code == 404
    assert admin_client.get("/admin/tickets/ticket/media/999999/").status_code == 404
