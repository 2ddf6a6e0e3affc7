"""Outbound delivery: one drain per channel sends its queued messages at the channel's rate.

A queued message wakes its channel's drain (coalesced like the webhook drain, see queueing.py).
One drain sends for a channel at a time (a lease on the channel row), so messages to one person
leave in the order they were written. The drain claims a batch of the channel's due messages in
one transaction and pipelines them:

- its own thread reads the batch (two queries), checks each message (consent, reachability),
  builds the provider's request and takes the batch's slots of the channel's throttle
  (outbound.channel_throttle_slots: slots 1/rate apart, shared by every process on every host).
  It then claims and prepares the next batch while this one is on the wire;
- a pool of HTTP threads sends each request at its slot. They touch no database, so many can be
  in flight (the provider's answer time, not the CPU, bounds one sender) without as many
  database connections. A message waits for the previous one to the same conversation;
- one settling thread writes the answers: every send the provider took since it last looked in
  one transaction (delivery_settle.py), failures and refusals one by one.

A drain that dies leaves its claimed messages `sending` (the sweep settles them as an unknown
outcome, never as a second send) and its lease runs out, so the next wake-up takes over.
"""

import contextlib
import gc
import logging
import queue
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from messaging.models import Channel, Message
from messaging.providers.base import ProviderError
from messaging.queueing import drain_linger_seconds, task_wake, task_wake_clear
from messaging.services.delivery_settle import deliveries_settle
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
TRICKLE_POLL_SECONDS = 0.05
SWITCH_INTERVAL_SECONDS = 0.001
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


class _Pacer:
    """The last check every send of this drain passes at its slot. The slots space the sends
    1/rate apart when each starts on time; after a stall (a pause of the process) the late ones
    would go together with the ones on time and crowd one second. Here a send waits while the
    last second already holds `rate` sends: a stall is made up only as far as the rate allows."""

    def __init__(self, rate: int, *, clock=time.time, sleep=time.sleep):
        self.limit = max(1, rate)
        self.sent: deque[float] = deque()
        self.lock = threading.Lock()
        self.clock = clock
        self.sleep = sleep

    def wait(self, slot: float) -> None:
        delay = slot - self.clock()
        while True:
            if delay > 0:
                self.sleep(delay)
            with self.lock:
                now = self.clock()
                while self.sent and self.sent[0] <= now - 1:
                    self.sent.popleft()
                if len(self.sent) < self.limit:
                    self.sent.append(now)
                    return
                delay = self.sent[0] + 1 - now


def _send_at(provider, sender_id: str, request, slot: float, after: Future | None, pacer):
    if after is not None:
        wait([after])  # the previous message to the same person goes first
    pacer.wait(slot)
    return provider.send(sender_id=sender_id, message=request)


SETTLE_BATCH = 200
# How long the settler gathers answers before it writes them: one transaction, one audience
# query and one publish for every send of that span (a tick shows this much later).
SETTLE_GATHER_SECONDS = 0.25


class _Settler:
    """One thread with its own database connection that writes the answers, those of a short
    span together, so at a high rate one transaction settles many sends."""

    def __init__(self):
        self.work: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            stop = False
            while not stop:
                items = [self.work.get()]
                until = time.monotonic() + SETTLE_GATHER_SECONDS
                while len(items) < SETTLE_BATCH and items[-1] is not None:
                    try:
                        items.append(self.work.get(timeout=max(0, until - time.monotonic())))
                    except queue.Empty:
                        break
                stop = items[-1] is None
                try:
                    _settle_all([item for item in items if item is not None])
                finally:
                    for _ in items:
                        self.work.task_done()
        finally:
            connection.close()

    def sent(self, message: Message, future: Future) -> None:
        self.work.put((message, future, timezone.now()))

    def refused(self, message: Message, reason: str) -> None:
        self.work.put((message, None, reason))

    def join(self) -> None:
        self.work.join()

    def stop(self) -> None:
        self.work.put(None)
        self.thread.join()


