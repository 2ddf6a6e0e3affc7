"""Demo data for the Telegram bot channel: a bot account with one bot connected to the sandbox's
Bot API, and a customer who already wrote to it.

The web server is not up while demo data loads, so the bot is marked connected the way Connect
leaves it (a webhook secret, `webhook_connected`); the sandbox reads the same row when the
sandbox user writes, as Telegram would remember the webhook. Every row is found by a natural
key first, so a second run changes nothing.
"""

import secrets

from crm.addresses import Address, AddressTransport
from crm.services import contact_get_or_create_by_addresses
from integrations.models import IntegrationAccount
from messaging.models import Channel, RoutingMode, Transport
from messaging.providers.telegram import TelegramProvider
from messaging.services.connect import CONNECTED_THROUGHPUT

ACCOUNT = "Sandbox Telegram bots (emulated Bot API)"
BOT_ID = "7000000001"
BOT = {
    "name": "Sandbox helpdesk bot",
    "token": f"{BOT_ID}:AAsandboxSandboxSandboxSandbox01",  # the sandbox's, not a real bot
    "username": "sandbox_helpdesk_bot",
}
# A customer who started the bot before; "5123456789" on the sandbox's Telegram page is them.
CUSTOMER = ("5123456789", "@olivia_b", "Olivia Bennett")


def demo_telegram_load(*, pipeline, stage) -> Channel:
    account, _ = IntegrationAccount.objects.get_or_create(
        description=ACCOUNT, platform=TelegramProvider.key
    )
    channel, _ = Channel.objects.get_or_create(
        provider=TelegramProvider.key,
        external_id=BOT_ID,
        defaults={
            "name": BOT["name"],
            "account": account,
            "transport": Transport.TELEGRAM,
            "display_number": f"@{BOT['username']}",
            "config": {
                "bot_id": BOT_ID,
                "bot_username": BOT["username"],
                "webhook_connected": True,
            },
            "secrets": {"bot_token": BOT["token"], "webhook_secret": secrets.token_urlsafe(32)},
            "throughput_per_second": CONNECTED_THROUGHPUT,
            "routing_mode": RoutingMode.FIRST_RESPONDER,
            "new_client_pipeline": pipeline,
            "new_client_stage": stage,
        },
    )
    user_id, handle, name = CUSTOMER
    contact_get_or_create_by_addresses(
        addresses=[Address(AddressTransport.TELEGRAM, user_id, handle)], name=name, verified=False
    )
    return channel
