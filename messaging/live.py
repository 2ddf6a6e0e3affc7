"""Live push: what changed in a conversation goes to the browsers of the people who may see it.

Services call `live_conversation_changed` / `live_message_status` inside their transaction; the
events of one transaction are gathered and sent once it commits (`messaging.queueing.after_commit`:
a channel layer that is down is logged, never a 500 and never a rollback). An event names what
changed and carries only what needs no per-reader rendering (a tick, an id); the page fetches
the rows it shows in the reader's language. A socket that misses events (a reconnect) catches up
from its cursor, so a lost event delays a change, it never loses one.

Groups: `inbox.all` for managers and quality control (they see every conversation),
`inbox.user.<id>` for everyone else, addressed one by one (`messaging.live_selectors`).

Channel layers: channels-redis when REDIS_URL is set (every process publishes through Redis);
otherwise the in-memory layer of the one web process. A task cluster process on the embedded
default has no sockets of its own: it hands its events to the web process over HTTP
(`LIVE_RELAY_URL`, signed with the secret key; see `messaging.live_relay`).
"""

import asyncio
import hashlib
import hmac
import json
import logging
import os
import threading

from django.conf import settings
from django.db import transaction

from messaging.queueing import after_commit

logger = logging.getLogger(__name__)

GROUP_ALL = "inbox.all"
EVENT_TYPE = "inbox.event"  # the consumer method that forwards an event: inbox_event
RELAY_HEADER = "X-Switchboard-Live-Signature"

_server = threading.local()
_server_loop: asyncio.AbstractEventLoop | None = None
_sender: tuple[int, asyncio.AbstractEventLoop] | None = None
_sender_lock = threading.Lock()


def group_of_user(user_id: int) -> str:
    return f"inbox.user.{user_id}"


def live_server_started(loop: asyncio.AbstractEventLoop) -> None:
    """Called by the socket consumer on connect: this process serves sockets, so its in-memory
    layer has listeners, reached from other threads through this loop."""
    global _server_loop
    _server_loop = loop


def _layer_is_shared() -> bool:
    return "redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"].lower()


def live_enabled() -> bool:
    """Whether an event can reach anyone from this process: always through Redis; with the
    in-memory layer only in the web process once a socket opened, or through the relay."""
    serving = _server_loop is not None and _server_loop.is_running()
    return _layer_is_shared() or serving or bool(settings.LIVE_RELAY_URL)


# ---- Gathering a transaction's events ----------------------------------------------------------


class _Pending:
    def __init__(self):
        self.conversations: set[int] = set()
        self.statuses: dict[int, dict] = {}  # message id -> its latest status event
        # Users who saw a conversation before this transaction changed who sees it (a claim, a
        # transfer): told too, so their list drops it.
        self.seen_before: dict[int, set[int]] = {}


def _pending() -> _Pending:
    """The events of the current transaction, flushed once at commit. A rolled-back transaction
    (or savepoint) drops its commit hook, and with it these events: a fresh batch starts."""
    connection = transaction.get_connection()
    pending = getattr(connection, "live_pending", None)
    hooks = connection.run_on_commit
    if pending is not None and any(
        getattr(func, "live_batch", None) is pending for _sids, func, _robust in hooks
    ):
        return pending
    pending = _Pending()
    connection.live_pending = pending

    def flush():
        if getattr(connection, "live_pending", None) is pending:
            connection.live_pending = None
        live_flush(pending)

    after_commit(flush, what="live push")
    # after_commit wraps flush; mark the wrapper it registered so the batch is found again.
    connection.run_on_commit[-1][1].live_batch = pending
    return pending


def live_conversation_changed(*, conversation_ids, audience_may_change: bool = False) -> None:
    """A conversation's row or thread changed (a message, a status, an assignment, a close).

    `audience_may_change`: called before a change of who sees it (an assignment); those who
    see it now are told as well as those who see it after commit."""
    if not live_enabled():
        return
    ids = {int(pk) for pk in conversation_ids if pk}
    if not ids:
        return
    batch = _pending() if transaction.get_connection().in_atomic_block else _Pending()
    batch.conversations.update(ids)
    if audience_may_change:
        from messaging.live_selectors import conversation_rep_audience

        for pk, users in conversation_rep_audience(conversation_ids=ids).items():
            batch.seen_before.setdefault(pk, set()).update(users)
    if not transaction.get_connection().in_atomic_block:
        after_commit(lambda: live_flush(batch), what="live push")


