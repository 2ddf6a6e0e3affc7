"""Edited inbound messages: the text changes, and every earlier version stays visible."""

import logging

from django.db import transaction

from messaging.models import Channel, Message
from messaging.pipeline import edit_pipeline_run
from messaging.providers.base import MessageEdit

logger = logging.getLogger(__name__)


@transaction.atomic
def message_edit_apply(*, channel: Channel, edit: MessageEdit) -> Message | None:
    """Give the stored message its new text, keeping the one it replaces in `payload["edits"]`
    ({"text", "replaced_at"}, oldest first). A repeated or older edit changes nothing; an edit of
    a message we never stored is logged and dropped (None)."""
    message = (
        Message.objects.select_for_update()
        .filter(channel=channel, provider_message_id=edit.provider_message_id)
        .first()
    )
    if message is None:
        logger.info("edit of unknown message %s dropped", edit.provider_message_id)
        return None
    edits = list(message.payload.get("edits") or [])
    edited_at = edit.edited_at.isoformat()
    if message.text == edit.text or any(e.get("replaced_at", "") >= edited_at for e in edits):
        return message
    edits.append({"text": message.text, "replaced_at": edited_at})
    payload = {**message.payload, "edits": edits}
    if "caption" in payload:
        payload["caption"] = edit.text
    previous = message.text
    message.text, message.payload = edit.text, payload
    message.save(update_fields=["text", "payload"])
    edit_pipeline_run(message=message, previous_text=previous)
    return message
