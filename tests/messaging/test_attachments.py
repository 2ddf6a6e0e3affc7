"""Attachments: the message type a file goes out as follows the channel's capabilities, and the
checks before upload are exactly message_send's."""

import pytest

from messaging.providers.base import Capabilities, MediaLimit, MessageType
from messaging.providers.whatsapp_cloud import CAPABILITIES as WHATSAPP
from messaging.services.attachments import Attachment, attachment_kind


@pytest.mark.parametrize(
    ("mime_type", "kind"),
    [
        ("image/png", MessageType.IMAGE),
        ("image/jpeg", MessageType.IMAGE),
        ("video/mp4", MessageType.VIDEO),
        ("audio/ogg", MessageType.AUDIO),
        ("application/pdf", MessageType.DOCUMENT),
        # WhatsApp shows no GIF or SVG as an image: they still reach the customer, as files.
        ("image/gif", MessageType.DOCUMENT),
        ("image/svg+xml", MessageType.DOCUMENT),
        ("video/quicktime", MessageType.DOCUMENT),
    ],
)
def test_it_sends_a_file_as_the_kind_the_channel_takes(mime_type, kind):
    assert attachment_kind(caps=WHATSAPP, mime_type=mime_type) == kind


def test_a_channel_without_images_sends_a_picture_as_a_document():
    documents_only = Capabilities(
        service_window_hours=None,
        max_text_length=4096,
        media={MessageType.DOCUMENT: MediaLimit(frozenset(), 50)},
    )
    assert attachment_kind(caps=documents_only, mime_type="image/png") == MessageType.DOCUMENT


def test_the_content_type_comes_from_the_upload_or_else_the_file_name():
    assert Attachment(b"", "a.pdf").content_type == "application/pdf"
    assert Attachment(b"", "a.bin", "image/PNG; q=1").content_type == "image/png"
    assert Attachment(b"", "noext").content_type == "application/octet-stream"
