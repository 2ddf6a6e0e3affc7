"""Delivery statuses: they arrive out of order and repeat, so they only ever move forward."""

from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Coalesce

from messaging.live import live_message_status
from messaging.models import Channel, Conversation, Message, PendingStatus
from messaging.providers.base import ErrorInfo, StatusUpdate

S = Message.Status
RANK = {S.QUEUED: 0, S.SENDING: 1, S.UNKNOWN: 1, S.SENT: 2, S.DELIVERED: 3, S.READ: 4}
# failed is terminal, and a message already read was delivered: it cannot fail any more.
MAY_BECOME = {
    S.SENT: [S.QUEUED, S.SENDING, S.UNKNOWN],
    S.DELIVERED: [S.QUEUED, S.SENDING, S.UNKNOWN, S.SENT],
    S.READ: [S.QUEUED, S.SENDING, S.UNKNOWN, S.SENT, S.DELIVERED],
    S.FAILED: [S.QUEUED, S.SENDING, S.UNKNOWN, S.SENT, S.DELIVERED],
}


# A message that reached the customer has no error any more: whatever a send attempt left (a
# timeout, a retry) is settled by this status. Only `failed` writes an error.
SETTLED = {"error_code": None, "error_title": "", "error_detail": ""}


def _changes(update: StatusUpdate) -> dict:
    at = update.timestamp
    status = update.status
    changes = {"status": status} | (SETTLED if status != S.FAILED else {})
    if status == S.SENT:
        changes["sent_at"] = Coalesce("sent_at", Value(at))
    elif status == S.DELIVERED:
        changes["sent_at"] = Coalesce("sent_at", Value(at))
        changes["delivered_at"] = at
    elif status == S.READ:
        # `delivered` may never come when delivery and reading happen at once.
        changes["sent_at"] = Coalesce("sent_at", Value(at))
        changes["delivered_at"] = Coalesce("delivered_at", Value(at))
        changes["read_at"] = at
    elif status == S.FAILED:
        first = update.errors[0] if update.errors else None
        changes["failed_at"] = at
        changes["error_code"] = first.code if first else None
        changes["error_title"] = (first.title if first else "")[:255]
        changes["error_detail"] = first.details if first else ""
    return changes


def status_apply(*, channel: Channel, update: StatusUpdate) -> bool:
    """Apply a status in one guarded UPDATE. Returns True when a stored message moved.

    A status for an id we do not know yet is kept and applied when the message appears; when it
    carries our own message id (sent as callback data) it settles a send whose answer was lost.
    """
    if update.status not in MAY_BECOME:
        return False
    moved = (
        Message.objects.filter(
            channel=channel,
            provider_message_id=update.provider_message_id,
            status__in=MAY_BECOME[update.status],
        ).update(**_changes(update))
        == 1
    )
    if moved:
        _conversation_follow(channel=channel, update=update)
        if update.status == S.FAILED:
            _refusals_apply(channel=channel, update=update)
        return True
    if Message.objects.filter(
        channel=channel, provider_message_id=update.provider_message_id
    ).exists():
        return False  # a repeat or a step back: nothing to do
    if _settle_by_callback(channel=channel, update=update):
        return status_apply(channel=channel, update=update)
    _pending_keep(channel=channel, update=update)
    return False


def _refusals_apply(*, channel: Channel, update: StatusUpdate) -> None:
    """A failure the platform explains as the person's choice (an opt-out, a marketing limit)."""
    meaningful = [error for error in update.errors if error.meaning]
    if not meaningful:
        return
    from messaging.services.consent import message_refusal_apply

    message = Message.objects.select_related("conversation__contact").get(
        channel=channel, provider_message_id=update.provider_message_id
    )
    for error in meaningful:
        message_refusal_apply(
            message=message,
            meaning=error.meaning,
            hold_seconds=error.hold_seconds,
            reason=error.title or str(error.code),
        )


def _settle_by_callback(*, channel: Channel, update: StatusUpdate) -> bool:
    if not update.callback_data.isdigit():
        return False
    return bool(
        Message.objects.filter(
            pk=int(update.callback_data),
            channel=channel,
            direction=Message.Direction.OUTBOUND,
            provider_message_id__isnull=True,
        ).update(provider_message_id=update.provider_message_id)
    )


def _pending_keep(*, channel: Channel, update: StatusUpdate) -> None:
    try:
        with transaction.atomic():
            PendingStatus.objects.create(
                channel=channel,
                provider_message_id=update.provider_message_id,
                status=update.status,
                timestamp=update.timestamp,
                callback_data=update.callback_data[:512],
                errors=[
                    {
                        "code": e.code,
                        "title": e.title,
                        "details": e.details,
                        "meaning": e.meaning,
                        "hold_seconds": e.hold_seconds,
                    }
                    for e in update.errors
                ],
            )
    except IntegrityError:
        pass  # the same status for the same id is already kept


def _conversation_follow(*, channel: Channel, update: StatusUpdate) -> None:
    """The conversation's last status follows its latest message; the tick moves live."""
    message = (
        Message.objects.filter(channel=channel, provider_message_id=update.provider_message_id)
        .values("pk", "conversation_id", "status", "created_at", "error_title")
        .first()
    )
    if message is None:
        return
    live_message_status(
        conversation_id=message["conversation_id"],
        message_id=message["pk"],
        status=message["status"],
        error=message["error_title"],
    )
    newer = Message.objects.filter(
        conversation_id=message["conversation_id"], created_at__gt=message["created_at"]
    )
    if not newer.exists():
        Conversation.objects.filter(pk=message["conversation_id"]).update(
            last_message_status=message["status"]
        )


def pending_statuses_apply(*, channel: Channel, provider_message_id: str) -> int:
    """Apply the statuses that arrived before their message; returns how many were kept."""
    return pending_statuses_apply_many(channel=channel, provider_message_ids=[provider_message_id])


def pending_statuses_apply_many(*, channel: Channel, provider_message_ids) -> int:
    """The same for a batch of sent messages, with one query when none is waiting (the rule)."""
    pending = list(
        PendingStatus.objects.filter(
            channel=channel, provider_message_id__in=list(provider_message_ids)
        )
    )
    for row in sorted(pending, key=lambda p: (p.provider_message_id, RANK.get(p.status, 9))):
        status_apply(
            channel=channel,
            update=StatusUpdate(
                provider_message_id=row.provider_message_id,
                channel_external_id=channel.external_id,
                status=row.status,
                timestamp=row.timestamp,
                callback_data=row.callback_data,
                errors=[
                    ErrorInfo(
                        e.get("code"),
                        e.get("title", ""),
                        e.get("details", ""),
                        e.get("meaning", ""),
                        e.get("hold_seconds"),
                    )
                    for e in row.errors
                ],
            ),
        )
    PendingStatus.objects.filter(pk__in=[p.pk for p in pending]).delete()
    return len(pending)
