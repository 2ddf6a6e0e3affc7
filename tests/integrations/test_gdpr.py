"""GDPR: the export holds every object of a seeded contact; after an erasure nothing personal of
theirs is left in any table or on disk, while counts stay; retention empties old texts and media."""

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import responses
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.db import models
from django.utils import timezone

from accounts.models import AgentProfile, Role
from crm.models import ConsentRecord, Contact, ContactErasure, Deal, Pipeline, Stage
from crm.services_consent import consent_record
from integrations.jobs import JOB_DEFAULTS
from integrations.models import BusinessEvent, ExternalLink, IntegrationAccount
from integrations.services.gdpr import (
    ERASED,
    EXPIRED,
    contact_erase,
    contact_export,
    retention_purge,
)
from messaging.models import Conversation, Message, WebhookEvent
from messaging.services import message_send_text
from tests.messaging.conftest import inbound_body, sign, wa_account, wa_channel

__all__ = ["wa_account", "wa_channel"]
from tickets.models import Ticket, TicketComment
from tickets.services import ticket_comment_add

pytestmark = pytest.mark.django_db

NAME = "Giulietta Capuleti"
PHONE = "+393351032246"
SECRET_TEXT = "my balcony code is 77-VERONA-31"
AC_URL = "https://shop.api-us1.com"


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def manager(django_user_model):
    user = django_user_model.objects.create_user(username="boss", password="x")
    AgentProfile.objects.create(user=user, role=Role.MANAGER)
    return user


@pytest.fixture
def seeded(client, wa_account, wa_channel, manager, media_root, django_capture_on_commit_callbacks):
    """A person who wrote through the real webhook, got a reply, has a ticket with a comment, a
    deal, consent, a photo on disk, a business event and a link to a connected CRM."""
    wa_channel.auto_create_tickets = True
    wa_channel.save()
    body = json.dumps(
        inbound_body(
            {
                "id": "wamid.SEED1",
                "timestamp": str(int(timezone.now().timestamp())),
                "type": "text",
                "text": {"body": SECRET_TEXT},
            },
            wa_id=PHONE.lstrip("+"),
            name=NAME,
        )
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/webhooks/whatsapp/{wa_account.key}/",
            data=body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=sign(body),
        )
    contact = Contact.objects.get(phone=PHONE)
    contact.name, contact.email = NAME, "giulietta@example.com"
    contact.save()
    reply = message_send_text(
        channel=wa_channel, contact=contact, text=f"Ciao {NAME}, noted", actor=manager
    )
    photo = Message.objects.get(provider_message_id="wamid.SEED1")
    photo.media_file.save("balcony.jpg", ContentFile(b"\xff\xd8 a photo of " + NAME.encode()))
    ticket = Ticket.objects.get(contact=contact)
    ticket_comment_add(ticket=ticket, author=manager, text="Internal: call her", internal=True)
    # Edited in the admin: its history names the ticket by its title, which holds the phone.
    LogEntry.objects.log_actions(
        user_id=manager.pk, queryset=[ticket], action_flag=CHANGE, change_message="Priority"
    )
    pipeline = Pipeline.objects.create(name="Sales")
    stage = Stage.objects.create(pipeline=pipeline, name="New")
    deal = Deal.objects.create(name=f"{NAME} - balcony", pipeline=pipeline, stage=stage)
    deal.contacts.add(contact)
    consent_record(
        contact=contact,
        address=contact.addresses.get(transport="whatsapp"),
        purpose="marketing",
        state="opted_in",
        source="widget",
        text_shown="Yes, send me offers",
    )
    shop = IntegrationAccount.objects.create(description="Shop", platform="ecommerce")
    BusinessEvent.objects.create(
        account=shop,
        type="order_status_changed",
        payload={"data": {"customer": {"name": NAME, "phone": PHONE}}},
        recipient_phone=PHONE,
        state="sent",
        reason=f"Sent to {NAME}",
        message=reply,
    )
    crm = IntegrationAccount.objects.create(
        description="AC",
        platform="activecampaign",
        settings={"api_url": AC_URL},
        secrets={"api_token": "tok"},
    )
    ExternalLink.objects.create(
        account=crm, object_type="contact", local_id=contact.pk, external_id="42"
    )
    return contact


