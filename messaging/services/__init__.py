"""Messaging services, by concern: webhook intake, inbound messages, statuses, sending,
templates and media. Import from here."""

from messaging.services.assignment import (
    channel_lock,
    conversation_assign,
    conversation_mark_closed,
    conversation_queue,
    conversation_ticket_link,
)
from messaging.services.inbound import (
    conversation_get_or_open,
    message_receive,
    webhook_event_process,
    webhook_event_reprocess,
    webhook_event_store,
    webhook_events_drain,
    webhook_events_requeue,
    webhook_events_wake,
)
from messaging.services.lifecycle import conversations_close_expired
from messaging.services.media import media_fetch, media_fetch_enqueue, media_retry_due
from messaging.services.outbound import (
    MediaContent,
    MessageRefused,
    ReactionContent,
    TemplateContent,
    TextContent,
    message_deliver,
    message_delivery_retry,
    message_mark_read,
    message_send,
    message_send_media,
    message_send_reaction,
    message_send_template,
    message_send_text,
    messages_retry_due,
)
from messaging.services.statuses import pending_statuses_apply, status_apply
from messaging.services.templates import template_status_apply, templates_store, templates_sync

__all__ = [
    "MediaContent",
    "MessageRefused",
    "ReactionContent",
    "TemplateContent",
    "TextContent",
    "channel_lock",
    "conversation_assign",
    "conversation_get_or_open",
    "conversation_mark_closed",
    "conversation_queue",
    "conversation_ticket_link",
    "conversations_close_expired",
    "media_fetch",
    "media_fetch_enqueue",
    "media_retry_due",
    "message_deliver",
    "message_delivery_retry",
    "message_mark_read",
    "message_receive",
    "message_send",
    "message_send_media",
    "message_send_reaction",
    "message_send_template",
    "message_send_text",
    "messages_retry_due",
    "pending_statuses_apply",
    "status_apply",
    "template_status_apply",
    "templates_store",
    "templates_sync",
    "webhook_event_process",
    "webhook_event_reprocess",
    "webhook_event_store",
    "webhook_events_drain",
    "webhook_events_requeue",
    "webhook_events_wake",
]
