"""Who a sender is, beyond their address: links we issued that name a contact, a phone a person
shared as their own (which joins two contacts of one person), and addresses that can no longer
be written to.

Contacts are never merged on a guess: only when the transport vouches for the phone (a Telegram
contact card carrying the sender's own user id) or a link we signed names the contact.
"""

import logging
from functools import cache

from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from crm.addresses import PHONE_TRANSPORTS, Address, AddressTransport
from crm.models import Contact, ContactAddress, Deal
from crm.selectors import contact_by_address

logger = logging.getLogger(__name__)

LINK_SALT = "crm.contact-link"
# Telegram's start parameter takes at most 64 characters of A-Z a-z 0-9 _ -.
LINK_MAX_AGE_SECONDS = 30 * 24 * 3600

# Apps to the right of crm that hold rows of a contact, moved in this order when two contacts of
# one person become one (each called as handler(source=..., target=...) in the transaction).
CONTACT_MERGE_HANDLERS: list[str] = [
    "messaging.services.contacts.conversations_move_to_contact",
    "tickets.services_contacts.tickets_move_to_contact",
    "integrations.services.contacts.account_contacts_move_to_contact",
]


@cache
def _merge_handlers():
    return [import_string(path) for path in CONTACT_MERGE_HANDLERS]


# Links that name a contact


def contact_link_token_make(*, contact: Contact) -> str:
    """A token for a link we issue (a Telegram deep link's start parameter) that names
    `contact`: "<pk>_<timestamp>_<signature>", only characters a start parameter allows."""
    signed = signing.TimestampSigner(salt=LINK_SALT).sign(str(contact.pk))
    pk, timestamp, signature = signed.split(":")
    return f"{pk}_{timestamp}_{signature}"


def contact_link_token_read(*, token: str) -> Contact | None:
    """The contact a token of ours names, or None when it is not ours, altered or expired."""
    parts = (token or "").split("_", 2)
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    try:
        pk = signing.TimestampSigner(salt=LINK_SALT).unsign(
            ":".join(parts), max_age=LINK_MAX_AGE_SECONDS
        )
    except signing.BadSignature:  # SignatureExpired is one
        return None
    return Contact.objects.filter(pk=int(pk)).first()


@transaction.atomic
def contact_link_by_token(*, token: str, addresses) -> Contact | None:
    """Tie the sender's `addresses` (normalized) to the contact our token names. A sender already
    known as another contact joins it. Returns the contact, or None for a token not ours."""
    target = contact_link_token_read(token=token)
    if target is None:
        return None
    for address in addresses:
        owner = contact_by_address(address=address)
        if owner is None or owner.pk == target.pk:
            continue
        if not contact_merge(source=owner, target=target):
            return None
    for address in addresses:
        if address.transport in PHONE_TRANSPORTS:
            continue
        ContactAddress.objects.get_or_create(
            transport=address.transport,
            address=address.value,
            defaults={"contact": target, "handle": address.handle, "verified": True},
        )
    return target


# A phone the sender shared as their own


@transaction.atomic
def contact_phone_share(*, address: Address, phone_e164: str) -> Contact | None:
    """The sender at `address` says `phone_e164` is theirs, and the transport vouches for it.
    The phone joins their contact, or, when another contact has that phone, their contact joins
    that one: one person, one contact. Returns the contact, None when nothing could be done."""
    sender = contact_by_address(address=address)
    owner = Contact.objects.filter(phone=phone_e164).first()
    if sender is None:
        return owner  # the inbound path records the address on the phone's contact
    if owner is None:
        if sender.phone and sender.phone != phone_e164:
            logger.info("contact #%s shared %s but keeps %s", sender.pk, phone_e164, sender.phone)
            return sender
        from crm.services import contact_update

        contact_update(contact=sender, phone=phone_e164)
        return sender
    if owner.pk == sender.pk:
        return owner
    return owner if contact_merge(source=sender, target=owner) else sender


@transaction.atomic
def contact_merge(*, source: Contact, target: Contact) -> bool:
    """Make `source` part of `target`: its addresses, deals, conversations, tickets and links
    move, blank fields of `target` are filled from it, and `source` is deleted. Refused (False)
    when both have a different phone: that is two people, or a question for a person."""
    if source.pk == target.pk:
        return True
    if source.phone and target.phone and source.phone != target.phone:
        logger.warning(
            "contacts #%s and #%s not merged: their phones %s and %s differ",
            source.pk,
            target.pk,
            source.phone,
            target.phone,
        )
        return False
    phone = target.phone or source.phone
    moved = ContactAddress.objects.filter(contact=source)
    # The phone mirror follows `Contact.phone`; every other address moves as it is.
    moved.filter(transport__in=PHONE_TRANSPORTS).delete()
    moved.update(contact=target)
    for deal in Deal.objects.filter(contacts=source):
        deal.contacts.add(target)
    for handler in _merge_handlers():
        handler(source=source, target=target)
    fields = {
        name: getattr(source, name)
        for name in ("name", "email", "company_id", "responsible_id", "handle")
        if not getattr(target, name) and getattr(source, name)
    }
    if source.kind == "customer":
        fields["kind"] = "customer"
    source.delete()
    if fields:
        Contact.objects.filter(pk=target.pk).update(**fields, updated_at=timezone.now())
        for name, value in fields.items():
            setattr(target, name, value)
    if phone and target.phone != phone:
        from crm.services import contact_update

        contact_update(contact=target, phone=phone)
    logger.info("contact #%s merged into #%s", source.pk, target.pk)
    return True


# Addresses that cannot be written to


def contact_address_mark_unreachable(*, address: Address, reason: str) -> int:
    """The transport refused for good to deliver to `address`; returns the rows marked."""
    return ContactAddress.objects.filter(transport=address.transport, address=address.value).update(
        unreachable_at=timezone.now(), unreachable_reason=reason[:255]
    )


def contact_addresses_mark_reachable(*, addresses) -> int:
    """The person wrote from these addresses: whatever stopped us writing back is over."""
    keys = [(a.transport, a.value) for a in addresses]
    if not keys:
        return 0
    condition = Q()
    for transport, value in keys:
        condition |= Q(transport=transport, address=value)
    return (
        ContactAddress.objects.filter(condition)
        .filter(unreachable_at__isnull=False)
        .update(unreachable_at=None, unreachable_reason="")
    )


def contact_unreachable_reason(*, contact: Contact, transports, addresses=None) -> str:
    """Why `contact` cannot be written to on any of `transports`: "" when one is reachable (or
    none is known: the send then fails with its own reason). `addresses`: the contact's address
    rows when the caller loaded them already (a delivery batch), else they are read here."""
    if addresses is None:
        rows = list(
            ContactAddress.objects.filter(
                contact=contact, transport__in=list(transports)
            ).values_list("transport", "unreachable_reason", "unreachable_at")
        )
    else:
        rows = [
            (a.transport, a.unreachable_reason, a.unreachable_at)
            for a in addresses
            if a.transport in transports
        ]
    if not rows or any(at is None for _, _, at in rows):
        return ""
    labels = dict(AddressTransport.choices)
    return "; ".join(f"{labels.get(t, t)}: {reason}" for t, reason, _ in rows)
