"""GDPR for one contact: export everything Switchboard holds about them, and erase it.

It lives in `integrations`, the last app, because a person's data spans every app (contact,
conversations and messages, tickets, deals, business events, webhooks as received) and the
erasure is pushed to the connected CRMs. Erasure keeps the rows, anonymised, so counts and
reports stay right; the `ContactErasure` record says who erased whom and when, and nothing else.
"""

import io
import json
import logging
import zipfile
from datetime import timedelta
from pathlib import PurePosixPath

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Role
from accounts.selectors import user_role
from crm.models import ConsentRecord, Contact, ContactAddress, ContactErasure, Deal
from integrations.connectors import CONNECTORS, UnknownConnector
from integrations.connectors.mirrors import CRM_MIRRORS, UnknownMirror
from integrations.models import BusinessEvent, ExternalLink, LinkedObject, SyncConflict
from messaging.http import RemoteError
from messaging.models import Conversation, IdempotencyKey, Message, WebhookEvent
from tickets.models import Ticket, TicketComment

logger = logging.getLogger(__name__)

ERASED = "[erased]"
EXPIRED = "[removed after the retention period]"


# ---------------------------------------------------------------------------------------------
# What belongs to a contact


def _messages(contact: Contact):
    return Message.objects.filter(conversation__contact=contact)


def _business_events(contact: Contact):
    phones = [contact.phone] if contact.phone else []
    return BusinessEvent.objects.filter(
        Q(message__conversation__contact=contact) | Q(recipient_phone__in=phones)
    ).distinct()


def _needles(contact: Contact) -> list[bytes]:
    """The strings that identify the person inside stored raw bodies."""
    values = {contact.phone or "", (contact.phone or "").lstrip("+"), contact.name, contact.email}
    values |= set(contact.addresses.values_list("address", flat=True))
    values |= {v.lstrip("+") for v in values}
    return [v.encode() for v in values if v and len(v) >= 4]


def _webhook_events(contact: Contact):
    """Stored webhook bodies that name the person (a raw body has no link to the contact). Only
    those received since shortly before the contact was created can hold them."""
    needles = _needles(contact)
    since = contact.created_at - timedelta(days=1)
    found = []
    events = WebhookEvent.objects.filter(received_at__gte=since).only("pk", "body")
    for event in events.iterator(chunk_size=500):
        body = bytes(event.body)
        if any(needle in body for needle in needles):
            found.append(event.pk)
    return WebhookEvent.objects.filter(pk__in=found)


# ---------------------------------------------------------------------------------------------
# Export


def _dump(queryset) -> list[dict]:
    return json.loads(serializers.serialize("json", queryset))


