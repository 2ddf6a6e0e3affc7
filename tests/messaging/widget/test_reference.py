"""A widget reference in a first message: recognised, recorded on the conversation, removed from
what agents and the ticket read, and used for routing; a forged or expired one is ignored."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AgentProfile, Role, User
from messaging.models import Conversation, Message, RoutingMode, Service, WidgetReference
from messaging.services.widget_reference import (
    page_url_clean,
    reference_start_token,
    reference_text,
    widget_poster_reference,
    widget_reference_issue,
)
from tickets.models import Ticket

from .conftest import PREFILLED, SITE, receive

pytestmark = pytest.mark.django_db
PAGE = f"{SITE}/shoes/red"


def issue(widget, page=PAGE):
    return widget_reference_issue(widget=widget, page_url=page)


def test_it_records_the_widget_service_and_page_and_strips_the_reference(widget, line, care):
    reference = issue(widget)
    text = f"{PREFILLED} {reference_text(code=reference.code)}"

    message = receive(line, text)

    message.refresh_from_db()
    assert message.text == PREFILLED
    assert message.raw == {"text": text}  # the raw message keeps what was sent
    assert message.payload["widget_reference"] == reference.code
    conversation = Conversation.objects.get()
    assert (conversation.widget, conversation.service, conversation.widget_page) == (
        widget,
        care,
        PAGE,
    )
    description = Ticket.objects.get().description
    assert description.endswith(PREFILLED)
    assert reference.code not in description


def test_it_reads_the_telegram_start_parameter_as_the_same_reference(widget, tg_channel, care):
    reference = issue(widget)

    message = receive(
        tg_channel,
        f"/start {reference_start_token(code=reference.code)}",
        sender="5123456789",
        telegram=True,
    )

    message.refresh_from_db()
    assert message.text == "/start"
    conversation = message.conversation
    assert (conversation.widget_id, conversation.service_id) == (widget.pk, care.pk)
    assert conversation.widget_page == PAGE


def test_it_ignores_a_forged_reference(widget, line):
    text = f"{PREFILLED} [WABCDEF]"

    message = receive(line, text)

    message.refresh_from_db()
    assert message.text == text
    assert Conversation.objects.get().widget is None


def test_it_ignores_an_expired_reference(widget, line, settings):
    reference = issue(widget)
    WidgetReference.objects.filter(pk=reference.pk).update(
        created_at=timezone.now() - timedelta(days=settings.WIDGET_REFERENCE_MAX_AGE_DAYS + 1)
    )
    text = f"Hi {reference_text(code=reference.code)}"

    message = receive(line, text)

    message.refresh_from_db()
    assert message.text == text
    assert Conversation.objects.get().widget is None


def test_a_poster_reference_never_expires(widget, line, settings):
    poster = widget_poster_reference(widget=widget)
    assert widget_poster_reference(widget=widget) == poster  # one per widget
    WidgetReference.objects.filter(pk=poster.pk).update(
        created_at=timezone.now() - timedelta(days=400)
    )

    receive(line, f"Hi {reference_text(code=poster.code)}")

    assert Conversation.objects.get().widget_page == "poster"


def test_it_ignores_a_reference_sent_to_a_line_the_widget_does_not_offer(widget, wa_account):
    from messaging.models import Channel

    other = Channel.objects.create(
        name="Other", account=wa_account, provider="whatsapp_cloud", external_id="999"
    )
    reference = issue(widget)
    text = f"Hi {reference_text(code=reference.code)}"

    message = receive(other, text)

    message.refresh_from_db()
    assert message.text == text
    assert message.conversation.widget is None


def test_it_ignores_a_reference_of_a_widget_switched_off(widget, line):
    reference = issue(widget)
    widget.is_active = False
    widget.save()

    receive(line, f"Hi {reference_text(code=reference.code)}")

    assert Conversation.objects.get().widget is None


def test_only_the_message_that_opens_the_conversation_records_it(widget, line):
    receive(line, "Hello", n=1)
    reference = issue(widget)

    later = receive(line, f"Again {reference_text(code=reference.code)}", n=2)

    later.refresh_from_db()
    assert later.text == "Again"  # a live reference never reaches the agent
    assert Conversation.objects.get().widget is None


def test_routing_uses_the_widget_service_not_the_line_service(widget, tg_channel, care):
    """The bot is a line of "Sales" too: round robin picks among the widget's service's agents
    for a conversation the widget started, and among the line's for any other."""
    sales = Service.objects.create(name="Sales")
    tg_channel.service = sales
    tg_channel.routing_mode = RoutingMode.ROUND_ROBIN
    tg_channel.save()

    def agent(name, service):
        user = User.objects.create_user(username=name, password="pw")
        profile = AgentProfile.objects.create(user=user, role=Role.SALES_REP)
        service.agents.add(profile)
        return user

    seller, carer = agent("seller", sales), agent("carer", care)
    start = reference_start_token(code=issue(widget).code)
    receive(tg_channel, f"/start {start}", n=1, sender="5000000001", telegram=True)
    receive(tg_channel, "/start", n=2, sender="5000000002", telegram=True)

    assert Conversation.objects.get(widget=widget).assignee == carer
    assert Conversation.objects.get(widget__isnull=True).assignee == seller


