import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.models import AgentProfile
from crm.models import Company, Contact

pytestmark = pytest.mark.django_db


def snapshot():
    return {
        model.__name__: sorted(map(repr, model.objects.values()))
        for model in (get_user_model(), AgentProfile, Company, Contact)
    }


def test_running_it_twice_leaves_the_same_rows(capsys):
    call_command("demo_data")
    first = snapshot()
    call_command("demo_data")
    assert snapshot() == first
    assert len(first["User"]) == 5
    assert "user admin" in capsys.readouterr().out


def test_it_creates_one_user_per_role_and_an_administrator():
    call_command("demo_data")
    roles = set(AgentProfile.objects.values_list("role", flat=True))
    assert roles == {"manager", "sales_rep", "quality_control"}
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password("switchboard")


def test_sandbox_lines_answer_outside_the_window_from_the_start(capsys):
    from messaging.models import Channel, MessageTemplate

    call_command("demo_data")
    call_command("demo_data")
    channels = list(
        Channel.objects.select_related("utility_template").filter(
            name__in=["Sandbox support line", "Sandbox sales line", "Sandbox Twilio line"]
        )
    )
    assert len(channels) == 3
    for channel in channels:
        assert channel.auto_create_tickets
        assert channel.utility_template.name == "ticket_update"
        assert channel.utility_template.status == MessageTemplate.APPROVED
        assert channel.utility_template_parameters == [
            "contact.name",
            "ticket.number",
            "comment.text",
        ]
    # Stored once, however often the demo loads.
    updates = MessageTemplate.objects.filter(name="ticket_update")
    assert updates.count() == len({(t.account_id, t.language) for t in updates})


def test_the_demo_has_a_username_customer_the_sandbox_writes_as():
    from crm.models import ContactAddress
    from messaging.sandbox import emulator

    call_command("demo_data")
    sofia = Contact.objects.get(name="Sofia Russo")
    assert sofia.phone is None
    assert sofia.handle == "sofia.dolci"
    row = ContactAddress.objects.get(contact=sofia)
    assert row.transport == "whatsapp_bsuid"
    sub = emulator.subscription_for_number(
        emulator.sandbox_channels().order_by("pk").first().external_id
    )
    try:
        assert row.address == emulator.customer(sub, "sofia.dolci").user_id
    finally:
        emulator.reset()


def test_the_twilio_line_talks_to_the_sandboxs_twilio():
    from messaging.models import Channel
    from messaging.sandbox import twilio

    call_command("demo_data")
    channel = Channel.objects.get(name="Sandbox Twilio line")
    assert channel.provider == "twilio"
    assert channel.utility_template.external_id.startswith("HX")
    line = twilio.line_for(channel.external_id)
    assert line.webhook_url.endswith(f"/webhooks/twilio/{channel.account.key}/")
    assert channel.agents.count() == 2


def test_the_demo_bot_is_connected_to_the_sandbox(settings, client):
    from crm.models import ContactAddress
    from messaging.models import Channel
    from messaging.sandbox import telegram

    call_command("demo_data")
    call_command("demo_data")
    bot = Channel.objects.get(provider="telegram")
    assert bot.config["webhook_connected"] and bot.secrets["webhook_secret"]
    assert bot.throughput_per_second == 30
    olivia = ContactAddress.objects.get(transport="telegram")
    assert (olivia.address, olivia.contact.name) == ("5123456789", "Olivia Bennett")
    settings.SANDBOX_ENABLED = True
    [sandbox_bot] = telegram.bots()
    assert sandbox_bot.webhook_url.endswith(f"/webhooks/telegram/{bot.key}/")
    assert sandbox_bot.webhook_secret == bot.secrets["webhook_secret"]
    page = client.get("/sandbox/telegram/").content.decode()
    assert "Sandbox helpdesk bot (@sandbox_helpdesk_bot)" in page


def test_the_demo_has_a_sandbox_wazzup_account_with_whatsapp_and_telegram(capsys):
    from integrations.models import IntegrationAccount
    from messaging.models import Channel

    call_command("demo_data")
    call_command("demo_data")
    account = IntegrationAccount.objects.get(platform="wazzup")
    assert account.description == "Sandbox Wazzup"
    channels = Channel.objects.filter(account=account).order_by("name")
    assert [(c.transport, c.config["state"]) for c in channels] == [
        ("telegram", "active"),
        ("whatsapp", "active"),
    ]


def test_the_demo_shows_one_opted_in_and_one_opted_out_contact_once():
    from crm.models import ConsentRecord

    call_command("demo_data")
    call_command("demo_data")
    states = dict(ConsentRecord.objects.values_list("contact__name", "state"))
    assert states == {"Giulia Conti": "opted_in", "Lucía García": "opted_out"}
