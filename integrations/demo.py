"""Demo data for `make run`: staff with each role, a company, a few contacts, a "Sales" pipeline,
and a WhatsApp account with two channels that talk to the sandbox: a first-responder support line
and a round-robin sales line, both worked by the two sales reps.

It lives in `integrations`, the app that may import every other one, because later steps add the
sandbox account and channels. Every row is found by a natural key first, so a second run changes
nothing.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.models import AgentProfile, Role
from crm.addresses import Address, AddressTransport
from crm.models import Company, Contact, ContactKind, Pipeline, Stage
from crm.services import contact_get_or_create_by_addresses
from crm.services_consent import consent_record
from integrations.demo_services import demo_services_load
from integrations.demo_telegram import demo_telegram_load
from integrations.demo_twilio import demo_twilio_load
from integrations.demo_wazzup import demo_wazzup_load
from integrations.demo_widget import demo_widget_load
from integrations.models import IntegrationAccount
from messaging.models import Channel, RoutingMode
from messaging.providers.whatsapp_cloud import WhatsAppCloudProvider
from messaging.sandbox.emulator import demo_template_infos, user_id_for
from messaging.services import templates_store
from tickets.services import channel_helpdesk_defaults_apply

DEMO_PASSWORD = "switchboard"  # noqa: S105 - printed for the local demo on purpose


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str


STAFF = [
    ("admin", "Ada", "Admin", None),
    ("manager", "Marta", "Manager", Role.MANAGER),
    ("rep1", "Luca", "Rossi", Role.SALES_REP),
    ("rep2", "Sara", "Bianchi", Role.SALES_REP),
    ("quality", "Quinto", "Verdi", Role.QUALITY_CONTROL),
]

COMPANY = {"name": "Trattoria Demo S.r.l.", "email": "info@trattoria.example.com"}

CONTACTS = [
    ("+393351032246", "Giulia Conti", ContactKind.CUSTOMER, "rep1"),
    ("+393401234567", "Marco Neri", ContactKind.CUSTOMER, "rep2"),
    ("+34612345678", "Lucía García", ContactKind.LEAD, None),
]
# A customer who uses a WhatsApp username: known by user id only, no phone. Her user id is the
# one the sandbox gives this username, so "sofia.dolci" on the sandbox writes as her.
USERNAME_CONTACT = ("sofia.dolci", "Sofia Russo")


@transaction.atomic
def demo_data_load() -> list[DemoLogin]:
    User = get_user_model()
    users = {}
    logins = []
    for username, first, last, role in STAFF:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@switchboard.example.com",
                is_staff=True,
                is_superuser=role is None,
            )
            user.set_password(DEMO_PASSWORD)
            user.save()
        if role is not None:
            AgentProfile.objects.get_or_create(user=user, defaults={"role": role})
        users[username] = user
        logins.append(DemoLogin(username, role.label if role else "Administrator"))

    company, _ = Company.objects.get_or_create(
        name=COMPANY["name"], defaults={"email": COMPANY["email"]}
    )
    for phone, name, kind, owner in CONTACTS:
        Contact.objects.get_or_create(
            phone=phone,
            defaults={
                "name": name,
                "kind": kind,
                "company": company if kind == ContactKind.CUSTOMER else None,
                "responsible": users.get(owner),
            },
        )
    _demo_consent_load()
    pipeline, first_stage = _sales_pipeline_load()
    channels = _sandbox_channels_load(pipeline=pipeline, stage=first_stage)
    channels.append(demo_telegram_load(pipeline=pipeline, stage=first_stage))
    channels += demo_wazzup_load(pipeline=pipeline, stage=first_stage)
    username, name = USERNAME_CONTACT
    user_id = user_id_for(SANDBOX_ACCOUNT["settings"]["waba_id"], username)
    contact_get_or_create_by_addresses(
        addresses=[Address(AddressTransport.WHATSAPP_BSUID, user_id, username)],
        name=name,
        verified=False,
    )
    for username in ("rep1", "rep2"):
        users[username].agent_profile.channels.add(*channels)
    reps = [users["rep1"], users["rep2"]]
    channels.append(demo_twilio_load(pipeline=pipeline, stage=first_stage, agents=reps))
    demo_services_load(
        channels=channels, reps=[users[name].agent_profile for name in ("rep1", "rep2")]
    )
    demo_widget_load(channels=channels)
    return logins


# Consent to show in the admin and the inbox: one customer agreed to offers on the web widget,
# one lead wrote STOP. Marketing templates (the sandbox's `cart_reminder`) go only to the first.
DEMO_CONSENT = [
    ("+393351032246", "opted_in", "widget", "Yes, send me offers and news on WhatsApp."),
    ("+34612345678", "opted_out", "keyword", ""),
]


def _demo_consent_load() -> None:
    for phone, state, source, text in DEMO_CONSENT:
        contact = Contact.objects.filter(phone=phone).first()
        if contact is None or contact.consent_records.exists():
            continue
        consent_record(
            contact=contact, purpose="marketing", state=state, source=source, text_shown=text
        )


SALES_STAGES = ["New", "Contacted", "Proposal", "Negotiation"]


def _sales_pipeline_load() -> tuple[Pipeline, Stage]:
    pipeline, _ = Pipeline.objects.get_or_create(name="Sales")
    stages = [
        Stage.objects.get_or_create(pipeline=pipeline, name=name, defaults={"position": n})[0]
        for n, name in enumerate(SALES_STAGES)
    ]
    return pipeline, stages[0]


SANDBOX_ACCOUNT = {
    "description": "Sandbox WhatsApp (emulated Meta)",
    "settings": {"app_id": "100000000000002", "waba_id": "100000000000001"},
    "secrets": {
        "app_secret": "sandbox-app-secret",
        "verify_token": "sandbox-verify-token",
        "access_token": "sandbox-access-token",
    },
}
# Two phone numbers of one WhatsApp Business account; the sandbox finds them by phone-number-id.
SANDBOX_CHANNELS = [
    {
        "name": "Sandbox support line",
        "external_id": "100000000000010",
        "display_number": "+15550100001",
        "routing_mode": RoutingMode.FIRST_RESPONDER,
    },
    {
        "name": "Sandbox sales line",
        "external_id": "100000000000011",
        "display_number": "+15550100002",
        "routing_mode": RoutingMode.ROUND_ROBIN,
    },
]


def _sandbox_channels_load(*, pipeline: Pipeline, stage: Stage) -> list[Channel]:
    account, _ = IntegrationAccount.objects.get_or_create(
        description=SANDBOX_ACCOUNT["description"],
        platform=WhatsAppCloudProvider.key,
        defaults={"settings": SANDBOX_ACCOUNT["settings"], "secrets": SANDBOX_ACCOUNT["secrets"]},
    )
    channels = []
    for spec in SANDBOX_CHANNELS:
        channel, _ = Channel.objects.get_or_create(
            provider=WhatsAppCloudProvider.key,
            external_id=spec["external_id"],
            defaults={
                "name": spec["name"],
                "account": account,
                "display_number": spec["display_number"],
                "routing_mode": spec["routing_mode"],
                "new_client_pipeline": pipeline,
                "new_client_stage": stage,
            },
        )
        channels.append(channel)
    # The sandbox's approved templates, stored as a sync would (the web server that serves the
    # sandbox is not up yet), so each line answers outside the 24-hour window from the start.
    templates_store(account=account, infos=demo_template_infos())
    for channel in channels:
        if channel.utility_template_id is None:
            channel_helpdesk_defaults_apply(channel=channel)
    return channels
