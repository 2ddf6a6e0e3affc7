"""Temporary public links to stored documents: valid once, then gone; expired, tampered and
made-up links refused; sending a document goes through such a link."""

from datetime import timedelta

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from messaging.documents import document_link_create, document_links_purge, document_send
from messaging.models import DocumentLink
from messaging.services import MessageRefused

from .conftest import graph_bodies, open_window

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4 a tiny contract"


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    settings.PUBLIC_BASE_URL = "https://switchboard.example"
    settings.DOCUMENT_LINK_MINUTES = 15


def path_of(url: str) -> str:
    return url.removeprefix("https://switchboard.example")


def test_a_link_serves_the_bytes_once_then_is_gone(client):
    link, url = document_link_create(file=ContentFile(PDF), filename="contract.pdf")
    stored = link.file.name
    assert default_storage.exists(stored)
    response = client.get(path_of(url))
    assert response.status_code == 200
    assert response.content == PDF
    assert response["Content-Type"] == "application/pdf"
    assert 'filename="contract.pdf"' in response["Content-Disposition"]
    # Removed after use: the file and its row.
    assert not default_storage.exists(stored)
    assert not DocumentLink.objects.exists()
    assert client.get(path_of(url)).status_code == 410


def test_an_expired_link_is_gone(client):
    _, url = document_link_create(file=ContentFile(PDF), filename="contract.pdf")
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        response = client.get(path_of(url))
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "gone"


def test_a_link_is_valid_until_its_minutes_are_over(client):
    _, url = document_link_create(file=ContentFile(PDF), filename="contract.pdf")
    with time_machine.travel(timezone.now() + timedelta(minutes=14)):
        assert client.get(path_of(url)).status_code == 200


@pytest.mark.parametrize("tamper", ["token", "signature"])
def test_a_tampered_link_is_refused_and_keeps_the_file(client, tamper):
    link, url = document_link_create(file=ContentFile(PDF), filename="contract.pdf")
    token, _, signature = path_of(url).removeprefix("/documents/").rstrip("/").partition(":")
    if tamper == "token":
        token = token[:-1] + ("A" if token[-1] != "A" else "B")
    else:
        signature = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    response = client.get(f"/documents/{token}:{signature}/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_link"
    assert default_storage.exists(link.file.name)


def test_a_made_up_link_is_refused(client):
    assert client.get("/documents/anything/").status_code == 403


def test_a_post_does_not_use_the_link(client):
    _, url = document_link_create(file=ContentFile(PDF), filename="contract.pdf")
    assert client.post(path_of(url)).status_code == 405
    assert client.get(path_of(url)).status_code == 200


def test_the_purge_deletes_expired_links_and_their_files():
    old, _ = document_link_create(file=ContentFile(PDF), filename="old.pdf", minutes=5)
    fresh, _ = document_link_create(file=ContentFile(PDF), filename="fresh.pdf", minutes=60)
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert document_links_purge() == 1
    assert not default_storage.exists(old.file.name)
    assert default_storage.exists(fresh.file.name)
    assert list(DocumentLink.objects.all()) == [fresh]


def test_document_send_sends_the_document_by_its_temporary_link(
    graph, wa_channel, giulia, client, django_capture_on_commit_callbacks
):
    open_window(wa_channel, giulia)
    with django_capture_on_commit_callbacks(execute=True):
        message = document_send(
            channel=wa_channel,
            contact=giulia,
            file=ContentFile(PDF),
            filename="contract.pdf",
            caption="Your contract",
        )
    [sent] = graph_bodies(graph)
    assert sent["type"] == "document"
    assert sent["document"]["filename"] == "contract.pdf"
    assert sent["document"]["caption"] == "Your contract"
    link = sent["document"]["link"]
    assert link.startswith("https://switchboard.example/documents/")
    message.refresh_from_db()
    assert message.status == "sent"
    # The provider fetches it once.
    assert client.get(path_of(link)).content == PDF
    assert client.get(path_of(link)).status_code == 410


def test_a_refused_document_send_leaves_no_file_behind(wa_channel, giulia, tmp_path):
    with pytest.raises(MessageRefused, match="24-hour"):
        document_send(
            channel=wa_channel, contact=giulia, file=ContentFile(PDF), filename="contract.pdf"
        )
    assert not DocumentLink.objects.exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
