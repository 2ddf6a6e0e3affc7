"""The campaign page and its CSV read the recipients in a fixed number of queries, however many
there are; the progress endpoint answers the totals in one."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Contact
from integrations.services import campaigns as services
from integrations.services.campaigns import campaign_create, campaign_run, campaign_start

from .conftest import opted_in

pytestmark = pytest.mark.django_db


def _campaign(template, channel, size: int, monkeypatch, *, first: int = 0):
    """A finished campaign to every contact so far, after adding `size` new ones."""
    monkeypatch.setattr(services, "campaign_run_enqueue", lambda **kwargs: None)
    for n in range(first, first + size):
        opted_in(Contact.objects.create(phone=f"+3934700000{n:02d}", name=f"C{n} X"))
    campaign = campaign_start(
        campaign=campaign_create(
            name="Q",
            template=template,
            parameters=["contact.first_name", "x"],
            channel=channel,
        )
    )
    campaign_run(campaign_id=campaign.pk, concurrency=1)
    return campaign


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200
    return len(ctx.captured_queries), body


@pytest.mark.parametrize("page", ["change", "csv"])
def test_the_page_and_csv_do_not_grow_with_the_recipients(
    admin_client, wa_channel, marketing_template, graph_sends, monkeypatch, page
):
    small = _campaign(marketing_template, wa_channel, 2, monkeypatch)
    big = _campaign(marketing_template, wa_channel, 12, monkeypatch, first=2)

    def url(campaign):
        if page == "change":
            return f"/admin/integrations/campaign/{campaign.pk}/change/"
        return f"/admin/integrations/campaign/{campaign.pk}/recipients.csv"

    _queries(admin_client, url(small))  # warms the per-process caches (content types)
    few, few_body = _queries(admin_client, url(small))
    many, many_body = _queries(admin_client, url(big))
    assert few == many
    if page == "csv":
        assert len(many_body.decode().splitlines()) == 1 + 14
    else:
        assert many_body.decode().count("<tr><td>") == 14
        assert few_body.decode().count("<tr><td>") == 2


def test_progress_answers_the_totals(
    admin_client, wa_channel, marketing_template, graph_sends, monkeypatch
):
    campaign = _campaign(marketing_template, wa_channel, 3, monkeypatch)
    response = admin_client.get(f"/admin/integrations/campaign/{campaign.pk}/progress/")
    data = response.json()
    assert data["status"] == "finished"
    assert data["percent"] == 100
    assert data["totals"]["sent"] == 3
