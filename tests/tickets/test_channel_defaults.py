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
