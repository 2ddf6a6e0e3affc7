"""Demo data for `make run`: a "Sandbox Wazzup" account whose WhatsApp and Telegram channels are
the Wazzup sandbox's (messaging/sandbox/wazzup.py), worked by the demo's sales reps. The webhook
token is stored here, so the sandbox posts to Switchboard before anyone presses "Connect
webhooks" (pressing it does the same over HTTP). Found by natural keys: a second run changes
nothing."""

from crm.models import Pipeline, Stage
from integrations.models import IntegrationAccount
from messaging.models import Channel, RoutingMode
from messaging.providers.wazzup import WazzupProvider
from messaging.sandbox.wazzup import TELEGRAM_CHANNEL_ID, WHATSAPP_CHANNEL_ID

SANDBOX_WAZZUP_ACCOUNT = {
    "description": "Sandbox Wazzup",
    # Agents, contacts and deals are pushed to the sandbox, whose page then offers the agents.
    "settings": {"crm_push": "on"},
    "secrets": {"api_key": "sandbox-wazzup-key", "webhook_token": "sandbox-wazzup-token"},
}
SANDBOX_WAZZUP_CHANNELS = [
    {
        "name": "Wazzup WhatsApp",
        "external_id": WHATSAPP_CHANNEL_ID,
        "transport": "whatsapp",
        "display_number": "79011112233",
        "config": {"transport": "whatsapp", "state": "active"},
        "routing_mode": RoutingMode.ROUND_ROBIN,
    },
    {
        "name": "Wazzup Telegram",
        "external_id": TELEGRAM_CHANNEL_ID,
        "transport": "telegram",
        "display_number": "switchboard_sandbox_bot",
        "config": {"transport": "telegram", "state": "active"},
        "routing_mode": RoutingMode.FIRST_RESPONDER,
    },
]


def demo_wazzup_load(*, pipeline: Pipeline, stage: Stage) -> list[Channel]:
    account, _ = IntegrationAccount.objects.get_or_create(
        description=SANDBOX_WAZZUP_ACCOUNT["description"],
        platform=WazzupProvider.key,
        defaults={
            "settings": SANDBOX_WAZZUP_ACCOUNT["settings"],
            "secrets": SANDBOX_WAZZUP_ACCOUNT["secrets"],
        },
    )
    channels = []
    for spec in SANDBOX_WAZZUP_CHANNELS:
        channel, _ = Channel.objects.get_or_create(
            provider=WazzupProvider.key,
            external_id=spec["external_id"],
            defaults={
                "account": account,
                "name": spec["name"],
                "transport": spec["transport"],
                "display_number": spec["display_number"],
                "config": spec["config"],
                "routing_mode": spec["routing_mode"],
                "new_client_pipeline": pipeline,
                "new_client_stage": stage,
            },
        )
        channels.append(channel)
    return channels