def _settle_all(items) -> None:
    """Refusals and failures one by one (rare), the sends the provider took in one batch."""
    taken = []
    for message, future, detail in items:  # detail: the answer's time, or why it was refused
        try:
            if future is None:
                delivery_fail(message, reason=detail)
                continue
            exc = future.exception()
            if exc is None:
                message.sent_at = detail
                taken.append((message, future.result()))
            elif isinstance(exc, ProviderError):
                delivery_failed(message, exc)
            else:
                # No answer we understand: left `sending`, settled by a status or the sweep,
                # never resent.
                logger.error("message %s: delivery broke: %r", message.pk, exc)
        except Exception:
            logger.exception("message %s: settling failed; the sweep settles it", message.pk)
    if not taken:
        return
    try:
        deliveries_settle(channel=taken[0][0].channel, sent=taken)
    except Exception:
        logger.exception("settling %s sends together failed: one by one instead", len(taken))
        for message, result in taken:
            try:
                delivery_settle(message, result)
            except Exception:
                logger.exception("message %s: settling failed; the sweep settles it", message.pk)


def _batch_send(
    ids: list[int],
    *,
    pool: ThreadPoolExecutor,
    settler: _Settler,
    lanes: dict[int, Future],
    pacers: dict[int, _Pacer],
) -> list[Future]:
    """Prepare a claimed batch and hand its sends to the pool, each at its throttle slot; the
    futures of the sends. `lanes` holds each conversation's last send, across batches."""
    messages = delivery_load(message_ids=ids)
    if not messages:
        return []
    channel = messages[0].channel
    provider = channel.get_provider()
    futures = []
    sendable = []
    for message in messages:
        message.channel = channel  # one instance: its health flag is seen by every settle
        refusal = delivery_refusal(message)
        if refusal:
            settler.refused(message, refusal)
        else:
            sendable.append((message, delivery_outbound(message)))
    # The batch's slots in one statement, once every request is ready: the sends then start
    # exactly at their slots, none bunched behind a slow preparation.
    slots = channel_throttle_slots(channel=channel, count=len(sendable)) if sendable else []
    for conversation_id in [c for c, f in lanes.items() if f.done()]:
        del lanes[conversation_id]
    rate = channel.throughput_per_second
    pacer = pacers.get(rate) or pacers.setdefault(rate, _Pacer(rate))
    for (message, request), slot in zip(sendable, slots, strict=True):
        after = lanes.get(message.conversation_id)
        future = pool.submit(_send_at, provider, channel.external_id, request, slot, after, pacer)
        future.add_done_callback(lambda f, m=message: settler.sent(m, f))
        lanes[message.conversation_id] = future
        futures.append(future)
    return futures


@contextlib.contextmanager
def _sending_process():
    """The process tuned for punctual sends while this drain runs, as it was afterwards.

    - Python's automatic collection now and then walks the whole heap, holding every thread
      for a tenth of a second: the sends due meanwhile would leave together, crowding one
      second past the channel's rate. The drain collects the young garbage itself between
      batches, and everything once it is done.
    - A thread back from the network waits for the interpreter lock up to the switch interval
      (5 ms by default) each time, several times per request: 1 ms keeps a send that starts
      at its slot from arriving tens of milliseconds late while the drain prepares a batch.
    """
    enabled = gc.isenabled()
    interval = sys.getswitchinterval()
    gc.disable()
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        if enabled:
            gc.enable()
        gc.collect()


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
    lanes: dict[int, Future] = {}
    pacers: dict[int, _Pacer] = {}  # by rate: a rate changed mid-drain paces afresh
    in_flight: list[Future] = []
    if threads > 1:
        pool = ThreadPoolExecutor(threads, thread_name_prefix=f"deliver-{channel_id}")
        settler = _Settler()
    stack = contextlib.ExitStack()
    if pool is not None:
        stack.enter_context(_sending_process())
    try:
        while True:
            ids = _claim(channel_id=channel_id, size=batch_size)
            if pool is None:
                # One at a time in this thread (SQLite, inline tasks): the same steps in order.
                for pk in ids:
                    message_deliver_claimed(message_id=pk)
            else:
                # One batch ahead: the next one is claimed and prepared while this one is on
                # the wire, so the slots follow each other with no gap between batches.
                futures = _batch_send(ids, pool=pool, settler=settler, lanes=lanes, pacers=pacers)
                wait(in_flight)
                in_flight = futures
                gc.collect(1)  # the young garbage, in a few milliseconds (see _sending_process)
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
            # Messages trickling in are looked for often; after an empty look, once more.
            time.sleep(min(linger, TRICKLE_POLL_SECONDS) if ids else linger)
            lingered = not ids
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
            settler.join()
            settler.stop()
        _lease_release(channel_id)
        stack.close()
    # A message queued while this drain was leaving found the lease held and was left to it.
    if _due(channel_id).exists():
        task_wake(DELIVERY_DRAIN, channel_id, flag=flag, coalesce=False)
    return done
