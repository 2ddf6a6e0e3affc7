"""Writes to conversations and channels that routing and tickets decide on: the rows are
messaging's, so messaging writes them, each as one conditional UPDATE."""

from datetime import datetime

from django.db.models import Case, F, Value, When
from django.utils import timezone

from messaging.live import live_conversation_changed
from messaging.models import Channel, Conversation


def conversation_assign(*, conversation: Conversation, user, at: datetime) -> None:
    """Give the conversation to `user`, taking it out of the queue."""
    # Before the change: who saw it (the previous agent, the reps a new client was offered to)
    # is told as well as who sees it now.
    live_conversation_changed(conversation_ids=[conversation.pk], audience_may_change=True)
    Conversation.objects.filter(pk=conversation.pk).update(
        assignee=user,
        assigned_at=at,
        queued_at=None,
        # Reports draw the queue from entry and exit: a waiting conversation leaves it now.
        queue_left_at=Case(
            When(queued_at__isnull=False, then=Value(at)), default=F("queue_left_at")
        ),
    )
    conversation.assignee, conversation.assigned_at, conversation.queued_at = user, at, None


def conversation_queue(*, conversation: Conversation, at: datetime) -> bool:
    """Put the conversation in its channel's queue; a conversation already waiting keeps its
    place (False)."""
    queued = bool(
        Conversation.objects.filter(pk=conversation.pk, queued_at__isnull=True).update(
            queued_at=at, queue_entered_at=at, queue_left_at=None
        )
    )
    if queued:
        live_conversation_changed(conversation_ids=[conversation.pk])
    return queued


def conversation_mark_closed(*, conversation: Conversation, at: datetime | None = None) -> bool:
    """Close an open conversation; False when it was closed already (one UPDATE decides)."""
    closed = bool(
        Conversation.objects.filter(pk=conversation.pk, status=Conversation.Status.OPEN).update(
            status=Conversation.Status.CLOSED, closed_at=at or timezone.now(), queued_at=None
        )
    )
    if closed:
        live_conversation_changed(conversation_ids=[conversation.pk])
    return closed


def conversation_ticket_link(*, conversation_id: int, ticket) -> None:
    Conversation.objects.filter(pk=conversation_id).update(ticket=ticket)


def channel_lock(*, channel: Channel) -> None:
    """Lock the channel row until the transaction ends (serialises round-robin picks)."""
    list(Channel.objects.select_for_update().filter(pk=channel.pk).values_list("pk"))
