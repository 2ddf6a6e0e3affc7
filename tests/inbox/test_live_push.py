"""Pushed events over the inbox's WebSocket, through the real ASGI stack and channel layer (Redis
when REDIS_URL is set, else in memory): who receives what is the pages' matrix (managers and
quality control everything, a sales rep their own clients and the new clients offered to them),
events leave only after commit, and a channel layer that fails after commit is logged."""

import asyncio
import logging

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.db import transaction

from messaging import live
from messaging.models import Message
from messaging.providers.base import StatusUpdate
from messaging.services.statuses import status_apply
from tests.inbox.live import communicator, connected, customer_writes, received, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def run(coroutine_function):
    return async_to_sync(coroutine_function)()


@pytest.fixture
def sockets(people, clients):
    cookies = {name: session_cookie(user) for name, user in people.items()}
    return cookies


def test_a_socket_without_a_session_is_refused(db):
    async def body():
        socket = communicator(None)
        ok, code = await socket.connect()
        assert not ok
        assert code == 4401

    run(body)


def test_a_socket_from_a_foreign_site_is_refused(people):
    cookie = session_cookie(people["rep"])

    async def body():
        socket = communicator(cookie, origin=b"https://evil.example")
        ok, _code = await socket.connect()
        assert not ok

    run(body)


def test_a_customer_message_reaches_exactly_who_may_see_the_conversation(sockets, clients):
    own, others = clients["own"], clients["others"]

    async def body():
        connected_ = {name: await connected(cookie) for name, cookie in sockets.items()}
        await database_sync_to_async(customer_writes)(own, "Is my order ready?")
        for name in ("rep", "manager", "quality"):
            events = await received(connected_[name])
            assert {"type": "conversation", "id": own.pk} in events, name
        # The other rep's socket hears nothing of a client who is not theirs.
        assert await connected_["other"].receive_nothing(timeout=0.5)

        await database_sync_to_async(customer_writes)(others, "Hello other")
        for name in ("other", "manager", "quality"):
            events = await received(connected_[name])
            assert {"type": "conversation", "id": others.pk} in events, name
        assert await connected_["rep"].receive_nothing(timeout=0.5)
        for socket in connected_.values():
            await socket.disconnect()

    run(body)


def test_a_new_client_is_pushed_to_the_reps_it_is_offered_to(sockets, clients):
    unclaimed = clients["unclaimed"]

    async def body():
        rep = await connected(sockets["rep"])
        other = await connected(sockets["other"])
        await database_sync_to_async(customer_writes)(unclaimed, "Anyone there?")
        for socket in (rep, other):
            assert {"type": "conversation", "id": unclaimed.pk} in await received(socket)
        await rep.disconnect()
        await other.disconnect()

    run(body)


def test_a_claim_tells_the_reps_who_lose_the_offer_and_then_only_the_new_owner(
    sockets, clients, people
):
    from tickets.routing import conversation_claim

    unclaimed = clients["unclaimed"]

    def claim():
        with transaction.atomic():
            conversation_claim(conversation=unclaimed, user=people["rep"])

    async def body():
        rep = await connected(sockets["rep"])
        other = await connected(sockets["other"])
        await database_sync_to_async(claim)()
        # The other rep's list drops the row it showed a moment ago.
        assert {"type": "conversation", "id": unclaimed.pk} in await received(other)
        assert {"type": "conversation", "id": unclaimed.pk} in await received(rep)
        await database_sync_to_async(customer_writes)(unclaimed, "Thanks for taking me")
        assert {"type": "conversation", "id": unclaimed.pk} in await received(rep)
        assert await other.receive_nothing(timeout=0.5)
        await rep.disconnect()
        await other.disconnect()

    run(body)


def test_ticks_are_pushed_with_the_status_to_the_owner_only(sockets, clients):
    own = clients["own"]
    message = Message.objects.create(
        channel=own.channel,
        conversation=own,
        direction=Message.Direction.OUTBOUND,
        provider_message_id="wamid.out1",
        text="Yes!",
        status=Message.Status.SENT,
    )

    def delivered(status):
        from django.utils import timezone

        with transaction.atomic():
            status_apply(
                channel=own.channel,
                update=StatusUpdate(
                    provider_message_id="wamid.out1",
                    channel_external_id=own.channel.external_id,
                    status=status,
                    timestamp=timezone.now(),
                ),
            )

    async def body():
        rep = await connected(sockets["rep"])
        other = await connected(sockets["other"])
        quality = await connected(sockets["quality"])
        for status in ("delivered", "read"):
            await database_sync_to_async(delivered)(status)
            for socket in (rep, quality):
                events = await received(socket)
                assert {
                    "type": "status",
                    "conversation": own.pk,
                    "message": message.pk,
                    "status": status,
                    "error": "",
                } in events
        assert await other.receive_nothing(timeout=0.5)
        for socket in (rep, other, quality):
            await socket.disconnect()

    run(body)


def test_an_idle_socket_outlives_the_channel_layers_blocking_read(sockets, clients):
    """Redis holds a socket's read up to 5 s: an idle socket must not be dropped after it."""
    own = clients["own"]

    async def body():
        manager = await connected(sockets["manager"])
        await asyncio.sleep(7)
        await manager.send_json_to({"type": "ping"})
        assert await manager.receive_json_from() == {"type": "pong"}
        await database_sync_to_async(customer_writes)(own, "after a quiet while")
        assert {"type": "conversation", "id": own.pk} in await received(manager)
        await manager.disconnect()

    run(body)


def test_nothing_is_pushed_for_a_transaction_that_rolls_back(sockets, clients):
    own = clients["own"]

    def write_then_fail():
        with pytest.raises(RuntimeError), transaction.atomic():
            customer_writes(own, "never stored")
            raise RuntimeError("rolled back")

    async def body():
        manager = await connected(sockets["manager"])
        await database_sync_to_async(write_then_fail)()
        assert await manager.receive_nothing(timeout=0.5)
        # The next transaction's events still leave (the rolled-back batch is not reused).
        await database_sync_to_async(customer_writes)(own, "stored")
        assert {"type": "conversation", "id": own.pk} in await received(manager)
        await manager.disconnect()

    run(body)


def test_one_transaction_sends_each_conversation_once(sockets, clients):
    own = clients["own"]

    def two_messages():
        with transaction.atomic():
            customer_writes(own, "one")
            customer_writes(own, "two")

    async def body():
        manager = await connected(sockets["manager"])
        await database_sync_to_async(two_messages)()
        events = await received(manager)
        assert events.count({"type": "conversation", "id": own.pk}) == 1
        await manager.disconnect()

    run(body)


def test_a_channel_layer_failure_after_commit_is_logged_and_the_message_kept(
    sockets, clients, monkeypatch, caplog
):
    own = clients["own"]

    def broken(sends):
        raise ConnectionError("channel layer down")

    async def body():
        manager = await connected(sockets["manager"])
        monkeypatch.setattr(live, "live_group_send", broken)
        with caplog.at_level(logging.ERROR, logger="messaging.queueing"):
            stored = await database_sync_to_async(customer_writes)(own, "kept anyway")
        assert stored is not None
        assert await database_sync_to_async(Message.objects.filter(text="kept anyway").exists)()
        assert "live push" in caplog.text
        await manager.disconnect()

    run(body)
