"""Conversations close a fixed number of hours after they started, and only once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Contact
from messaging.models import Conversation
from messaging.services import conversations_close_expired

pytestmark = pytest.mark.django_db


def open_conversation(channel, phone, opened_at):
    contact = Contact.objects.create(phone=phone, name=phone)
    conversation = Conversation.objects.create(channel=channel, contact=contact)
    Conversation.objects.filter(pk=conversation.pk).update(opened_at=opened_at)
    return conversation


def test_closes_only_conversations_older_than_the_lifetime(wa_channel, settings):
    settings.CONVERSATION_LIFETIME_HOURS = 24
    now = timezone.now()
    old = open_conversation(wa_channel, "+393331112222", now - timedelta(hours=24, minutes=1))
    young = open_conversation(wa_channel, "+393331113333", now - timedelta(hours=23))

    assert conversations_close_expired(now=now) == 1
    old.refresh_from_db()
    young.refresh_from_db()
    assert (old.status, old.closed_at) == ("closed", now)
    assert young.status == "open" and young.closed_at is None

    # A second run finds nothing left to close and leaves the first closing time alone.
    assert conversations_close_expired(now=now + timedelta(minutes=5)) == 0
    old.refresh_from_db()
    assert old.closed_at == now


def test_lifetime_is_a_setting(wa_channel, settings):
    settings.CONVERSATION_LIFETIME_HOURS = 2
    now = timezone.now()
    conversation = open_conversation(wa_channel, "+393331114444", now - timedelta(hours=3))
    assert conversations_close_expired(now=now) == 1
    conversation.refresh_from_db()
    assert conversation.status == "closed"
