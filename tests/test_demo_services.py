"""The demo's services: the sandbox lines belong to "Customer care" and "Sales", answered by the
two sales reps, with a WhatsApp maximum for Luca; loading the demo twice changes nothing."""

import pytest
from django.core.management import call_command

from messaging.agent_selectors import agent_profile_list_for_channel
from messaging.models import AgentCapacity, Channel, Service

pytestmark = pytest.mark.django_db


def test_the_demo_lines_belong_to_services_with_the_reps(capsys):
    call_command("demo_data")
    call_command("demo_data")

    services = {s.name: s for s in Service.objects.prefetch_related("channels", "agents__user")}
    assert set(services) == {"Customer care", "Sales"}
    assert sorted(c.name for c in services["Customer care"].channels.all()) == [
        "Sandbox Twilio line",
        "Sandbox support line",
    ]
    assert [c.name for c in services["Sales"].channels.all()] == ["Sandbox sales line"]
    for service in services.values():
        assert {a.user.username for a in service.agents.all()} == {"rep1", "rep2"}
    capacity = AgentCapacity.objects.get()
    assert (capacity.profile.user.username, capacity.transport, capacity.max_interactions) == (
        "rep1",
        "waba",
        3,
    )
    sales_line = Channel.objects.get(name="Sandbox sales line")
    assert {p.user.username for p in agent_profile_list_for_channel(channel=sales_line)} == {
        "rep1",
        "rep2",
    }
