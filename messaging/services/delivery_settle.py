"""Settling sent messages a batch at a time: what `delivery_settle` does for one, in a few
statements for many (the delivery drain's settling thread gathers whatever answers came in)."""

from django.db import transaction
from django.db.models import Case, CharField, DateTimeField, Value, When
from django.utils import timezone

from messaging.live import live_message_status
from messaging.models import Channel, Message
from messaging.providers.base import SendResult
from messaging.services.statuses import pending_statuses_apply_many
from messaging.services.statuses_batch import conversations_last_status_follow

S = Message.Status


def deliveries_settle(*, channel: Channel, sent: list[tuple[Message, SendResult]]) -> None:
    """The provider took these messages (all of `channel`): their ids and `sent`, each
    conversation's last status, the ticks live, and the statuses that came before them.

    A message a status webhook already moved on (matched by our callback data) keeps that
    status, as one at a time; a provider id is written only where none is yet. `sent_at`: when
    each answer came, if the caller set it on the message (a drain settles a moment later).
    """
    if not sent:
        return
    ids = [message.pk for message, _ in sent]
    provider_ids = Case(
        *(When(pk=message.pk, then=Value(result.provider_message_id)) for message, result in sent),
        output_field=CharField(),
    )
    now = timezone.now()
    sent_at = Case(
        *(When(pk=message.pk, then=Value(message.sent_at or now)) for message, _ in sent),
        output_field=DateTimeField(),
    )
    with transaction.atomic():
        Message.objects.filter(pk__in=ids, provider_message_id__isnull=True).update(
            provider_message_id=provider_ids
        )
        Message.objects.filter(pk__in=ids, status=S.SENDING).update(
            status=S.SENT, sent_at=sent_at, error_title="", error_code=None, error_detail=""
        )
        conversations_last_status_follow({message.conversation_id for message, _ in sent})
        statuses = dict(Message.objects.filter(pk__in=ids).values_list("pk", "status"))
        for message, _ in sent:  # published together once the batch commits
            live_message_status(
                conversation_id=message.conversation_id,
                message_id=message.pk,
                status=statuses.get(message.pk, S.SENT),
            )
        if not channel.is_healthy:
            Channel.objects.filter(pk=channel.pk, is_healthy=False).update(is_healthy=True)
            channel.is_healthy = True
        for _, result in sent:
            if result.address_change is not None:
                # The chat moved (a group upgraded): later sends go to the new id.
                from crm.services import contact_address_change

                change = result.address_change
                contact_address_change(transport=change.transport, old=change.old, new=change.new)
    pending_statuses_apply_many(
        channel=channel, provider_message_ids=[result.provider_message_id for _, result in sent]
    )