def contact_export(*, contact: Contact) -> bytes:
    """A zip with one JSON file per kind of object and the media files the person sent or got."""
    messages = _messages(contact).order_by("created_at", "pk")
    tickets = Ticket.objects.filter(contact=contact)
    sections = {
        "contact.json": _dump(Contact.objects.filter(pk=contact.pk)),
        "addresses.json": _dump(contact.addresses.all()),
        "consent.json": _dump(ConsentRecord.objects.filter(contact=contact)),
        "conversations.json": _dump(Conversation.objects.filter(contact=contact)),
        "messages.json": _dump(messages),
        "tickets.json": _dump(tickets),
        "ticket_comments.json": _dump(TicketComment.objects.filter(ticket__in=tickets)),
        "deals.json": _dump(Deal.objects.filter(contacts=contact)),
        "business_events.json": _dump(_business_events(contact)),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in sections.items():
            archive.writestr(name, json.dumps(rows, indent=2, ensure_ascii=False, default=str))
        for message in messages.exclude(media_file=""):
            try:
                with message.media_file.open("rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                continue
            name = PurePosixPath(message.media_file.name).name
            archive.writestr(f"media/{message.pk}-{name}", data)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Erase


def contact_erase_allowed(*, user) -> bool:
    """Erasure is a manager's or an administrator's action."""
    return user_role(user=user) == Role.MANAGER


def _crm_deletions_push(contact: Contact) -> dict:
    """Ask each connected CRM that holds the person to delete them. The platform's answer is
    kept per account; a platform without a delete call is said plainly, never skipped silently."""
    results = {}
    links = ExternalLink.objects.filter(
        object_type=LinkedObject.CONTACT, local_id=contact.pk
    ).select_related("account")
    for link in links:
        account = link.account
        label = f"{account.description} ({account.platform})"
        try:
            try:
                connector = CONNECTORS.get(account.platform)(
                    settings=account.settings, secrets=account.secrets
                )
            except UnknownConnector:
                connector = None
            if connector is not None and connector.supports_delete:
                connector.delete(external_id=link.external_id, kind=link.external_kind)
                results[label] = "deleted"
                continue
            try:
                mirror = CRM_MIRRORS.get(account.platform)(
                    settings=account.settings, secrets=account.secrets
                )
            except UnknownMirror:
                mirror = None
            if mirror is not None:
                mirror.delete("contacts", [link.external_id])
                results[label] = "deleted"
            else:
                results[label] = "not supported: delete the person there by hand"
        except RemoteError as exc:
            logger.warning("GDPR deletion at %s failed: %s", label, exc.message)
            results[label] = f"failed: {exc.message}"[:300]
    return results


def _erase_text(value: str, needles: list[str]) -> str:
    for needle in needles:
        value = value.replace(needle, ERASED)
    return value


def contact_erase(*, contact: Contact, actor) -> ContactErasure:
    """Forget the person: media files deleted, personal fields emptied, message and comment texts
    replaced by a marker, addresses and consent details dropped, the deletion pushed to connected
    CRMs. Rows stay, so every count and report keeps its totals."""
    if not contact_erase_allowed(user=actor):
        raise PermissionDenied("Only a manager or an administrator may erase a contact.")
    if contact.erased_at is not None:
        raise ValueError(f"Contact #{contact.pk} was already erased.")
    crm_results = _crm_deletions_push(contact)
    needles = [n for n in {contact.name, contact.phone or "", contact.email} if len(n) >= 3]
    webhook_ids = list(_webhook_events(contact).values_list("pk", flat=True))
    messages = _messages(contact)
    files = [m.media_file for m in messages.exclude(media_file="")]
    with transaction.atomic():
        counts = {
            "messages": messages.count(),
            "conversations": Conversation.objects.filter(contact=contact).count(),
            "tickets": Ticket.objects.filter(contact=contact).count(),
            "media_files": len(files),
            "webhook_events": len(webhook_ids),
        }
        message_ids = list(messages.values_list("pk", flat=True))
        Message.objects.filter(pk__in=message_ids).exclude(text="").update(text=ERASED)
        # The inbox list's copy of the latest message's text.
        Conversation.objects.filter(contact=contact).exclude(last_message_preview="").update(
            last_message_preview=ERASED
        )
        Message.objects.filter(pk__in=message_ids).update(
            payload={},
            raw={},
            reactions={},
            provider_message_id=None,
            error_title="",
            error_detail="",
            media_error="",
            media_file="",
        )
        tickets = Ticket.objects.filter(contact=contact)
        for ticket in tickets:
            ticket.title = f"{timezone.localtime(ticket.created_at):%Y-%m-%d %H:%M:%S} - {ERASED}"
            ticket.description = ERASED if ticket.description else ""
            ticket.save(update_fields=["title", "description"])
        TicketComment.objects.filter(ticket__in=tickets).update(text=ERASED)
        for deal in Deal.objects.filter(contacts=contact):
            name = _erase_text(deal.name, needles)
            if name != deal.name:
                Deal.objects.filter(pk=deal.pk).update(name=name)
        _business_events(contact).update(payload={}, recipient_phone="", reason=ERASED, errors={})
        WebhookEvent.objects.filter(pk__in=webhook_ids).update(body=b"{}", error="")
        _idempotency_keys_forget(message_ids)
        SyncConflict.objects.filter(object_type=LinkedObject.CONTACT, local_id=contact.pk).delete()
        ExternalLink.objects.filter(object_type=LinkedObject.CONTACT, local_id=contact.pk).delete()
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Contact), object_id=str(contact.pk)
        ).update(object_repr=f"Contact #{contact.pk}", change_message="")
        # The admin's history names other objects by their text too (a ticket's title holds
        # the phone, a deal's name the person's).
        named = Q()
        for needle in needles:
            named |= Q(object_repr__contains=needle) | Q(change_message__contains=needle)
        if needles:
            LogEntry.objects.filter(named).update(object_repr=ERASED, change_message="")
        ConsentRecord.objects.filter(contact=contact).delete()
        ContactAddress.objects.filter(contact=contact).delete()
        Contact.objects.filter(pk=contact.pk).update(
            name="", phone=None, handle="", email="", erased_at=timezone.now()
        )
        erasure = ContactErasure.objects.create(
            contact=contact,
            erased_by=actor if getattr(actor, "pk", None) else None,
            counts=counts,
            crm_results=crm_results,
        )
    # Files go once the rows no longer point at them; a crash before leaves files, never rows
    # pointing at nothing.
    for file in files:
        file.storage.delete(file.name)
    contact.refresh_from_db()
    return erasure


def _idempotency_keys_forget(message_ids: list[int]) -> None:
    """Stored API answers that carry one of the messages (their text) are dropped."""
    keys = IdempotencyKey.objects.exclude(response_body=None).only("pk", "response_body")
    wanted = set(message_ids)
    drop = [
        key.pk
        for key in keys.iterator(chunk_size=500)
        if isinstance(key.response_body, dict) and key.response_body.get("id") in wanted
    ]
    IdempotencyKey.objects.filter(pk__in=drop).delete()


# ---------------------------------------------------------------------------------------------
# Retention


def retention_purge(*, days: int, now=None, batch: int = 500) -> dict:
    """Delete media files and message texts older than `days` days (0 keeps everything)."""
    if days <= 0:
        return {"messages": 0, "media_files": 0, "webhook_events": 0}
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = Message.objects.filter(created_at__lt=cutoff)
    files = 0
    while True:
        rows = list(old.exclude(media_file="").only("pk", "media_file")[:batch])
        if not rows:
            break
        Message.objects.filter(pk__in=[m.pk for m in rows]).update(media_file="")
        for message in rows:
            message.media_file.storage.delete(message.media_file.name)
        files += len(rows)
    texts = old.exclude(text__in=("", EXPIRED, ERASED)).update(text=EXPIRED, payload={}, raw={})
    # The inbox list's copy of a latest message that is now that old.
    Conversation.objects.filter(last_message_at__lt=cutoff).exclude(
        last_message_preview__in=("", EXPIRED, ERASED)
    ).update(last_message_preview=EXPIRED)
    # The same texts are copied into comments, ticket descriptions (the first message) and the
    # webhook bodies as received.
    TicketComment.objects.filter(message__created_at__lt=cutoff).exclude(
        text__in=(EXPIRED, ERASED)
    ).update(text=EXPIRED)
    Ticket.objects.filter(created_at__lt=cutoff).exclude(
        description__in=("", EXPIRED, ERASED)
    ).update(description=EXPIRED)
    webhooks = (
        WebhookEvent.objects.filter(received_at__lt=cutoff)
        .exclude(state=WebhookEvent.State.PENDING)
        .exclude(body=b"{}")
        .update(body=b"{}")
    )
    return {"messages": texts, "media_files": files, "webhook_events": webhooks}