def test_the_export_holds_every_object_of_the_contact_and_the_media_files(seeded):
    archive = zipfile.ZipFile(io.BytesIO(contact_export(contact=seeded)))
    names = set(archive.namelist())

    def pks(name):
        return {row["pk"] for row in json.loads(archive.read(name))}

    assert pks("contact.json") == {seeded.pk}
    assert pks("addresses.json") == set(seeded.addresses.values_list("pk", flat=True))
    assert pks("consent.json") == set(
        ConsentRecord.objects.filter(contact=seeded).values_list("pk", flat=True)
    )
    assert pks("conversations.json") == set(
        Conversation.objects.filter(contact=seeded).values_list("pk", flat=True)
    )
    messages = Message.objects.filter(conversation__contact=seeded)
    assert pks("messages.json") == set(messages.values_list("pk", flat=True))
    assert len(pks("messages.json")) == 2
    tickets = Ticket.objects.filter(contact=seeded)
    assert pks("tickets.json") == set(tickets.values_list("pk", flat=True)) != set()
    assert pks("ticket_comments.json") == set(
        TicketComment.objects.filter(ticket__in=tickets).values_list("pk", flat=True)
    )
    assert pks("deals.json") == set(seeded.deals.values_list("pk", flat=True)) != set()
    assert pks("business_events.json") == set(BusinessEvent.objects.values_list("pk", flat=True))
    photo = messages.exclude(media_file="").get()
    media = [n for n in names if n.startswith("media/")]
    assert media == [f"media/{photo.pk}-{Path(photo.media_file.name).name}"]
    assert archive.read(media[0]) == photo.media_file.open("rb").read()
    assert SECRET_TEXT in archive.read("messages.json").decode()


def _personal_values_left(needles: list[str]) -> list[str]:
    """Every text, JSON and binary column of every table, searched for the needles."""
    found = []
    kinds = (models.CharField, models.TextField, models.JSONField, models.BinaryField)
    for model in apps.get_models():
        fields = [f.attname for f in model._meta.concrete_fields if isinstance(f, kinds)]
        if not fields:
            continue
        for row in model.objects.values_list(*fields):
            for value in row:
                if value is None:
                    continue
                text = (
                    bytes(value).decode("utf-8", "replace")
                    if isinstance(value, bytes | memoryview)
                    else json.dumps(value, ensure_ascii=False)
                    if not isinstance(value, str)
                    else value
                )
                found += [f"{model.__name__}: {n}" for n in needles if n in text]
    return found


def test_after_an_erasure_nothing_personal_remains_and_counts_stay(seeded, manager, media_root):
    needles = [NAME, PHONE, PHONE.lstrip("+"), SECRET_TEXT, "giulietta@example.com"]
    assert _personal_values_left(needles)  # the search finds them before
    photo_path = Path(Message.objects.exclude(media_file="").get().media_file.path)
    assert photo_path.exists()
    before = {
        "messages": Message.objects.count(),
        "inbound": Message.objects.filter(direction="in").count(),
        "conversations": Conversation.objects.count(),
        "tickets": Ticket.objects.count(),
        "comments": TicketComment.objects.count(),
        "deals": Deal.objects.count(),
        "contacts": Contact.objects.count(),
        "events": BusinessEvent.objects.count(),
    }
    with responses.RequestsMock() as ac:
        ac.delete(f"{AC_URL}/api/3/contacts/42", json={})
        erasure = contact_erase(contact=seeded, actor=manager)
        assert len(ac.calls) == 1

    assert _personal_values_left(needles) == []
    assert not photo_path.exists()
    assert [p for p in media_root.rglob("*") if p.is_file()] == []
    after = {
        "messages": Message.objects.count(),
        "inbound": Message.objects.filter(direction="in").count(),
        "conversations": Conversation.objects.count(),
        "tickets": Ticket.objects.count(),
        "comments": TicketComment.objects.count(),
        "deals": Deal.objects.count(),
        "contacts": Contact.objects.count(),
        "events": BusinessEvent.objects.count(),
    }
    assert after == before
    assert set(Message.objects.exclude(text="").values_list("text", flat=True)) == {ERASED}
    assert not seeded.addresses.exists()
    assert not ConsentRecord.objects.filter(contact=seeded).exists()
    assert seeded.erased_at is not None
    assert erasure.erased_by == manager
    assert erasure.counts["messages"] == 2
    assert erasure.crm_results == {"AC (activecampaign)": "deleted"}
    assert ContactErasure.objects.get().contact_id == seeded.pk


