"""The inbox's WebSocket: a signed-in user's browser listens here for what changes in the
conversations they may see. The socket carries events only; it reads nothing while idle (no
query per minute), and who receives what is decided when an event is published
(messaging.live)."""

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.models import Role
from accounts.selectors import user_role
from messaging.live import GROUP_ALL, group_of_user, live_server_started

CLOSE_UNAUTHORIZED = 4401


@database_sync_to_async
def _role_of(user):
    return user_role(user=user)


class InboxConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        role = await _role_of(user)
        self.groups_joined = [
            GROUP_ALL if role in (Role.MANAGER, Role.QUALITY_CONTROL) else group_of_user(user.pk)
        ]
        live_server_started(asyncio.get_running_loop())
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello"})

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # The browser only listens; a ping keeps proxies from closing an idle socket.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def inbox_event(self, message):
        await self.send_json(message["data"])
