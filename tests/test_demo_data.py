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
        Channel.objects.filter(provider="whatsapp_cloud").select_related("utility_template")
    )
    assert len(channels) == 2
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
    assert MessageTemplate.objects.filter(name="ticket_update").count() == len(
        {t.language for t in MessageTemplate.objects.filter(name="ticket_update")}
    )


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
