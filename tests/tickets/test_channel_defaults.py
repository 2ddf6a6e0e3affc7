"""A channel becomes a helpdesk line in one call, from the templates synced for its account."""

import pytest

from messaging.models import Channel, MessageTemplate
from tickets.services import TicketRefused, channel_helpdesk_defaults_apply

pytestmark = pytest.mark.django_db


def template(account, language, *, name="ticket_update", status="APPROVED", params=3):
    body = " ".join(f"{{{{{i}}}}}" for i in range(1, params + 1))
    return MessageTemplate.objects.create(
        account=account,
        name=name,
        language=language,
        category="UTILITY",
        status=status,
        components=[{"type": "BODY", "text": body}],
        body_param_count=params,
    )


@pytest.fixture
def channel(wa_channel):
    Channel.objects.filter(pk=wa_channel.pk).update(
        auto_create_tickets=False, default_ticket_priority="low"
    )
    wa_channel.refresh_from_db()
    return wa_channel


def test_it_sets_automatic_tickets_priority_and_the_utility_template(channel, wa_account, settings):
    settings.LANGUAGE_CODE = "en"
    template(wa_account, "it")
    english = template(wa_account, "en_US")

    chosen = channel_helpdesk_defaults_apply(channel=channel, priority="high")

    assert chosen == english
    channel.refresh_from_db()
    assert channel.auto_create_tickets is True
    assert channel.default_ticket_priority == "high"
    assert channel.utility_template == english
    assert channel.utility_template_parameters == ["contact.name", "ticket.number", "comment.text"]


@pytest.mark.parametrize(
    ("languages", "expected"),
    [(["it"], "it"), (["en_GB", "it"], "en_US"), (["de"], "en_US"), (["de", "it_IT"], "it")],
)
def test_it_follows_the_language_preference(channel, wa_account, languages, expected):
    template(wa_account, "it")
    template(wa_account, "en_US")
    chosen = channel_helpdesk_defaults_apply(channel=channel, languages=languages)
    assert chosen.language == expected


def test_only_an_approved_template_of_the_channels_account_is_chosen(channel, wa_account, settings):
    settings.LANGUAGE_CODE = "en"
    template(wa_account, "en_US", status="PENDING")
    italian = template(wa_account, "it")
    other = type(wa_account).objects.create(
        description="Another WABA",
        platform="whatsapp_cloud",
        settings={"app_id": "1", "waba_id": "2"},
        secrets={"app_secret": "x", "verify_token": "y", "access_token": "z"},
    )
    template(other, "en")
    assert channel_helpdesk_defaults_apply(channel=channel) == italian


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"template_name": "missing"}, "no approved template named 'missing'"),
        ({"parameters": ["ticket.number"]}, "takes 3 body parameter(s); 1 given"),
        ({"parameters": ["ticket.password", "a", "b"]}, "Unknown template parameter"),
        ({"priority": "whenever"}, "is not a ticket priority"),
    ],
)
def test_a_setting_that_cannot_work_is_refused_and_nothing_changes(
    channel, wa_account, kwargs, reason
):
    template(wa_account, "en_US")
    with pytest.raises(TicketRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        channel_helpdesk_defaults_apply(channel=channel, **kwargs)
    channel.refresh_from_db()
    assert (channel.auto_create_tickets, channel.default_ticket_priority) == (False, "low")
    assert channel.utility_template is None


@pytest.mark.django_db(transaction=True)
def test_the_demo_sandbox_channel_gets_a_working_utility_template(settings, live_server):
    """What `make run` needs: the demo's sandbox channel, its templates synced from the sandbox
    over HTTP, then this one call."""
    from integrations.demo import demo_data_load
    from messaging.services import templates_sync

    settings.SANDBOX_ENABLED = True
    settings.GRAPH_API_BASE_URL = f"{live_server.url}/sandbox/graph"
    settings.LANGUAGE_CODE = "en"
    demo_data_load()
    channel = Channel.objects.select_related("account").get(name="Sandbox support line")
    templates_sync(account=channel.account)

    chosen = channel_helpdesk_defaults_apply(channel=channel)

    channel.refresh_from_db()
    assert (chosen.name, chosen.language, chosen.body_param_count) == ("ticket_update", "en_US", 3)
    assert channel.utility_template == chosen and channel.auto_create_tickets
    # A second run (demo data is loaded on every `make run`) changes nothing.
    assert channel_helpdesk_defaults_apply(channel=channel) == chosen
