"""The service pages follow the role: managers change services, everyone else reads them; the
list costs the same few queries however many services, channels and agents it shows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from messaging.models import Channel, Service
from messaging.services.service_setup import service_create
from tests.inbox.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def care(channel, people):
    return service_create(name="Care", channels=[channel], agents=[people["rep"].agent_profile])


def test_a_manager_creates_a_service_with_its_channels_and_agents(
    client, people, channel, rr_channel, django_capture_on_commit_callbacks
):
    client.force_login(people["manager"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/messaging/service/add/",
            {
                "name": "Care",
                "description": "Orders",
                "is_active": "on",
                "channels": [channel.pk, rr_channel.pk],
                "agents": [people["rep"].agent_profile.pk, people["other"].agent_profile.pk],
            },
        )
    assert response.status_code == 302
    service = Service.objects.get(name="Care")
    assert set(service.channels.all()) == {channel, rr_channel}
    assert set(service.agents.values_list("user__username", flat=True)) == {"rep", "other"}


def test_sales_reps_and_quality_control_only_read_services(client, people, care):
    url = f"/admin/messaging/service/{care.pk}/change/"
    for name in ("rep", "quality"):
        client.force_login(people[name])
        assert client.get("/admin/messaging/service/").status_code == 200
        page = client.get(url)
        assert page.status_code == 200 and not page.context["has_change_permission"]
        client.post(url, {"name": "Renamed", "channels": [], "agents": []})
        assert Service.objects.get(pk=care.pk).name == "Care"
        assert client.get("/admin/messaging/service/add/").status_code == 403


def test_the_service_list_costs_the_same_queries_for_more_rows(client, people, account):
    client.force_login(people["manager"])

    def list_queries():
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/admin/messaging/service/").status_code == 200
        return len(queries)

    service_create(name="S0", agents=[people["rep"].agent_profile])
    one = list_queries()
    for n in range(1, 5):
        line = Channel.objects.create(
            name=f"L{n}", account=account, provider="whatsapp_cloud", external_id=f"66{n}"
        )
        agent = make_user(f"a{n}", Role.SALES_REP)
        service_create(name=f"S{n}", channels=[line], agents=[agent.agent_profile])
    assert list_queries() == one


def test_the_service_page_shows_each_agents_load_per_channel_type(client, people, care):
    client.force_login(people["manager"])
    page = client.get(f"/admin/messaging/service/{care.pk}/change/").content.decode()
    assert "Open / maximum per channel type" in page
    assert "WhatsApp Business API 0 / 5" in page