def test_the_page_keeps_no_query_string_or_fragment():
    assert page_url_clean("https://shop.example.com/a/b?email=x@y.z#top") == (
        "https://shop.example.com/a/b"
    )
    assert page_url_clean("javascript:alert(1)") == ""
    assert page_url_clean("https://shop.example.com") == "https://shop.example.com/"


def test_the_agents_inbox_shows_the_message_without_the_reference(widget, line, care, client):
    user = User.objects.create_user(username="carer", password="pw", is_staff=True)
    profile = AgentProfile.objects.create(user=user, role=Role.MANAGER)
    care.agents.add(profile)
    reference = issue(widget)
    message = receive(line, f"{PREFILLED} {reference_text(code=reference.code)}")
    client.force_login(user)

    page = client.get(f"/inbox/c/{message.conversation_id}/")

    assert page.status_code == 200
    body = page.content.decode()
    assert PREFILLED in body
    assert reference.code not in body
    assert Message.objects.get().text == PREFILLED


def test_a_widget_client_waiting_on_another_services_line_goes_to_the_widget_agent_freed(
    widget, tg_channel, care, django_capture_on_commit_callbacks
):
    """Nobody of the widget's service was available: the client waits in the line's queue, and
    is assigned as soon as one of the widget's agents becomes available."""
    from accounts.services import agent_profile_update

    sales = Service.objects.create(name="Sales")
    tg_channel.service = sales
    tg_channel.routing_mode = RoutingMode.ROUND_ROBIN
    tg_channel.save()
    carer = User.objects.create_user(username="carer", password="pw")
    profile = AgentProfile.objects.create(user=carer, role=Role.SALES_REP, is_available=False)
    care.agents.add(profile)
    start = reference_start_token(code=issue(widget).code)
    receive(tg_channel, f"/start {start}", sender="5000000001", telegram=True)
    waiting = Conversation.objects.get()
    assert waiting.assignee is None and waiting.queued_at is not None

    with django_capture_on_commit_callbacks(execute=True):
        agent_profile_update(profile=profile, is_available=True)

    waiting.refresh_from_db()
    assert waiting.assignee == carer


def test_the_purge_job_deletes_expired_visitor_references_and_keeps_posters(widget, line, settings):
    from integrations.models import SyncJob
    from integrations.schedules import schedules_setup
    from integrations.services import sync_job_run

    old = issue(widget)
    fresh = issue(widget)
    poster = widget_poster_reference(widget=widget)
    receive(line, f"Hi {reference_text(code=old.code)}")
    long_ago = timezone.now() - timedelta(days=settings.WIDGET_REFERENCE_MAX_AGE_DAYS + 1)
    WidgetReference.objects.filter(pk__in=[old.pk, poster.pk]).update(created_at=long_ago)
    schedules_setup()
    job = SyncJob.objects.get(name="widget_references_purge")
    assert job.every_seconds == 3600

    sync_job_run(job_id=job.pk, manual=True)

    assert set(WidgetReference.objects.values_list("pk", flat=True)) == {fresh.pk, poster.pk}
    assert Conversation.objects.get().widget_page == PAGE  # the conversation keeps its page


def test_a_widget_client_nobody_can_take_does_not_hold_up_the_lines_own_queue(
    widget, tg_channel, care, django_capture_on_commit_callbacks
):
    """Both wait on the Sales bot: the widget's client (older, for Customer care, whose agent is
    away) and a plain one. A Sales agent gaining room takes the plain one at once."""
    from accounts.services import agent_profile_update

    sales = Service.objects.create(name="Sales")
    tg_channel.service = sales
    tg_channel.routing_mode = RoutingMode.ROUND_ROBIN
    tg_channel.save()
    carer = User.objects.create_user(username="carer", password="pw")
    care.agents.add(
        AgentProfile.objects.create(user=carer, role=Role.SALES_REP, is_available=False)
    )
    seller = User.objects.create_user(username="seller", password="pw")
    seller_profile = AgentProfile.objects.create(
        user=seller, role=Role.SALES_REP, max_concurrent_conversations=0
    )
    sales.agents.add(seller_profile)
    start = reference_start_token(code=issue(widget).code)
    receive(tg_channel, f"/start {start}", n=1, sender="5000000001", telegram=True)
    receive(tg_channel, "/start", n=2, sender="5000000002", telegram=True)
    assert Conversation.objects.filter(queued_at__isnull=False).count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        agent_profile_update(profile=seller_profile, max_concurrent_conversations=1)

    assert Conversation.objects.get(widget__isnull=True).assignee == seller
    assert Conversation.objects.get(widget=widget).assignee is None
