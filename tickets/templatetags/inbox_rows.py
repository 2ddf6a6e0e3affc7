"""How a list row shows the kind of the latest message: an icon before its text."""

from django import template

register = template.Library()

TYPE_ICONS = {
    "image": "📷",
    "sticker": "🏷️",
    "video": "🎬",
    "audio": "🎤",
    "document": "📄",
    "location": "📍",
    "contacts": "👤",
    "reaction": "❤️",
    "template": "📋",
    "order": "🛒",
    "interactive": "🔘",
    "button": "🔘",
}


@register.filter
def message_type_icon(message_type: str) -> str:
    """An icon for the message type; nothing for plain text."""
    return TYPE_ICONS.get(message_type or "", "")
