"""Demo services: the sandbox support line belongs to "Customer care" and the sales line to
"Sales", both answered by the two sales reps; Luca may hold three WhatsApp conversations at
once. A service found by its name is left as it is, so a second run (or an operator's edits)
changes nothing."""

from accounts.models import AgentProfile
from messaging.models import AgentCapacity, Channel, Service
from messaging.services.service_setup import service_create

SERVICES = [
    (
        "Customer care",
        "Questions about orders, deliveries and returns.",
        ("Sandbox support line", "Sandbox Twilio line"),
    ),
    ("Sales", "New clients and quotes.", ("Sandbox sales line",)),
]
WHATSAPP_MAXIMUM = {"rep1": 3}


def demo_services_load(*, channels: list[Channel], reps: list[AgentProfile]) -> None:
    by_name = {channel.name: channel for channel in channels}
    for name, description, channel_names in SERVICES:
        if Service.objects.filter(name=name).exists():
            continue
        service_create(
            name=name,
            description=description,
            channels=[by_name[each] for each in channel_names if each in by_name],
            agents=reps,
        )
    for profile in reps:
        maximum = WHATSAPP_MAXIMUM.get(profile.user.username)
        if maximum is not None:
            AgentCapacity.objects.get_or_create(
                profile=profile,
                transport=by_name["Sandbox support line"].transport,
                defaults={"max_interactions": maximum},
            )
