"""A drain batch's statuses applied together: a few statements a batch, not a few a status.

The outcome is exactly what `status_apply` gives one status at a time in the order they came: the
batch's messages are read once with their rows locked (so two drains never interleave on a
message), each message's statuses are played in arrival order against its current row in memory
(same rules: only forward, failed terminal, earlier times kept), and the rows that moved are
written back in one UPDATE. Statuses for ids not stored yet take the one-at-a-time path, which
settles a send whose answer was lost or keeps the status for later; they are few.
"""

from collections import defaultdict

from django.db.models import OuterRef, Q, Subquery

from config.rows_update import rows_update
from messaging.live import live_message_status
from messaging.models import Channel, Conversation, Message
from messaging.providers.base import StatusUpdate
from messaging.services.statuses import (
    MAY_BECOME,
    SETTLED,
    S,
    _refusals_apply,
    status_apply,
)

WRITTEN = [
    "status",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "error_code",
    "error_title",
    "error_detail",
]


def _play(message: Message, update: StatusUpdate) -> bool:
    """`status_apply`'s guarded UPDATE, on a row held in memory. True when it moved."""
    status = update.status
    if message.status not in MAY_BECOME[status]:
        return False
    at = update.timestamp
    message.status = status
    if status != S.FAILED:
        for name, value in SETTLED.items():
            setattr(message, name, value)
    if status in (S.SENT, S.DELIVERED, S.READ):
        message.sent_at = message.sent_at or at
    if status == S.DELIVERED:
        message.delivered_at = at
    elif status == S.READ:
        message.delivered_at = message.delivered_at or at
        message.read_at = at
    elif status == S.FAILED:
        first = update.errors[0] if update.errors else None
        message.failed_at = at
        message.error_code = first.code if first else None
        message.error_title = (first.title if first else "")[:255]
        message.error_detail = first.details if first else ""
    return True


def statuses_apply(updates: list[tuple[Channel, StatusUpdate]]) -> int:
    """Apply many statuses, in their order; returns how many moved a stored message.

    Runs inside the caller's transaction (the drain's batch), which holds the row locks.
    """
    wanted = [(channel, update) for channel, update in updates if update.status in MAY_BECOME]
    if not wanted:
        return 0
    ids_by_channel: dict[int, set[str]] = defaultdict(set)
    for channel, update in wanted:
        ids_by_channel[channel.pk].add(update.provider_message_id)
    where = Q()
    for channel_id, ids in ids_by_channel.items():
        where |= Q(channel_id=channel_id, provider_message_id__in=ids)
    rows = {
        (m.channel_id, m.provider_message_id): m
        for m in Message.objects.select_for_update()
        .filter(where)
        .order_by("pk")  # locks taken in one order by every drain: no deadlock between them
        .only("pk", "channel_id", "conversation_id", "provider_message_id", *WRITTEN)
    }
    moved: dict[int, Message] = {}
    refusals = []
    unknown = []
    for channel, update in wanted:
        message = rows.get((channel.pk, update.provider_message_id))
        if message is None:
            unknown.append((channel, update))
        elif _play(message, update):
            moved[message.pk] = message
            if update.status == S.FAILED:
                refusals.append((channel, update))
    if moved:
        rows_update(moved.values(), WRITTEN)
        conversations_last_status_follow({m.conversation_id for m in moved.values()})
        for message in moved.values():  # the ticks move live once the batch commits
            live_message_status(
                conversation_id=message.conversation_id,
                message_id=message.pk,
                status=message.status,
                error=message.error_title,
            )
    for channel, update in refusals:
        _refusals_apply(channel=channel, update=update)
    count = len(moved)
    for channel, update in unknown:
        count += status_apply(channel=channel, update=update)
    return count


def conversations_last_status_follow(conversation_ids: set[int]) -> None:
    """Each conversation shows the status of its newest message, in one statement."""
    newest = Message.objects.filter(conversation_id=OuterRef("pk")).order_by("-created_at", "-pk")
    Conversation.objects.filter(pk__in=conversation_ids).update(
        last_message_status=Subquery(newest.values("status")[:1])
    )
