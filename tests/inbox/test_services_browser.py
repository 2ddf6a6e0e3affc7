"""Services and capacity in a real browser (Debian's chromium driven by Playwright) against a
live server with the sandbox: a manager creates a service with a channel and two agents, sets
one agent's WhatsApp maximum, and a customer typing on the sandbox is routed to the agent with
room; raising the maximum on the agent's page hands them the client waiting in the queue."""

import pytest
from django.utils import timezone

from accounts.models import AgentProfile, Role
from crm.models import Contact
from messaging.models import AgentCapacity, Channel, Conversation, Service
from messaging.sandbox import emulator
from tests.admin_browser import admin_messages, admin_page, cell, row_of, screenshot, settled
from tests.inbox.conftest import make_user
from tests.messaging.test_end_to_end import customer_types

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def care_line(account):
    emulator.reset()
    yield Channel.objects.create(
        name="Care line",
        account=account,
        provider="whatsapp_cloud",
        external_id="5101",
        display_number="+15550123001",
        routing_mode="round_robin",
    )
    emulator.reset()


@pytest.fixture
def agents(account):
    """Ana and Ben; Ana already holds a WhatsApp conversation on a line of no service."""
    ana = make_user("ana", Role.SALES_REP, last_name="Alba")
    ben = make_user("ben", Role.SALES_REP, last_name="Berti")
    elsewhere = Channel.objects.create(
        name="Old line", account=account, provider="whatsapp_cloud", external_id="5102"
    )
    Conversation.objects.create(
        channel=elsewhere,
        contact=Contact.objects.create(phone="+393330009999", name="Earlier client"),
        assignee=ana,
        assigned_at=timezone.now(),
    )
    return ana, ben


def choose(page, field: str, labels: list[str]) -> None:
    """Move options to the chosen box of a filter_horizontal widget, as a person does."""
    for label in labels:
        page.locator(f"#id_{field}_from option", has_text=label).click()
        page.click(f"#id_{field}_add")


def create_service(page, base, *, channels, agents):
    page.goto(f"{base}/admin/messaging/service/add/")
    page.fill("#id_name", "Customer care")
    page.fill("#id_description", "Questions about orders and deliveries")
    choose(page, "channels", channels)
    choose(page, "agents", agents)
    page.click("input[name=_save]")
    page.wait_for_selector("ul.messagelist")


def set_whatsapp_maximum(page, base, user, maximum: int) -> None:
    profile = AgentProfile.objects.get(user=user)
    page.goto(f"{base}/admin/accounts/agentprofile/{profile.pk}/change/")
    page.select_option("#id_capacities-0-transport", label="WhatsApp Business API")
    page.fill("#id_capacities-0-max_interactions", str(maximum))
    page.click("input[name=_save]")
    page.wait_for_selector("ul.messagelist")


def test_a_service_routes_to_the_agent_with_room_for_whatsapp(sandbox, page_for, care_line, agents):
    ana, ben = agents
    _, page = admin_page(page_for)

    create_service(page, sandbox, channels=["Care line"], agents=["ana", "ben"])

    assert "was added successfully" in admin_messages(page)[0]
    assert cell(page, "Customer care", "channel_list") == "Care line"
    assert cell(page, "Customer care", "agent_list") == "Ana Alba, Ben Berti"
    service = Service.objects.get(name="Customer care")
    assert set(service.agents.values_list("user__username", flat=True)) == {"ana", "ben"}
    # The channel page shows the line's service.
    page.goto(f"{sandbox}/admin/messaging/channel/")
    assert cell(page, "Care line", "service") == "Customer care"
    page.locator("#changelist-filter a", has_text="Customer care").click()
    page.wait_for_url("**service__id__exact=*")
    assert row_of(page, "Care line").count() == 1
    assert row_of(page, "Old line").count() == 0

    # Ana may hold one WhatsApp conversation and already has one: Ben gets the next client,
    # although Ana is first in turn.
    set_whatsapp_maximum(page, sandbox, ana, 1)
    assert "was changed successfully" in admin_messages(page)[0]
    assert AgentCapacity.objects.get(profile__user=ana).max_interactions == 1
    page.goto(f"{sandbox}/admin/accounts/agentprofile/")
    assert cell(page, "ana", "per_type") == "WhatsApp Business API: 1"
    assert cell(page, "ana", "service_list") == "Customer care"
    page.locator("#changelist-filter a", has_text="Customer care").click()
    page.wait_for_url("**services__id__exact=*")
    assert sorted(page.locator("#result_list tbody th").all_inner_texts()) == ["ana", "ben"]

    customer_types(sandbox, care_line, "Where is my order?")
    routed = settled(lambda: Conversation.objects.filter(channel=care_line, assignee=ben).first())
    assert routed is not None

    page.goto(f"{sandbox}/admin/messaging/conversation/?channel__id__exact={care_line.pk}")
    assert row_of(page, "Care line").count() == 1
    assert cell(page, "Care line", "assignee") == "ben"
    page.goto(f"{sandbox}/admin/messaging/service/{service.pk}/change/")
    now = page.locator("table.agents-now tbody tr")
    assert now.filter(has_text="Ana Alba").inner_text().endswith("WhatsApp Business API 1 / 1")
    assert now.filter(has_text="Ben Berti").inner_text().endswith("WhatsApp Business API 1 / 5")
    screenshot(page, "admin-service-agents-now")

    # Ben sees the client in his inbox.
    ben_page = page_for(ben)
    ben_page.locator(f'li.row[data-id="{routed.pk}"]').wait_for()


def test_raising_a_maximum_on_the_agents_page_hands_them_the_waiting_client(
    sandbox, page_for, care_line, agents
):
    ana, _ben = agents
    _, page = admin_page(page_for)
    create_service(page, sandbox, channels=["Care line"], agents=["ana"])
    set_whatsapp_maximum(page, sandbox, ana, 1)

    customer_types(sandbox, care_line, "Anyone there?")
    waiting = settled(
        lambda: Conversation.objects.filter(channel=care_line, queued_at__isnull=False).first()
    )
    assert waiting is not None and waiting.assignee is None

    profile = AgentProfile.objects.get(user=ana)
    page.goto(f"{sandbox}/admin/accounts/agentprofile/{profile.pk}/change/")
    page.fill("#id_capacities-0-max_interactions", "2")
    screenshot(page, "admin-agent-maximum-per-type")
    page.click("input[name=_save]")
    page.wait_for_selector("ul.messagelist")

    assert settled(lambda: Conversation.objects.get(pk=waiting.pk).assignee_id == ana.pk)
    page.goto(f"{sandbox}/admin/messaging/conversation/?channel__id__exact={care_line.pk}")
    assert cell(page, "Care line", "assignee") == "ana"
    screenshot(page, "admin-service-queue-drained")
