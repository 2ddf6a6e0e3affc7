"""{% chat_window_label as label %}: "Wazzup chat" when a channel's provider serves a chat
window, else "" (the button is then not shown)."""

from django import template

from messaging.services.chat_window import chat_window_label as _label

register = template.Library()


@register.simple_tag
def chat_window_label() -> str:
    return _label()
