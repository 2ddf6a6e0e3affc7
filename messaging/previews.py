"""What a conversation list shows of the latest message, stored on the conversation by the
services that store messages, so the list never reads the messages table row by row."""

PREVIEW_LENGTH = 140


def message_preview_fields(message) -> dict:
    """The conversation's `last_message_*` columns for `message` (its type, its direction and a
    line of its text: a caption, a file's name, a place's name)."""
    payload = message.payload or {}
    text = message.text or payload.get("filename") or payload.get("name") or ""
    text = " ".join(str(text).split())  # one line: the list shows a single line
    if len(text) > PREVIEW_LENGTH:
        text = text[: PREVIEW_LENGTH - 1] + "…"
    return {
        "last_message_type": message.type,
        "last_message_direction": message.direction,
        "last_message_preview": text,
    }
