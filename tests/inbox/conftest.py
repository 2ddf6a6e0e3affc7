"""A small world for the inbox: two channels (first responder and round robin), one user per
role, and clients in each relation to the sales rep `rep`."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AgentProfile, Role, User
from crm.models import Contact, Pipeline, Stage
from integrations.models import IntegrationAccount
from messaging.models import Channel, Conversation, Message, MessageTemplate

TEMPLATE_BODY = "Hello {{1}}, your order {{2}} is ready."


def make_user(username, role=None, *, channels=(), capacity=5, **extra):
    user = User.objects.create_user(
        username=username, password="pw", is_staff=True, first_name=username.title(), **extra
    )
    if role:
        profile = AgentProfile.objects.create(
            user=user, role=role, max_concurrent_conversations=capacity
        )
        profile.channels.set(channels)
    return user


def inbound(conversation, text="hello", *, at=None):
    at = at or timezone.now()
    message = Message.objects.create(
        channel=conversation.channel,
        conversation=conversation,
        direction=Message.Direction.INBOUND,
        text=text,
        status=Message.Status.RECEIVED,
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=at, last_message_at=at)
    conversation.refresh_from_db()
    return message


@pytest.fixture
def account(db):
    return IntegrationAccount.objects.create(
        description="WABA",
        platform="whatsapp_cloud",
        settings={"app_id": "1", "waba_id": "2"},
        secrets={"app_secret": "s", "verify_token": "v", "access_token": "t"},
    )


@pytest.fixture
def pipeline(db):
    pipeline = Pipeline.objects.create(name="Sales")
    Stage.objects.create(pipeline=pipeline, name="New", position=0)
    Stage.objects.create(pipeline=pipeline, name="Qualified", position=1)
    return pipeline


@pytest.fixture
def channel(account, pipeline):
    return Channel.objects.create(
        name="First line",
        account=account,
        provider="whatsapp_cloud",
        external_id="5001",
        routing_mode="first_responder",
        new_client_pipeline=pipeline,
    )


@pytest.fixture
def rr_channel(account, pipeline):
    return Channel.objects.create(
        name="Round line",
        account=account,
        provider="whatsapp_cloud",
        external_id="5002",
        routing_mode="round_robin",
        new_client_pipeline=pipeline,
    )


@pytest.fixture
def template(account):
    return MessageTemplate.objects.create(
        account=account,
        name="order_ready",
        language="en",
        category="UTILITY",
        status="APPROVED",
        components=[{"type": "BODY", "text": TEMPLATE_BODY}],
        body_param_count=2,
    )


@pytest.fixture
def people(channel):
    return {
        "manager": make_user("manager", Role.MANAGER),
        "rep": make_user("rep", Role.SALES_REP, channels=[channel]),
        "other": make_user("other", Role.SALES_REP, channels=[channel]),
        "quality": make_user("quality", Role.QUALITY_CONTROL),
    }


@pytest.fixture
def clients(people, channel):
    """Three clients with an open conversation and an open 24-hour window: the rep's own, the
    other rep's, and a new unclaimed one on the first-responder channel."""
    result = {}
    for key, phone, responsible in (
        ("own", "+393330000001", people["rep"]),
        ("others", "+393330000002", people["other"]),
        ("unclaimed", "+393330000003", None),
    ):
        contact = Contact.objects.create(phone=phone, name=key.title(), responsible=responsible)
        conversation = Conversation.objects.create(
            channel=channel, contact=contact, assignee=responsible
        )
        inbound(conversation, f"hi from {key}", at=timezone.now() - timedelta(minutes=5))
        result[key] = conversation
    return result
