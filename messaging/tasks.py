"""Task-cluster entry points: take ids, call one service."""

from messaging import services


def webhook_event_process(event_id: int) -> str:
    return services.webhook_event_process(event_id=event_id).state


def webhook_events_drain() -> int:
    return services.webhook_events_drain()


def message_deliver(message_id: int) -> str | None:
    message = services.message_deliver(message_id=message_id)
    return message.status if message else None


def channel_deliveries_drain(channel_id: int) -> int:
    from messaging.services.delivery import channel_deliveries_drain

    return channel_deliveries_drain(channel_id=channel_id)


def media_fetch(message_id: int) -> str:
    return services.media_fetch(message_id=message_id).media_state


def messaging_sweep() -> dict:
    """Every minute: re-drive what a crash or an outage left behind."""
    return {
        "webhook_events": services.webhook_events_requeue(),
        "outbound": services.messages_retry_due(),
        "media": services.media_retry_due(),
    }
