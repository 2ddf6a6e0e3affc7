"""Campaign services on either database: checks, preview, start, the worker's sends through the
one outbound path, pause/resume/cancel, totals, replies and the consent policy."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Company, ConsentState, Contact
from integrations.campaign_models import Campaign, CampaignRecipient
from integrations.campaign_selectors import (
    campaign_preview,
    campaign_recipients,
    campaign_totals,
    recipient_status,
)
from integrations.services import campaigns as services
from integrations.services.campaigns import (
    CampaignInvalid,
    campaign_cancel,
    campaign_create,
    campaign_pause,
    campaign_resume,
    campaign_run,
    campaign_start,
    campaigns_start_due,
)
from messaging.models import Conversation, Message, MessageTemplate
from tests.messaging.conftest import inbound_body

pytestmark = pytest.mark.django_db


def make(template, channel, **extra):
    return campaign_create(
        name="Spring",
        template=template,
        parameters=extra.pop("parameters", ["contact.first_name", "20% di sconto"]),
        channel=channel,
        **extra,
    )


def run(campaign):
    # Inline: one send at a time in the test's own transaction.
    return campaign_run(campaign_id=campaign.pk, concurrency=1, batch_size=2)


def test_it_refuses_a_template_that_is_not_marketing(wa_account, wa_channel, marketing_template):
    utility = MessageTemplate.objects.create(
        account=wa_account, name="order", language="it", category="UTILITY", status="APPROVED"
    )
    with pytest.raises(CampaignInvalid, match="marketing"):
        make(utility, wa_channel, parameters=[])


def test_it_refuses_wrong_parameter_counts_and_unknown_paths(wa_channel, marketing_template):
    with pytest.raises(CampaignInvalid, match="takes 2 body parameter"):
        make(marketing_template, wa_channel, parameters=["x"])
    with pytest.raises(CampaignInvalid, match="not a contact field"):
        make(marketing_template, wa_channel, parameters=["contact.shoe_size", "x"])


def test_it_previews_the_audience_count_and_three_rendered_samples(
    wa_channel, marketing_template, customers
):
    Contact.objects.create(phone="+393351032299", name="Dario", kind="lead")
    campaign = make(marketing_template, wa_channel, segment={"kind": "customer"})
    count, samples = campaign_preview(campaign=campaign)
    assert count == 3
    assert [s.text for s in samples] == [
        "Ciao Anna, 20% di sconto per te.",
        "Ciao Bruno, 20% di sconto per te.",
        "Ciao Carla, 20% di sconto per te.",
    ]


def test_it_selects_by_company_responsible_consent_and_last_interaction(
    wa_channel, marketing_template, customers, django_user_model
):
    anna, bruno, carla = customers
    acme = Company.objects.create(name="Acme")
    rep = django_user_model.objects.create(username="rep")
    Contact.objects.filter(pk=anna.pk).update(company=acme)
    Contact.objects.filter(pk=bruno.pk).update(responsible=rep)
    Conversation.objects.create(
        channel=wa_channel, contact=carla, last_message_at=timezone.now() - timedelta(days=40)
    )
    Conversation.objects.create(channel=wa_channel, contact=anna, last_message_at=timezone.now())
    unknown = Contact.objects.create(phone="+393351032250", name="Ugo")

    def audience(**segment):
        campaign = make(marketing_template, wa_channel, segment=segment)
        chosen = services.campaign_audience(channel=wa_channel, segment=campaign.segment)
        return sorted(c.name for c in chosen)

    assert audience(company=acme.pk) == ["Anna Rossi"]
    assert audience(responsible=rep.pk) == ["Bruno Bianchi"]
    assert audience(consent=ConsentState.UNKNOWN) == [unknown.name]
    assert audience(consent=ConsentState.OPTED_IN) == ["Anna Rossi", "Bruno Bianchi", "Carla Verdi"]
    week_ago = (timezone.localdate() - timedelta(days=7)).isoformat()
    assert audience(last_interaction_after=week_ago) == ["Anna Rossi"]
    assert audience(last_interaction_before=week_ago) == ["Carla Verdi"]
    with pytest.raises(CampaignInvalid, match="Unknown segment"):
        make(marketing_template, wa_channel, segment={"shoe": "42"})


def test_it_sends_each_recipient_once_through_the_outbound_path(
    wa_channel, marketing_template, customers, graph_sends
):
    campaign = campaign_start(campaign=make(marketing_template, wa_channel))
    assert campaign.status == Campaign.Status.RUNNING
    assert campaign.audience_count == 3
    report = run(campaign)
    assert report.finished
    assert graph_sends.templates_to() == {
        "393351032241": 1,
        "393351032242": 1,
        "393351032243": 1,
    }
    sent = graph_sends.calls[0]["template"]
    assert sent["name"] == "spring_sale"
    assert sent["components"][0]["parameters"][0]["text"] == "Anna"
    messages = Message.objects.filter(template=marketing_template)
    assert messages.count() == 3
    assert set(messages.values_list("status", flat=True)) == {"sent"}
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED
    totals = campaign_totals(campaign=campaign)
    assert totals["total"] == totals["sent"] == totals["done"] == 3
    # Running it again changes nothing: every recipient is settled.
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    run(campaign)
    assert len(graph_sends.calls) == 3


def test_it_skips_contacts_the_policy_refuses_with_the_reason(
    wa_channel, marketing_template, customers, graph_sends
):
    no_consent = Contact.objects.create(phone="+393351032250", name="Ugo Neri")
    campaign = campaign_start(campaign=make(marketing_template, wa_channel))
    run(campaign)
    row = CampaignRecipient.objects.get(campaign=campaign, contact=no_consent)
    assert row.state == "skipped"
    assert row.skip_code == "no_consent"
    assert recipient_status(row) == ("skipped", row.skip_reason)
    assert "393351032250" not in graph_sends.templates_to()
    assert campaign_totals(campaign=campaign)["skipped"] == 1


def test_a_keyword_opt_out_stops_the_next_marketing_send_before_any_provider_call(
    wa_channel, marketing_template, customers, graph_sends, post_webhook
):
    campaign = campaign_start(campaign=make(marketing_template, wa_channel))
    # Bruno writes STOP after the campaign started: he is in its audience already.
    body = inbound_body(
        {"id": "wamid.STOP1", "timestamp": "1752489400", "type": "text", "text": {"body": "STOP"}},
        wa_id="393351032242",
        name="Bruno",
    )
    assert post_webhook(body).status_code == 200
    run(campaign)
    assert graph_sends.templates_to() == {"393351032241": 1, "393351032243": 1}
    bruno = CampaignRecipient.objects.get(campaign=campaign, contact=customers[1])
    assert (bruno.state, bruno.skip_code, bruno.message_id) == ("skipped", "opted_out", None)


def test_an_opt_out_between_queueing_and_delivery_stops_the_call(
    wa_channel, marketing_template, customers, graph_sends, post_webhook, monkeypatch
):
    """Carla's message is already queued when her STOP arrives: `message_deliver` asks the
    policy again right before the call, and nothing goes to the provider."""
    campaign = campaign_start(campaign=make(marketing_template, wa_channel))
    paced = []

    def pace(job):
        paced.append(job)
        if len(paced) == 3:
            body = inbound_body(
                {
                    "id": "wamid.STOP2",
                    "timestamp": "1752489400",
                    "type": "text",
                    "text": {"body": "stop"},
                },
                wa_id="393351032243",
                name="Carla",
            )
            assert post_webhook(body).status_code == 200

    monkeypatch.setattr(services, "_pace", pace)
    run(campaign)
    assert graph_sends.templates_to() == {"393351032241": 1, "393351032242": 1}
    carla = CampaignRecipient.objects.select_related("message").get(
        campaign=campaign, contact=customers[2]
    )
    assert carla.message.status == "failed"
    assert "opted out" in carla.message.error_title
    assert recipient_status(carla)[0] == "failed"


def test_it_pauses_resumes_and_cancels(wa_channel, marketing_template, customers, graph_sends):
    campaign = campaign_start(campaign=make(marketing_template, wa_channel))
    campaign_pause(campaign=campaign)
    report = run(campaign)
    assert report.stopped == "paused"
    assert graph_sends.calls == []
    campaign_resume(campaign=campaign)
    # One recipient, then cancel: the others are skipped as cancelled, never sent.
    original = services._deliver
    calls = []

    def deliver_then_cancel(job, **kwargs):
        original(job, **kwargs)
        calls.append(kwargs)
        if len(calls) == 1:
            campaign_cancel(campaign=campaign)

    services._deliver = deliver_then_cancel
    try:
        run(campaign)
    finally:
        services._deliver = original
    assert len(graph_sends.templates_to()) == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED
    skipped = CampaignRecipient.objects.filter(campaign=campaign, skip_code="cancelled")
    assert skipped.count() == 2
    with pytest.raises(CampaignInvalid):
        campaign_resume(campaign=campaign)


def test_a_scheduled_campaign_starts_when_its_time_comes(
    wa_channel, marketing_template, customers, monkeypatch
):
    woken = []
    monkeypatch.setattr(services, "campaign_run_enqueue", lambda **kw: woken.append(kw))
    later = timezone.now() + timedelta(hours=2)
    campaign = campaign_start(campaign=make(marketing_template, wa_channel, scheduled_at=later))
    assert campaign.status == Campaign.Status.SCHEDULED
    assert campaigns_start_due() == 0
    assert campaigns_start_due(now=later + timedelta(seconds=1)) == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    assert campaign.audience_count == 3
    # A minute later nobody holds its recipients (no worker got the task): it is woken.
    assert campaigns_start_due(now=later + timedelta(minutes=1)) == 0
    assert woken == [{"campaign_id": campaign.pk}]


def test_a_scheduled_campaign_paused_before_its_time_resumes_as_scheduled(
    wa_channel, marketing_template, customers
):
    later = timezone.now() + timedelta(hours=2)
    campaign = campaign_start(campaign=make(marketing_template, wa_channel, scheduled_at=later))
    assert campaign_pause(campaign=campaign).status == Campaign.Status.PAUSED
    assert campaigns_start_due(now=later + timedelta(seconds=1)) == 0
    campaign = campaign_resume(campaign=campaign)
    assert campaign.status == Campaign.Status.SCHEDULED
    assert not CampaignRecipient.objects.filter(campaign=campaign).exists()


def test_replies_are_counted_on_the_campaign(
    wa_channel, marketing_template, customers, graph_sends, post_webhook
):
    campaign = campaign_start(campaign=make(marketing_template, wa_channel))
    run(campaign)
    body = inbound_body(
        {
            "id": "wamid.REPLY1",
            "timestamp": "1752489400",
            "type": "text",
            "text": {"body": "Quanto costa?"},
        },
        wa_id="393351032241",
        name="Anna",
    )
    assert post_webhook(body).status_code == 200
    totals = campaign_totals(campaign=campaign)
    assert totals["replied"] == 1
    anna = campaign_recipients(campaign=campaign).get(contact=customers[0])
    assert anna.replied
    # The reply went into Anna's conversation, routed as usual.
    reply = Message.objects.get(provider_message_id="wamid.REPLY1")
    assert reply.conversation_id == anna.message.conversation_id


def test_a_worker_that_died_before_its_call_is_taken_over(
    wa_channel, marketing_template, customers, graph_sends, settings
):
    """A claim whose lease ran out goes to the next worker; a message left queued is delivered
    by it, and one left `sending` is put back only after the grace for a status webhook."""
    settings.CAMPAIGN_STATUS_GRACE_SECONDS = 0
    campaign = campaign_start(campaign=make(marketing_template, wa_channel))
    rows = list(CampaignRecipient.objects.filter(campaign=campaign))
    past = timezone.now() - timedelta(seconds=5)
    # Anna: claimed by a dead worker. Bruno: queued message, dead worker. Carla: the call was
    # made (provider accepted it) and its status webhook settled it.
    CampaignRecipient.objects.filter(pk=rows[0].pk).update(
        state="claimed", claim_token="dead", claimed_until=past
    )
    for row, status, provider_id in ((rows[1], "sending", None), (rows[2], "sent", "wamid.X")):
        message = services.message_send(
            channel=wa_channel,
            contact=row.contact,
            content=services.TemplateContent(template=marketing_template, body_params=("x", "y")),
            deliver=False,
        )
        Message.objects.filter(pk=message.pk).update(status=status, provider_message_id=provider_id)
        CampaignRecipient.objects.filter(pk=row.pk).update(
            state="queued", message=message, claim_token="dead", claimed_until=past
        )
    report = run(campaign)
    assert report.finished
    assert report.requeued == 1
    assert graph_sends.templates_to() == {"393351032241": 1, "393351032242": 1}
    assert set(
        CampaignRecipient.objects.filter(campaign=campaign).values_list("state", flat=True)
    ) == {"settled"}
