"""A provider asks for a contact or a deal to be created now and waits for it (Wazzup's
createContact / createDeal webhooks): made here with the same rules as a new client who writes.

Both are get-or-create, so the webhook's inline answer, the drain and a reprocess all end on the
same rows, and a message racing the request makes one contact and one deal.
"""

import contextlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm.addresses import PHONE_TRANSPORTS, Address, AddressTransport, address_normalize
from crm.models import Contact, ContactAddress, Deal, DealStatus, Pipeline
from crm.services import contact_get_or_create_by_addresses, deal_open_for_new_client
from messaging.models import Channel, Conversation, Transport
from messaging.providers.base import (
    ContactCreateRequest,
    ContactRecord,
    DealCreateRequest,
    DealRecord,
)
from messaging.services import conversation_get_or_open
from tickets.routing import ConversationTaken, conversation_claim, conversation_route_new

# Which of our channel transports reach an address transport.
CHANNEL_TRANSPORTS = {
    AddressTransport.WHATSAPP: {Transport.WHATSAPP, Transport.WABA},
    AddressTransport.TELEGRAM: {Transport.TELEGRAM},
}


def entity_request_answer(*, request, account):
    """messaging.pipeline.ENTITY_REQUEST_HANDLER: the record to answer `request` with."""
    if isinstance(request, ContactCreateRequest):
        return _contact_answer(request=request, account=account)
    if isinstance(request, DealCreateRequest):
        return _deal_answer(request=request, account=account)
    raise TypeError(f"not an entity request: {type(request).__name__}")


def _contact_answer(*, request: ContactCreateRequest, account) -> ContactRecord:
    addresses = [
        address_normalize(a, assume_international=a.transport in PHONE_TRANSPORTS)
        for a in request.addresses
    ]
    contact, _created = contact_get_or_create_by_addresses(addresses=addresses, name=request.name)
    channel = _channel_for(account=account, contact=contact, addresses=addresses)
    if channel is not None and contact.responsible_id is None:
        conversation, _opened = conversation_get_or_open(channel=channel, contact=contact)
        user = _user(request.responsible_id)
        if request.by_user and user is not None:
            # An agent pressed "create" in the provider's chat: they answer this client.
            with contextlib.suppress(ConversationTaken):  # another agent was quicker
                conversation_claim(conversation=conversation, user=user)
        else:
            conversation_route_new(conversation=conversation)
        contact.refresh_from_db()
    return contact_record(contact, fallback_responsible=request.responsible_id)


def _deal_answer(*, request: DealCreateRequest, account) -> DealRecord:
    ids = [int(each) for each in request.contact_ids if each.isdigit()]
    contacts = list(Contact.objects.filter(pk__in=ids).order_by("pk"))
    if not contacts:
        raise ValidationError(f"createDeal names no contact of ours: {request.contact_ids!r}")
    first = contacts[0]
    existing = (
        Deal.objects.filter(status=DealStatus.OPEN, contacts=first).order_by("created_at").first()
    )
    if existing is None:
        channel = _channel_for(account=account, contact=first, addresses=[])
        pipeline = channel.new_client_pipeline if channel else None
        pipeline = pipeline or Pipeline.objects.order_by("pk").first()
        if pipeline is None:
            raise ValidationError("No pipeline exists for a new deal.")
        responsible = first.responsible or _user(request.responsible_id)
        existing = deal_open_for_new_client(
            contact=first,
            pipeline=pipeline,
            stage=channel.new_client_stage if channel and channel.new_client_pipeline else None,
            responsible=responsible,
            source=channel.get_transport_display() if channel else "messenger",
        )
    return deal_record(existing, fallback_responsible=request.responsible_id)


def _channel_for(*, account, contact, addresses) -> Channel | None:
    """The account's channel the contact writes on: the one with their open conversation, else
    the first channel of the account that reaches one of the addresses."""
    channels = Channel.objects.filter(account=account).select_related(
        "new_client_pipeline", "new_client_stage"
    )
    talking = (
        Conversation.objects.filter(
            channel__in=channels, contact=contact, status=Conversation.Status.OPEN
        )
        .order_by("pk")
        .values_list("channel_id", flat=True)
        .first()
    )
    if talking is not None:
        return channels.get(pk=talking)
    for address in addresses:
        wanted = CHANNEL_TRANSPORTS.get(address.transport)
        if address.transport == AddressTransport.WAZZUP:
            wanted = {address.value.split(":", 1)[0]}
        match = channels.filter(transport__in=wanted or ()).order_by("pk").first()
        if match is not None:
            return match
    return channels.order_by("pk").first()


def _user(user_id: str):
    if not user_id.isdigit():
        return None
    return get_user_model().objects.filter(pk=int(user_id), is_active=True).first()


def contact_record(contact: Contact, *, fallback_responsible: str = "") -> ContactRecord:
    rows = ContactAddress.objects.filter(contact=contact).order_by("pk")
    return ContactRecord(
        id=str(contact.pk),
        name=contact.name or contact.reach,
        responsible_id=str(contact.responsible_id or fallback_responsible or ""),
        addresses=tuple(Address(r.transport, r.address, r.handle) for r in rows),
        uri=settings.PUBLIC_BASE_URL + reverse("admin:crm_contact_change", args=[contact.pk]),
    )


def deal_record(deal: Deal, *, fallback_responsible: str = "") -> DealRecord:
    return DealRecord(
        id=str(deal.pk),
        name=deal.name,
        responsible_id=str(deal.responsible_id or fallback_responsible or ""),
        contact_ids=tuple(
            str(pk) for pk in deal.contacts.order_by("pk").values_list("pk", flat=True)
        ),
        closed=deal.status != DealStatus.OPEN,
        uri=settings.PUBLIC_BASE_URL + reverse("admin:crm_deal_change", args=[deal.pk]),
    )