def test_a_crm_without_a_delete_call_is_reported_plainly(seeded, manager):
    clerk = IntegrationAccount.objects.create(
        description="Clerk", platform="clerk", settings={}, secrets={}
    )
    ExternalLink.objects.filter(object_type="contact").update(account=clerk)
    erasure = contact_erase(contact=seeded, actor=manager)
    assert erasure.crm_results["Clerk (clerk)"].startswith("not supported")


@pytest.mark.parametrize("role", [Role.SALES_REP, Role.QUALITY_CONTROL])
def test_only_a_manager_or_administrator_may_erase(seeded, django_user_model, role):
    user = django_user_model.objects.create_user(username=f"u-{role}")
    AgentProfile.objects.create(user=user, role=role)
    with pytest.raises(PermissionDenied):
        contact_erase(contact=seeded, actor=user)
    seeded.refresh_from_db()
    assert seeded.name == NAME


def test_retention_removes_old_texts_and_media_and_keeps_recent_ones(seeded, media_root):
    old = Message.objects.get(provider_message_id="wamid.SEED1")
    long_ago = timezone.now() - timedelta(days=40)
    Message.objects.filter(pk=old.pk).update(created_at=long_ago)
    Ticket.objects.update(created_at=long_ago)
    WebhookEvent.objects.update(received_at=long_ago)
    photo_path = Path(old.media_file.path)
    assert retention_purge(days=0) == {"messages": 0, "media_files": 0, "webhook_events": 0}
    done = retention_purge(days=30)
    assert done == {"messages": 1, "media_files": 1, "webhook_events": 1}
    old.refresh_from_db()
    assert old.text == EXPIRED and not old.media_file
    assert not photo_path.exists()
    assert Ticket.objects.get().description == EXPIRED
    assert bytes(WebhookEvent.objects.get().body) == b"{}"
    assert _personal_values_left([SECRET_TEXT]) == []
    assert Message.objects.exclude(pk=old.pk).get().text.startswith("Ciao")
    assert retention_purge(days=30) == {"messages": 0, "media_files": 0, "webhook_events": 0}


def test_the_retention_job_reads_the_setting(seeded, settings, media_root):
    from integrations.models import SyncJob
    from integrations.schedules import schedules_setup
    from integrations.services import sync_job_run

    Message.objects.update(created_at=timezone.now() - timedelta(days=10))
    schedules_setup()
    job = SyncJob.objects.get(name="retention_purge")
    settings.RETENTION_DAYS = 0
    run = sync_job_run(job_id=job.pk, manual=True)
    assert "everything is kept" in run.log
    assert Message.objects.filter(text=EXPIRED).count() == 0
    settings.RETENTION_DAYS = 7
    run = sync_job_run(job_id=job.pk, manual=True)
    assert run.outcome == "success", run.error
    assert run.counts["messages_purged"] == 2
    assert Message.objects.filter(text=EXPIRED).count() == 2


def test_retention_is_a_nightly_job():
    assert JOB_DEFAULTS["retention_purge"]["schedule_kind"] == "daily"


def test_a_wazzup_mirror_is_asked_to_delete_and_the_erased_contact_is_not_pushed_again(
    seeded, manager
):
    from integrations.services.crm_mirror import account_crm_push

    wazzup = IntegrationAccount.objects.create(
        description="Wazzup",
        platform="wazzup",
        settings={"crm_push": "on"},
        secrets={"api_key": "wz-key", "webhook_token": "t"},
    )
    ExternalLink.objects.filter(object_type="contact").update(
        account=wazzup, external_id=str(seeded.pk)
    )
    api = "https://api.wazzup24.com/v3"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.patch(f"{api}/contacts/bulk_delete", status=200)
        erasure = contact_erase(contact=seeded, actor=manager)
        [call] = mocked.calls
        assert json.loads(call.request.body) == [str(seeded.pk)]
        assert erasure.crm_results == {"Wazzup (wazzup)": "deleted"}
        for route in ("users", "pipelines", "contacts", "deals"):
            mocked.post(f"{api}/{route}", status=200)
            mocked.patch(f"{api}/{route}/bulk_delete", status=200)
        stats, _ = account_crm_push(account=wazzup)
    assert stats["contacts_pushed"] == 0
    assert stats["contacts_skipped_no_chat"] == 1  # the anonymous row has no address left
    assert not ExternalLink.objects.filter(object_type="contact", local_id=seeded.pk).exists()
