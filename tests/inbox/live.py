"""Helpers for the inbox's WebSocket in tests: a signed-in socket through the real ASGI stack
(session cookie, origin check, consumer) and a customer message through the real inbound path."""

import itertools
import json
from datetime import UTC, datetime

from asgiref.testing import ApplicationCommunicator
from django.db import transaction
from django.test import Client

from crm.addresses import Address
from messaging.providers.base import InboundMessage
from messaging.services.inbound import message_receive

_ids = itertools.count(1)


class Socket(ApplicationCommunicator):
    """A WebSocket client speaking ASGI to the application in this process (channels' own
    communicator lives in a package that needs daphne, which Switchboard does not run)."""

    def __init__(self, application, path: str, headers):
        scope = {
            "type": "websocket",
            "path": path,
            "query_string": b"",
            "headers": headers,
            "subprotocols": [],
        }
        super().__init__(application, scope)

    async def connect(self, timeout: float = 5):
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        assert response["type"] == "websocket.accept"
        return True, None

    async def receive_json_from(self, timeout: float = 3) -> dict:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return json.loads(response["text"])

    async def send_json_to(self, data: dict) -> None:
        await self.send_input({"type": "websocket.receive", "text": json.dumps(data)})

    async def disconnect(self, code: int = 1000, timeout: float = 3) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def communicator(cookie: str | None, *, origin: bytes = b"http://testserver"):
    from config.asgi import application

    headers = [(b"host", b"testserver"), (b"origin", origin)]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return Socket(application, "/inbox/live", headers)


async def connected(cookie: str):
    socket = communicator(cookie)
    ok, _code = await socket.connect()
    assert ok
    assert await socket.receive_json_from(timeout=5) == {"type": "hello"}
    return socket


async def received(socket, *, timeout: float = 3) -> list[dict]:
    """Every event the socket holds once it has been quiet for a moment."""
    events = [await socket.receive_json_from(timeout=timeout)]
    while not await socket.receive_nothing(timeout=0.2):
        events.append(await socket.receive_json_from())
    return events


def customer_writes(conversation, text="Hello?"):
    """A customer message on the conversation's channel, stored by the real inbound service."""
    contact = conversation.contact
    with transaction.atomic():
        return message_receive(
            channel=conversation.channel,
            inbound=InboundMessage(
                provider_message_id=f"wamid.live{next(_ids)}",
                channel_external_id=conversation.channel.external_id,
                sender=contact.phone.lstrip("+"),
                sender_name=contact.name,
                timestamp=datetime.now(UTC),
                type="text",
                text=text,
                addresses=(Address("whatsapp", contact.phone),),
            ),
        )
