"""Outbound delivery: one drain per channel sends its queued messages at the channel's rate.

A queued message wakes its channel's drain (coalesced like the webhook drain, see queueing.py).
One drain sends for a channel at a time (a lease on the channel row), so messages to one person
leave in the order they were written. The drain claims a batch of the channel's due messages in
one transaction and pipelines them:

- its own thread reads the batch in one query, checks each message (consent, reachability),
  builds the provider's request and takes the message's slot of the channel's throttle
  (outbound.channel_throttle_slot: slots 1/rate apart, shared by every process on every host);
- a pool of HTTP threads sends each request at its slot. They touch no database, so many can be
  in flight (the provider's answer time, not the CPU, bounds one sender) without as many
  database connections. A message waits for the previous one to the same conversation;
- one settling thread writes each answer (sent with its id, or the failure and its retry).

A drain that dies leaves its claimed messages `sending` (the sweep settles them as an unknown
outcome, never as a second send) and its lease runs out, so the next wake-up takes over.
"""

import logging
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from messaging.models import Channel, Message
from messaging.providers.base import ProviderError
from messaging.queueing import drain_linger_seconds, task_wake, task_wake_clear
from messaging.services.outbound import (
    DELIVERY_DRAIN,
    S,
    channel_throttle_slots,
    delivery_fail,
    delivery_failed,
    delivery_flag,
    delivery_load,
    delivery_outbound,
    delivery_refusal,
    delivery_settle,
    message_deliver_claimed,
)

logger = logging.getLogger(__name__)

BATCH = 100
DRAIN_MAX_SECONDS = 60  # then a fresh drain takes over, well before the task timeout
LEASE = timedelta(seconds=DRAIN_MAX_SECONDS + 30)


def _lease_take(channel_id: int) -> bool:
    now = timezone.now()
    return bool(
        Channel.objects.filter(pk=channel_id)
        .filter(Q(delivery_lease_until__isnull=True) | Q(delivery_lease_until__lt=now))
        .update(delivery_lease_until=now + LEASE)
    )


def _lease_renew(channel_id: int) -> None:
    Channel.objects.filter(pk=channel_id).update(delivery_lease_until=timezone.now() + LEASE)


def _lease_release(channel_id: int) -> None:
    Channel.objects.filter(pk=channel_id).update(delivery_lease_until=None)


def _due(channel_id: int):
    return Message.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()),
        channel_id=channel_id,
        direction=Message.Direction.OUTBOUND,
        status=S.QUEUED,
    )


def _claim(*, channel_id: int, size: int) -> list[int]:
    """Move up to `size` due messages of the channel to `sending`; their ids in order."""
    with transaction.atomic():
        ids = list(
            _due(channel_id)
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:size]
        )
        if ids:
            Message.objects.filter(pk__in=ids).update(
                status=S.SENDING, attempts=F("attempts") + 1, next_attempt_at=None
            )
    return ids


def _send_at(provider, sender_id: str, request, slot: float, after: Future | None):
    if after is not None:
        wait([after])  # the previous message to the same person goes first
    delay = slot - time.time()
    if delay > 0:
        time.sleep(delay)
    return provider.send(sender_id=sender_id, message=request)


class _Settler:
    """One thread with its own database connection that writes the answers, in arrival order."""

    def __init__(self):
        self.work: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while (job := self.work.get()) is not None:
                try:
                    job()
                except Exception:
                    logger.exception("settling a delivery failed; the sweep settles the message")
                finally:
                    self.work.task_done()
        finally:
            connection.close()

    def put(self, job) -> None:
        self.work.put(job)

    def join(self) -> None:
        self.work.join()

    def stop(self) -> None:
        self.work.put(None)
        self.thread.join()


def _settle(message: Message, future: Future) -> None:
    exc = future.exception()
    if exc is None:
        delivery_settle(message, future.result())
    elif isinstance(exc, ProviderError):
        delivery_failed(message, exc)
    else:
        # No answer we understand: left `sending`, settled by a status or the sweep, never resent.
        logger.error("message %s: delivery broke: %r", message.pk, exc)


def _batch_send(ids: list[int], *, pool: ThreadPoolExecutor, settler: _Settler) -> None:
    messages = delivery_load(message_ids=ids)
    if not messages:
        return
    channel = messages[0].channel
    provider = channel.get_provider()
    lanes: dict[int, Future] = {}
    futures = []
    sendable = []
    for message in messages:
        message.channel = channel  # one instance: its health flag is seen by every settle
        refusal = delivery_refusal(message)
        if refusal:
            settler.put(lambda m=message, r=refusal: delivery_fail(m, reason=r))
        else:
            sendable.append((message, delivery_outbound(message)))
    # The batch's slots in one statement, once every request is ready: the sends then start
    # exactly at their slots, none bunched behind a slow preparation.
    slots = channel_throttle_slots(channel=channel, count=len(sendable)) if sendable else []
    for (message, request), slot in zip(sendable, slots, strict=True):
        after = lanes.get(message.conversation_id)
        future = pool.submit(_send_at, provider, channel.external_id, request, slot, after)
        future.add_done_callback(lambda f, m=message: settler.put(lambda: _settle(m, f)))
        lanes[message.conversation_id] = future
        futures.append(future)
    wait(futures)
    settler.join()


def send_threads() -> int:
    return max(1, int(settings.OUTBOUND_SEND_THREADS))


def channel_deliveries_drain(*, channel_id: int, batch_size: int = BATCH) -> int:
    """Send the channel's due messages until none is left; returns how many were handed over."""
    flag = delivery_flag(channel_id)
    task_wake_clear(flag=flag)
    if not _lease_take(channel_id):
        return 0  # the drain that holds the lease sends these too (it looks again on leaving)
    linger = drain_linger_seconds(flag=flag)
    deadline = time.monotonic() + DRAIN_MAX_SECONDS
    done = 0
    lingered = False
    threads = send_threads()
    pool = settler = None
    if threads > 1:
        pool = ThreadPoolExecutor(threads, thread_name_prefix=f"deliver-{channel_id}")
        settler = _Settler()
    try:
        while True:
            ids = _claim(channel_id=channel_id, size=batch_size)
            if pool is None:
                # One at a time in this thread (SQLite, inline tasks): the same steps in order.
                for pk in ids:
                    message_deliver_claimed(message_id=pk)
            else:
                _batch_send(ids, pool=pool, settler=settler)
            done += len(ids)
            if time.monotonic() > deadline:
                break
            if len(ids) == batch_size:
                _lease_renew(channel_id)
                continue
            if ids:
                lingered = False
            if lingered or not linger:
                break
            time.sleep(linger)
            lingered = True
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
            settler.stop()
        _lease_release(channel_id)
    # A message queued while this drain was leaving found the lease held and was left to it.
    if _due(channel_id).exists():
        task_wake(DELIVERY_DRAIN, channel_id, flag=flag, coalesce=False)
    return done
