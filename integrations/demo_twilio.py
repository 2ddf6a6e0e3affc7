"""Demo data for the Twilio WhatsApp channel: a Twilio account whose REST and Content APIs are the
sandbox's (`make run` points TWILIO_API_BASE_URL and TWILIO_CONTENT_API_BASE_URL there), and its
"Sandbox Twilio line", a helpdesk line worked by the sales reps. A new user chats through Twilio
with no Twilio account: /sandbox/twilio/ plays the customer.

Every row is found by a natural key first, so a second run changes nothing.
"""

from crm.models import Pipeline, Stage
from integrations.models import IntegrationAccount
from messaging.models import Channel, RoutingMode
from messaging.providers.twilio import TwilioProvider
from messaging.sandbox.twilio import demo_template_infos
from messaging.services import templates_store
from tickets.services import channel_helpdesk_defaults_apply

# Fake credentials, in Twilio's shapes; the sandbox accepts them because they are stored here.
TWILIO_ACCOUNT = {
    "description": "Sandbox Twilio (emulated Twilio)",
    "settings": {"account_sid": "AC" + "5a" * 16, "messaging_service_sid": ""},
    "secrets": {"auth_token": "sandbox-twilio-auth-token"},
}
TWILIO_LINE = {
    "name": "Sandbox Twilio line",
    "external_id": "whatsapp:+15550100003",
    "display_number": "+15550100003",
}


def demo_twilio_load(*, pipeline: Pipeline, stage: Stage, agents) -> Channel:
    """The Twilio account and its line, with the sandbox's Content templates stored as a sync
    would store them (the web server that serves the sandbox is not up yet)."""
    account, _ = IntegrationAccount.objects.get_or_create(
        description=TWILIO_ACCOUNT["description"],
        platform=TwilioProvider.key,
        defaults={"settings": TWILIO_ACCOUNT["settings"], "secrets": TWILIO_ACCOUNT["secrets"]},
    )
    channel, _ = Channel.objects.get_or_create(
        provider=TwilioProvider.key,
        external_id=TWILIO_LINE["external_id"],
        defaults={
            "name": TWILIO_LINE["name"],
            "account": account,
            "display_number": TWILIO_LINE["display_number"],
            "routing_mode": RoutingMode.FIRST_RESPONDER,
            "new_client_pipeline": pipeline,
            "new_client_stage": stage,
        },
    )
    templates_store(account=account, infos=demo_template_infos())
    if channel.utility_template_id is None:
        channel_helpdesk_defaults_apply(channel=channel)
    for user in agents:
        user.agent_profile.channels.add(channel)
    return channel
