"""Campaigns over the REST API: a manager creates, previews, starts, reads totals and
recipients, pauses and cancels; others are refused."""

import pytest

from accounts.models import Role
from integrations.campaign_models import Campaign
from integrations.services import campaigns as services
from tests.api.conftest import make_user, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(db):
    return token_client(make_user("manager", Role.MANAGER))


def body(template, channel, **extra):
    return {
        "name": "Spring",
        "template": template.pk,
        "parameters": ["contact.first_name", "20% di sconto"],
        "channel": channel.pk,
        **extra,
    }


def test_a_manager_runs_a_campaign_through_the_api(
    manager_client, wa_channel, marketing_template, customers, graph_sends, monkeypatch
):
    monkeypatch.setattr(services, "campaign_run_enqueue", lambda **kwargs: None)
    created = manager_client.post(
        "/api/v1/campaigns/",
        body(marketing_template, wa_channel, segment={"kind": "customer"}),
        format="json",
    )
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert created.json()["status"] == "draft"

    preview = manager_client.get(f"/api/v1/campaigns/{pk}/preview/").json()
    assert preview["audience"] == 3
    assert preview["samples"][0]["text"] == "Ciao Anna, 20% di sconto per te."

    started = manager_client.post(f"/api/v1/campaigns/{pk}/start/").json()
    assert started["status"] == "running"
    assert started["totals"]["waiting"] == 3
    services.campaign_run(campaign_id=pk, concurrency=1)

    detail = manager_client.get(f"/api/v1/campaigns/{pk}/").json()
    assert detail["status"] == "finished"
    assert detail["percent"] == 100
    assert detail["totals"]["sent"] == 3
    rows = manager_client.get(f"/api/v1/campaigns/{pk}/recipients/").json()["results"]
    assert [r["status"] for r in rows] == ["sent", "sent", "sent"]
    assert len(graph_sends.templates_to()) == 3

    again = manager_client.post(f"/api/v1/campaigns/{pk}/pause/")
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "campaign_invalid"


def test_it_pauses_and_cancels(
    manager_client, wa_channel, marketing_template, customers, monkeypatch
):
    monkeypatch.setattr(services, "campaign_run_enqueue", lambda **kwargs: None)
    pk = manager_client.post(
        "/api/v1/campaigns/", body(marketing_template, wa_channel), format="json"
    ).json()["id"]
    manager_client.post(f"/api/v1/campaigns/{pk}/start/")
    assert manager_client.post(f"/api/v1/campaigns/{pk}/pause/").json()["status"] == "paused"
    cancelled = manager_client.post(f"/api/v1/campaigns/{pk}/cancel/").json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["totals"]["skipped"] == 3


def test_it_says_what_is_wrong(manager_client, wa_channel, marketing_template):
    response = manager_client.post(
        "/api/v1/campaigns/",
        body(marketing_template, wa_channel, parameters=["only one"]),
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {
        "parameters": ["Template 'spring_sale' takes 2 body parameter(s); 1 given."]
    }
    assert not Campaign.objects.exists()


def test_a_sales_rep_may_not_run_campaigns(wa_channel, marketing_template):
    rep = token_client(make_user("rep", Role.SALES_REP))
    response = rep.post("/api/v1/campaigns/", body(marketing_template, wa_channel), format="json")
    assert response.status_code == 403