def live_message_status(*, conversation_id: int, message_id: int, status: str, error: str = ""):
    """An outbound message's tick moved."""
    if not live_enabled():
        return
    event = {
        "type": "status",
        "conversation": conversation_id,
        "message": message_id,
        "status": status,
        "error": error,
    }
    in_transaction = transaction.get_connection().in_atomic_block
    batch = _pending() if in_transaction else _Pending()
    # A tick alone changes no row of the list and no message of the thread: it travels whole,
    # with no "conversation" event that would make the pages read again.
    batch.statuses[message_id] = event
    if not in_transaction:
        after_commit(lambda: live_flush(batch), what="live push")


# ---- Sending ----------------------------------------------------------------------------------


def live_flush(pending: _Pending) -> None:
    """Address each event to its audience and send it. Runs after commit (failures are logged
    by the caller's after_commit wrapper)."""
    ticked = {event["conversation"] for event in pending.statuses.values()}
    if not pending.conversations and not ticked:
        return
    from messaging.live_selectors import conversation_rep_audience

    audience = conversation_rep_audience(conversation_ids=pending.conversations | ticked)
    sends: list[tuple[str, dict]] = []
    for conversation_id, users in audience.items():
        users = users | pending.seen_before.get(conversation_id, set())
        events = []
        if conversation_id in pending.conversations:
            events.append({"type": "conversation", "id": conversation_id})
        events += [e for e in pending.statuses.values() if e["conversation"] == conversation_id]
        for group in [GROUP_ALL, *(group_of_user(uid) for uid in sorted(users))]:
            sends.extend((group, event) for event in events)
    live_send(sends)


def live_send(sends: list[tuple[str, dict]]) -> None:
    if not sends:
        return
    serving = _server_loop is not None and _server_loop.is_running()
    if not _layer_is_shared() and not serving:
        if settings.LIVE_RELAY_URL:
            _relay(sends)
        return
    live_group_send(sends)


def live_group_send(sends: list[tuple[str, dict]]) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()

    async def send_all():
        for group, event in sends:
            await layer.group_send(group, {"type": EVENT_TYPE, "data": event})

    loop = _server_loop
    if not _layer_is_shared() and loop is not None and loop.is_running():
        # The in-memory layer's queues belong to the server's event loop: hand the sends to it
        # rather than touch them from this thread's loop.
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:
            asyncio.run_coroutine_threadsafe(send_all(), loop).result(timeout=10)
            return
    if _layer_is_shared():
        asyncio.run_coroutine_threadsafe(send_all(), _sending_loop()).result(timeout=10)
        return
    async_to_sync(send_all)()


def _sending_loop() -> asyncio.AbstractEventLoop:
    """The event loop this process publishes on from code that is not async (a webhook drain, a
    send), running in a thread of its own for the life of the process. channels-redis keeps its
    Redis connections per event loop: a loop made for every flush (what async_to_sync does) paid
    a new connection and the loop's set-up each time, a tenth of an inbound drain's CPU."""
    global _sender
    with _sender_lock:
        # A forked child (a task cluster worker) inherits the parent's loop but not its thread.
        if _sender is None or _sender[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="live-send", daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]


def relay_signature(body: bytes) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), body, hashlib.sha256).hexdigest()


def _relay(sends: list[tuple[str, dict]]) -> None:
    from messaging import http

    body = json.dumps({"sends": sends}).encode()
    response = http.request(
        "POST",
        settings.LIVE_RELAY_URL,
        data=body,
        headers={"Content-Type": "application/json", RELAY_HEADER: relay_signature(body)},
        timeout=5,
    )
    response.raise_for_status()
