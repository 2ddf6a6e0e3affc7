import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role
from accounts.selectors import user_role
from crm.addresses import (
    PHONE_TRANSPORTS,
    Address,
    AddressTransport,
    address_normalize,
    addresses_by_strength,
)
from crm.models import (
    Company,
    Contact,
    ContactAddress,
    ContactKind,
    Deal,
    DealStatus,
    Pipeline,
    Stage,
)
from crm.phones import phone_normalize
from crm.selectors import (
    company_is_writable_by,
    contact_by_address,
    contact_is_writable_by,
    deal_is_writable_by,
)


class WriteRefused(ValidationError):
    """The acting user's role does not let them make this change; the text says why. A
    ValidationError, so admin forms and actions show it where they show other refusals.

    Every service that takes an `actor` checks it; `actor=None` is Switchboard itself (inbound
    processing, sync jobs), which may write anything.
    """


def _role_of(actor):
    return user_role(user=actor) if actor is not None else Role.MANAGER


def _refuse_unless(allowed: bool, message: str) -> None:
    if not allowed:
        raise WriteRefused(message)


def _check_contact_writable(*, actor, contact: Contact) -> None:
    _refuse_unless(
        contact_is_writable_by(user=actor, contact=contact),
        f"{actor} may not change {contact}: it is not one of their clients.",
    )


def _responsible_changes(model, obj, fields) -> bool:
    stored = model.objects.filter(pk=obj.pk).values_list("responsible_id", flat=True).first()
    new = fields["responsible"]
    return (new.pk if new is not None else None) != stored


def _check_may_own(*, actor, responsible, what: str) -> None:
    """Only managers give a record to someone else: a sales rep's new record is their own, and
    handing a client over is a transfer."""
    role = _role_of(actor)
    _refuse_unless(
        role in (Role.MANAGER, Role.SALES_REP),
        f"{actor} may not create {what}: quality control only reads.",
    )
    _refuse_unless(
        role == Role.MANAGER or responsible == actor,
        f"Only managers make someone else responsible for {what}.",
    )


logger = logging.getLogger(__name__)


class ContactAddressTaken(Exception):
    def __init__(self, address: Address, existing: Contact):
        self.address = address
        self.existing = existing
        super().__init__(
            f"The {address.transport} address {address.value} already belongs to contact "
            f"#{existing.pk} ({existing})."
        )


class ContactPhoneTaken(ContactAddressTaken):
    def __init__(self, phone: str, existing: Contact):
        self.phone = phone
        super().__init__(Address(AddressTransport.WHATSAPP, phone), existing)
        self.args = (f"The phone {phone} already belongs to contact #{existing.pk} ({existing}).",)

    def __str__(self):
        return self.args[0]


def _ensure_phone_free(phone: str, *, exclude_pk=None) -> None:
    clash = Contact.objects.filter(phone=phone).exclude(pk=exclude_pk).first()
    if clash is not None:
        raise ContactPhoneTaken(phone, clash)


@transaction.atomic
def contact_create(
    *,
    phone: str,
    name: str = "",
    handle: str = "",
    kind: str = ContactKind.LEAD,
    email: str = "",
    company: Company | None = None,
    responsible=None,
    region: str | None = None,
    actor=None,
) -> Contact:
    """Create a contact from a phone in any format; a taken phone raises `ContactPhoneTaken`."""
    if actor is not None:
        _check_may_own(actor=actor, responsible=responsible, what="a new contact")
    e164 = phone_normalize(phone, region=region)
    _ensure_phone_free(e164)
    try:
        with transaction.atomic():
            contact = Contact.objects.create(
                phone=e164,
                name=name,
                handle=handle,
                kind=kind,
                email=email,
                company=company,
                responsible=responsible,
            )
            _phone_mirror_set(contact, e164)
            return contact
    except IntegrityError:
        # Lost a race with a concurrent insert of the same number.
        _ensure_phone_free(e164)
        raise


@transaction.atomic
def contact_update(*, contact: Contact, actor=None, **fields) -> Contact:
    if actor is not None:
        _check_contact_writable(actor=actor, contact=contact)
        # Compared with the stored row: a form may already have set the new value on `contact`.
        if "responsible" in fields and _responsible_changes(Contact, contact, fields):
            _refuse_unless(
                _role_of(actor) == Role.MANAGER,
                f"Only managers hand {contact} to someone else.",
            )
    if "phone" in fields:
        # Blank removes the phone: NULL, as "" would collide with every other phone-less contact.
        fields["phone"] = phone_normalize(fields["phone"]) if fields["phone"] else None
        if fields["phone"]:
            _ensure_phone_free(fields["phone"], exclude_pk=contact.pk)
    for name, value in fields.items():
        setattr(contact, name, value)
    contact.save()
    if "phone" in fields:
        _phone_mirror_set(contact, contact.phone)
    return contact


def _phone_mirror_set(contact: Contact, phone: str | None) -> None:
    """Keep the contact's ("whatsapp", E.164) address equal to `Contact.phone`."""
    mirror = ContactAddress.objects.filter(contact=contact, transport=AddressTransport.WHATSAPP)
    if phone is None:
        mirror.delete()
    elif not mirror.filter(address=phone).exists():
        mirror.delete()
        # Another contact's stale mirror of this phone (an ORM write bypassed the services).
        ContactAddress.objects.filter(transport=AddressTransport.WHATSAPP, address=phone).delete()
        ContactAddress.objects.create(
            contact=contact, transport=AddressTransport.WHATSAPP, address=phone
        )


def contact_get_or_create_by_phone(
    *, phone_e164: str, name: str = "", kind: str = ContactKind.LEAD
) -> tuple[Contact, bool]:
    """Find the contact owning an E.164 number or create it as a lead."""
    return contact_get_or_create_by_addresses(
        addresses=[Address(AddressTransport.WHATSAPP, phone_e164)], name=name, kind=kind
    )


def _name_fit(name: str) -> str:
    """A name as given from outside (a chat profile), cut to what the column keeps."""
    return name[: Contact._meta.get_field("name").max_length]


# Contact resolution by address. Race-freedom lives in the unique indexes on Contact.phone and
# ContactAddress(transport, address): a creator INSERTs in a savepoint and, on a conflict, rolls
# back and reads the winner's committed row. Nothing checks first and inserts after.

# `last_seen_at` is rewritten at most this often, so a steady stream of messages writes nothing.
ADDRESS_SEEN_GRANULARITY = timedelta(hours=1)
_RESOLVE_ATTEMPTS = 3


@dataclass(frozen=True)
class SenderIdentity:
    """One sender of an inbound batch."""

    addresses: tuple[Address, ...]  # normalized
    name: str = ""
    seen_at: datetime | None = None


def _phone_of(addresses: Sequence[Address]) -> str | None:
    return next((a.value for a in addresses if a.transport in PHONE_TRANSPORTS), None)


def _handle_of(addresses: Sequence[Address]) -> str:
    """The username when the transport gave one, else "" (see `_handle_for_new`)."""
    return next((a.handle for a in addresses if a.handle), "")


def _handle_for_new(addresses: Sequence[Address]) -> str:
    # A contact without a phone still needs something a person can read in a list.
    handle = _handle_of(addresses)
    if handle or _phone_of(addresses):
        return handle
    return addresses[0].value if addresses else ""


def _address_owners(keys) -> dict[tuple[str, str], ContactAddress]:
    """The address rows of `keys` ((transport, value) pairs), with their contacts: one query."""
    keys = set(keys)
    if not keys:
        return {}
    rows = ContactAddress.objects.select_related("contact").filter(
        transport__in={t for t, _ in keys}, address__in={v for _, v in keys}
    )
    return {(r.transport, r.address): r for r in rows if (r.transport, r.address) in keys}


def _phones_owners(phones) -> dict[str, Contact]:
    phones = set(phones)
    if not phones:
        return {}
    return {c.phone: c for c in Contact.objects.filter(phone__in=phones)}


def _address_row(contact_id: int, address: Address, *, verified: bool, seen_at) -> ContactAddress:
    return ContactAddress(
        contact_id=contact_id,
        transport=address.transport,
        address=address.value,
        handle=address.handle,
        first_seen_at=seen_at,
        last_seen_at=seen_at,
        verified=verified,
    )


def contact_get_or_create_by_addresses(
    *,
    addresses: Sequence[Address],
    name: str = "",
    kind: str = ContactKind.LEAD,
    verified: bool = True,
    seen_at: datetime | None = None,
) -> tuple[Contact, bool]:
    """The contact the strongest of `addresses` (normalized) belongs to, created as a lead when
    none is known; True when created. The weaker addresses are recorded on it when nobody else
    owns them; when someone else does, the strongest owner still wins and a warning is logged
    (contacts are never merged automatically)."""
    addresses = addresses_by_strength(addresses)
    if not addresses:
        raise ValueError("A contact needs at least one address to be found by.")
    seen_at = seen_at or timezone.now()
    phone = _phone_of(addresses)
    for _ in range(_RESOLVE_ATTEMPTS):
        owners = _address_owners((a.transport, a.value) for a in addresses)
        phone_owner = None
        if phone and (AddressTransport.WHATSAPP, phone) not in owners:
            phone_owner = Contact.objects.filter(phone=phone).first()
        target = _strongest_owner(addresses, owners, phone_owner)
        if target is not None:
            _addresses_attach(
                target,
                addresses,
                owners=owners,
                phone_owner=phone_owner,
                verified=verified,
                seen_at=seen_at,
            )
            return target, False
        try:
            with transaction.atomic():
                contact = Contact.objects.create(
                    phone=phone,
                    handle=_handle_for_new(addresses)[:200],
                    name=_name_fit(name),
                    kind=kind,
                )
                ContactAddress.objects.bulk_create(
                    [
                        _address_row(contact.pk, a, verified=verified, seen_at=seen_at)
                        for a in addresses
                    ]
                )
            return contact, True
        except IntegrityError:
            # A concurrent creator committed one of these addresses first: its row is visible
            # now, so the next round finds it.
            continue
    raise RuntimeError(f"Could not resolve the contact of {addresses!r}.")


def _strongest_owner(addresses, owners, phone_owner) -> Contact | None:
    for address in addresses:
        row = owners.get((address.transport, address.value))
        if row is not None:
            return row.contact
        if address.transport in PHONE_TRANSPORTS and phone_owner is not None:
            return phone_owner
    return None


def _addresses_attach(
    contact: Contact, addresses, *, owners, phone_owner, verified: bool, seen_at
) -> None:
    """Record on `contact` what it did not have yet, and bump what it has."""
    new_rows, stale = [], []
    for address in addresses:
        key = (address.transport, address.value)
        row = owners.get(key)
        if row is not None:
            if row.contact_id != contact.pk:
                logger.warning(
                    "two contacts for one person: %s %s belongs to contact #%s, the message goes "
                    "to contact #%s, which a stronger address names",
                    address.transport,
                    address.value,
                    row.contact_id,
                    contact.pk,
                )
            elif row.last_seen_at < seen_at - ADDRESS_SEEN_GRANULARITY or (
                address.handle and address.handle != row.handle
            ):
                stale.append((row, address))
            continue
        if address.transport in PHONE_TRANSPORTS and not _phone_attach(
            contact, address.value, phone_owner=phone_owner
        ):
            continue
        new_rows.append(_address_row(contact.pk, address, verified=verified, seen_at=seen_at))
    if new_rows:
        ContactAddress.objects.bulk_create(new_rows, ignore_conflicts=True)
    for row, address in stale:
        ContactAddress.objects.filter(pk=row.pk).update(
            last_seen_at=seen_at, handle=address.handle or row.handle
        )
    handle = _handle_of(addresses)
    if handle and handle != contact.handle:
        Contact.objects.filter(pk=contact.pk).update(handle=handle[:200])
        contact.handle = handle[:200]


def _phone_attach(contact: Contact, phone: str, *, phone_owner) -> bool:
    """Give `contact` the phone when it has none; True when its mirror row is to be recorded."""
    if phone_owner is not None:
        if phone_owner.pk != contact.pk:
            logger.warning(
                "two contacts for one person: phone %s belongs to contact #%s, the message goes "
                "to contact #%s, which a stronger address names",
                phone,
                phone_owner.pk,
                contact.pk,
            )
            return False
        return True  # its phone, without the mirror row (written around the services)
    if contact.phone:
        logger.info(
            "contact #%s writes from %s but keeps its phone %s", contact.pk, phone, contact.phone
        )
        return False
    try:
        with transaction.atomic():
            updated = Contact.objects.filter(pk=contact.pk, phone__isnull=True).update(
                phone=phone, updated_at=timezone.now()
            )
    except IntegrityError:
        logger.warning(
            "two contacts for one person: phone %s was given to another contact while contact "
            "#%s was learning it",
            phone,
            contact.pk,
        )
        return False
    if updated:
        contact.phone = phone
    return bool(updated)


def contacts_get_or_create_by_addresses(*, senders: Sequence[SenderIdentity]) -> list[Contact]:
    """`contact_get_or_create_by_addresses` for every sender of a batch, in the same order.

    Set-based for the common cases: known senders cost one query (two while some phone has no
    address row), new phone senders one insert of contacts, one re-read and one insert of
    addresses. Anything else (a new sender without a phone, an address learnt, a conflict) goes
    through the one-sender function.
    """
    now = timezone.now()
    identities = [addresses_by_strength(s.addresses) for s in senders]
    owners = _address_owners((a.transport, a.value) for ids in identities for a in ids)
    phone_owners = _phones_owners(
        phone
        for ids in identities
        if (phone := _phone_of(ids)) and (AddressTransport.WHATSAPP, phone) not in owners
    )
    result: list[Contact | None] = [None] * len(senders)
    contacts: dict[int, Contact] = {}  # one instance per contact
    slow: list[int] = []
    stale: set[int] = set()
    mirrors: dict[str, Contact] = {}
    new_by_phone: dict[str, list[int]] = {}
    claimed: dict[tuple[str, str], str] = {}  # address -> the phone of the new sender using it
    for index, (sender, ids) in enumerate(zip(senders, identities, strict=True)):
        if not ids:
            raise ValueError("A contact needs at least one address to be found by.")
        seen_at = sender.seen_at or now
        owner_ids = set()
        missing = False
        for address in ids:
            row = owners.get((address.transport, address.value))
            if row is not None:
                owner_ids.add(row.contact_id)
                contacts.setdefault(row.contact_id, row.contact)
                if row.last_seen_at < seen_at - ADDRESS_SEEN_GRANULARITY:
                    stale.add(row.pk)
                if address.handle and address.handle != row.handle:
                    missing = True
            elif address.transport in PHONE_TRANSPORTS and address.value in phone_owners:
                owner = phone_owners[address.value]
                owner_ids.add(owner.pk)
                contacts.setdefault(owner.pk, owner)
                mirrors[address.value] = owner
            else:
                missing = True
        handle = _handle_of(ids)
        if len(owner_ids) == 1 and not missing:
            contact = contacts[owner_ids.pop()]
            if not handle or handle == contact.handle:
                result[index] = contact
                continue
        phone = _phone_of(ids)
        if owner_ids or not phone:
            slow.append(index)
            continue
        # A new phone sender. Two of them sharing an address but not the phone are one person
        # the one-sender path sorts out.
        keys = [(a.transport, a.value) for a in ids]
        if any(claimed.get(key, phone) != phone for key in keys):
            slow.append(index)
            continue
        for key in keys:
            claimed[key] = phone
        new_by_phone.setdefault(phone, []).append(index)

    if stale:
        ContactAddress.objects.filter(pk__in=sorted(stale)).update(last_seen_at=now)
    if mirrors:
        ContactAddress.objects.bulk_create(
            [
                _address_row(
                    c.pk, Address(AddressTransport.WHATSAPP, p), verified=True, seen_at=now
                )
                for p, c in sorted(mirrors.items())
            ],
            ignore_conflicts=True,
        )
    if new_by_phone:
        _new_phone_senders(new_by_phone, senders, identities, result, contacts, slow, now)
    for index in sorted(slow):
        sender = senders[index]
        contact, _ = contact_get_or_create_by_addresses(
            addresses=identities[index], name=sender.name, seen_at=sender.seen_at or now
        )
        result[index] = contacts.setdefault(contact.pk, contact)
    return result


def _new_phone_senders(new_by_phone, senders, identities, result, contacts, slow, now) -> None:
    phones = sorted(new_by_phone)
    first = {phone: new_by_phone[phone][0] for phone in phones}
    # Sorted keys: two drains inserting the same new numbers wait on each other in one order.
    Contact.objects.bulk_create(
        [
            Contact(
                phone=phone,
                name=_name_fit(senders[first[phone]].name),
                handle=_handle_for_new(identities[first[phone]])[:200],
                kind=ContactKind.LEAD,
            )
            for phone in phones
        ],
        ignore_conflicts=True,
    )
    by_phone = _phones_owners(phones)
    rows = {}
    for phone in phones:
        for index in new_by_phone[phone]:
            for address in identities[index]:
                rows.setdefault(
                    (address.transport, address.value),
                    _address_row(by_phone[phone].pk, address, verified=True, seen_at=now),
                )
    ContactAddress.objects.bulk_create([rows[key] for key in sorted(rows)], ignore_conflicts=True)
    # A stronger address than the phone may have gone to someone else meanwhile: check those.
    stronger = {
        (ids[0].transport, ids[0].value): phone
        for phone in phones
        for index in new_by_phone[phone]
        if (ids := identities[index])[0].transport not in PHONE_TRANSPORTS
    }
    owners = _address_owners(stronger) if stronger else {}
    for phone in phones:
        contact = contacts.setdefault(by_phone[phone].pk, by_phone[phone])
        for index in new_by_phone[phone]:
            key = (identities[index][0].transport, identities[index][0].value)
            if key in stronger and (key not in owners or owners[key].contact_id != contact.pk):
                slow.append(index)
            else:
                result[index] = contact


@transaction.atomic
def contact_address_add(
    *, contact: Contact, address: Address, actor=None, verified: bool = False
) -> ContactAddress:
    """Record one more way to reach `contact`; raises `ContactAddressTaken` when it is someone
    else's."""
    if actor is not None:
        _check_contact_writable(actor=actor, contact=contact)
    address = address_normalize(address)
    owner = contact_by_address(address=address)
    if owner is not None and owner.pk != contact.pk:
        raise ContactAddressTaken(address, owner)
    if address.transport in PHONE_TRANSPORTS:
        if contact.phone != address.value:
            contact_update(contact=contact, phone=address.value)
        return ContactAddress.objects.get(contact=contact, transport=address.transport)
    try:
        with transaction.atomic():
            row, _ = ContactAddress.objects.get_or_create(
                transport=address.transport,
                address=address.value,
                defaults={"contact": contact, "handle": address.handle, "verified": verified},
            )
    except IntegrityError:
        row = ContactAddress.objects.get(transport=address.transport, address=address.value)
    if row.contact_id != contact.pk:
        raise ContactAddressTaken(address, row.contact)
    return row


def contact_address_change(
    *, transport: str, old: str, new: str, phone_e164: str = ""
) -> Contact | None:
    """A transport renamed a user's id (WhatsApp `user_id_update`): move the address row. None
    when nobody had the old one."""
    row = (
        ContactAddress.objects.select_related("contact")
        .filter(transport=transport, address=old)
        .first()
    )
    if row is None:
        if not phone_e164:
            return None
        contact = contact_by_address(address=Address(AddressTransport.WHATSAPP, phone_e164))
        if contact is None:
            return None
        contact_get_or_create_by_addresses(
            addresses=[Address(transport, new), Address(AddressTransport.WHATSAPP, phone_e164)]
        )
        return contact
    taken = ContactAddress.objects.filter(transport=transport, address=new).exclude(pk=row.pk)
    if taken.exists():
        logger.warning(
            "two contacts for one person: %s %s already belongs to another contact", transport, new
        )
        return row.contact
    ContactAddress.objects.filter(pk=row.pk).update(address=new, last_seen_at=timezone.now())
    return row.contact


def contact_claim(*, contact: Contact, user) -> bool:
    """Make `user` responsible for a contact nobody is responsible for; False when someone
    already was (one UPDATE decides between concurrent claimers)."""
    claimed = Contact.objects.filter(pk=contact.pk, responsible__isnull=True).update(
        responsible=user, updated_at=timezone.now()
    )
    if claimed:
        contact.responsible = user
    return bool(claimed)


@transaction.atomic
def contact_convert_to_customer(*, contact: Contact, actor=None) -> bool:
    """Turn a lead into a customer; False when it already was one, so callers can report it."""
    _check_contact_writable(actor=actor, contact=contact)
    changed = Contact.objects.filter(pk=contact.pk, kind=ContactKind.LEAD).update(
        kind=ContactKind.CUSTOMER, updated_at=timezone.now()
    )
    contact.kind = ContactKind.CUSTOMER
    return bool(changed)


@transaction.atomic
def contact_assign_responsible(*, contact: Contact, responsible, actor=None) -> Contact:
    """Hand a client to a member of staff (None leaves them to nobody). Managers only, as
    transfers are."""
    _refuse_unless(_role_of(actor) == Role.MANAGER, "Only managers hand clients to someone else.")
    # One column only: a bulk action holds instances read earlier, and a full save would undo
    # whatever someone else changed on those contacts meanwhile.
    Contact.objects.filter(pk=contact.pk).update(responsible=responsible, updated_at=timezone.now())
    contact.responsible = responsible
    return contact


# Companies

COMPANY_FIELDS = ("name", "email", "phone", "website", "vat_number", "responsible")


@transaction.atomic
def company_create(*, name: str, actor=None, **fields) -> Company:
    if actor is not None:
        _check_may_own(actor=actor, responsible=fields.get("responsible"), what="a new company")
    return Company.objects.create(name=name, **fields)


@transaction.atomic
def company_update(*, company: Company, actor=None, **fields) -> Company:
    if actor is not None:
        stored = Company.objects.get(pk=company.pk)
        _refuse_unless(
            company_is_writable_by(user=actor, company=stored),
            f"{actor} may not change {company}: it is not one of their companies.",
        )
        if "responsible" in fields and _responsible_changes(Company, company, fields):
            _refuse_unless(
                _role_of(actor) == Role.MANAGER,
                f"Only managers hand {company} to someone else.",
            )
    for name, value in fields.items():
        setattr(company, name, value)
    company.save()
    return company


# Pipelines and deals


@transaction.atomic
def pipeline_create(*, name: str, stages: list[str]) -> Pipeline:
    """A pipeline with its stages in the given order."""
    name = name.strip()
    names = [stage.strip() for stage in stages]
    if not name:
        raise ValidationError({"name": "A pipeline needs a name."})
    if not names or not all(names):
        raise ValidationError({"stages": "A pipeline needs at least one stage, each with a name."})
    repeated = sorted({stage for stage in names if names.count(stage) > 1})
    if repeated:
        raise ValidationError({"stages": f"Stage names repeat: {', '.join(repeated)}."})
    try:
        with transaction.atomic():
            pipeline = Pipeline.objects.create(name=name)
    except IntegrityError:
        raise ValidationError({"name": f"A pipeline named {name!r} already exists."}) from None
    Stage.objects.bulk_create(
        Stage(pipeline=pipeline, name=stage, position=position)
        for position, stage in enumerate(names)
    )
    return pipeline


def deal_stage_resolve(*, pipeline: Pipeline, stage: Stage | None) -> Stage:
    """The stage a deal of `pipeline` goes to: `stage` when it belongs there, else the first one.

    Raises a ValidationError keyed on "stage" that names both, so a form can show it in place.
    """
    if stage is None:
        first = pipeline.stages.order_by("position", "pk").first()
        if first is None:
            raise ValidationError({"stage": f"Pipeline {pipeline.name!r} has no stages yet."})
        return first
    if stage.pipeline_id != pipeline.pk:
        raise ValidationError(
            {
                "stage": f"Stage {stage.name!r} belongs to pipeline {stage.pipeline.name!r}, "
                f"not to {pipeline.name!r}."
            }
        )
    return stage


def _contacts_required(contacts) -> list[Contact]:
    contacts = list(contacts)
    if not contacts:
        raise ValidationError({"contacts": "A deal needs at least one contact."})
    return contacts


@transaction.atomic
def deal_create(
    *,
    name: str,
    pipeline: Pipeline,
    contacts,
    stage: Stage | None = None,
    responsible=None,
    company: Company | None = None,
    amount: Decimal | None = None,
    actor=None,
) -> Deal:
    """Open a deal on `stage` (default: the pipeline's first stage) for one or more contacts."""
    if not name.strip():
        raise ValidationError({"name": "A deal needs a name."})
    contacts = _contacts_required(contacts)
    if actor is not None:
        _check_may_own(actor=actor, responsible=responsible, what="a new deal")
        for contact in contacts:
            _check_contact_writable(actor=actor, contact=contact)
    deal = Deal.objects.create(
        name=name.strip(),
        pipeline=pipeline,
        stage=deal_stage_resolve(pipeline=pipeline, stage=stage),
        responsible=responsible,
        company=company,
        amount=amount,
    )
    deal.contacts.set(contacts)
    return deal


def _check_deal_writable(*, actor, deal: Deal) -> None:
    if actor is None:
        return
    # The stored row decides: a form may already have changed `deal` in memory.
    stored = Deal.objects.get(pk=deal.pk)
    _refuse_unless(
        deal_is_writable_by(user=actor, deal=stored),
        f"{actor} may not change the deal {stored.name!r}: it is not theirs, they are not "
        "responsible for it.",
    )


@transaction.atomic
def deal_update(*, deal: Deal, actor=None, **fields) -> Deal:
    """Edit a deal's details. Its status only changes through close and reopen."""
    _check_deal_writable(actor=actor, deal=deal)
    if actor is not None and "responsible" in fields and _responsible_changes(Deal, deal, fields):
        _refuse_unless(
            _role_of(actor) == Role.MANAGER,
            f"Only managers hand the deal {deal.name!r} to someone else.",
        )
    if {"status", "closed_at"} & fields.keys():
        raise ValidationError("Use deal_close or deal_reopen to change a deal's status.")
    for name, value in fields.items():
        setattr(deal, name, value)
    if "pipeline" in fields or "stage" in fields:
        stage = deal.stage if deal.stage_id is not None else None
        deal.stage = deal_stage_resolve(pipeline=deal.pipeline, stage=stage)
    deal.save()
    return deal


def _deal_refresh_status(deal: Deal) -> None:
    deal.refresh_from_db(fields=["status", "stage", "closed_at", "updated_at"])


def _deal_not_in(deal: Deal, expected: str, doing: str) -> ValidationError:
    current = Deal.objects.filter(pk=deal.pk).values_list("status", flat=True).first()
    label = DealStatus(current).label.lower() if current else "deleted"
    return ValidationError(f"Cannot {doing} deal {deal.name!r}: it is {label}, not {expected}.")


@transaction.atomic
def deal_move(*, deal: Deal, stage: Stage) -> Deal:
    """Move an open deal to another stage of its own pipeline."""
    stage = deal_stage_resolve(pipeline=deal.pipeline, stage=stage)
    # Guarded by status in one UPDATE: a deal closed meanwhile stays where it was closed.
    moved = Deal.objects.filter(pk=deal.pk, status=DealStatus.OPEN).update(
        stage=stage, updated_at=timezone.now()
    )
    if not moved:
        raise _deal_not_in(deal, "open", "move")
    _deal_refresh_status(deal)
    return deal


@transaction.atomic
def deal_close(*, deal: Deal, won: bool, actor=None) -> Deal:
    """Mark an open deal won or lost, stamping when."""
    _check_deal_writable(actor=actor, deal=deal)
    now = timezone.now()
    closed = Deal.objects.filter(pk=deal.pk, status=DealStatus.OPEN).update(
        status=DealStatus.WON if won else DealStatus.LOST, closed_at=now, updated_at=now
    )
    if not closed:
        raise _deal_not_in(deal, "open", "close")
    _deal_refresh_status(deal)
    return deal


@transaction.atomic
def deal_reopen(*, deal: Deal, actor=None) -> Deal:
    """Put a won or lost deal back in play on the stage it had."""
    _check_deal_writable(actor=actor, deal=deal)
    reopened = Deal.objects.filter(pk=deal.pk, status__in=[DealStatus.WON, DealStatus.LOST]).update(
        status=DealStatus.OPEN, closed_at=None, updated_at=timezone.now()
    )
    if not reopened:
        raise _deal_not_in(deal, "won or lost", "reopen")
    _deal_refresh_status(deal)
    return deal


@transaction.atomic
def deal_contacts_set(*, deal: Deal, contacts, actor=None) -> Deal:
    """Replace the contacts of a deal; it always keeps at least one. A sales rep may add only
    clients they may write to (those already on the deal may stay)."""
    contacts = _contacts_required(contacts)
    _check_deal_writable(actor=actor, deal=deal)
    if actor is not None:
        present = set(deal.contacts.values_list("pk", flat=True))
        for contact in contacts:
            if contact.pk not in present:
                _check_contact_writable(actor=actor, contact=contact)
    deal.contacts.set(contacts)
    return deal


@transaction.atomic
def deal_open_for_new_client(
    *,
    contact: Contact,
    pipeline: Pipeline,
    stage: Stage | None,
    responsible=None,
    source: str = "WhatsApp",
) -> Deal:
    """The deal routing opens when a new client writes on a channel with a pipeline configured.

    While the contact has an open deal in `pipeline`, that deal is returned instead of a second one.
    """
    # Deal membership is many-to-many, so "one open deal per contact and pipeline" spans two
    # tables and no index can hold it. Locking the contact's row serialises concurrent callers
    # for the same person; the second one then finds the deal the first one made.
    Contact.objects.select_for_update().filter(pk=contact.pk).values_list("pk").get()
    existing = (
        Deal.objects.filter(pipeline=pipeline, status=DealStatus.OPEN, contacts=contact)
        .order_by("created_at", "pk")
        .first()
    )
    if existing is not None:
        return existing
    return deal_create(
        name=f"{contact.name or contact.reach} \N{EN DASH} {source}",
        pipeline=pipeline,
        stage=stage,
        contacts=[contact],
        responsible=responsible,
    )


@transaction.atomic
def contact_upsert_by_phone(*, phone: str, actor=None, **fields) -> tuple[Contact, bool]:
    """Update the contact owning `phone` (any format) or create it; True when created.

    Two concurrent upserts of a new number end in one contact: the loser of the insert updates
    the winner's row.
    """
    e164 = phone_normalize(phone)
    existing = Contact.objects.filter(phone=e164).first()
    if existing is None:
        try:
            with transaction.atomic():
                return contact_create(phone=e164, actor=actor, **fields), True
        except (ContactPhoneTaken, IntegrityError):
            existing = Contact.objects.get(phone=e164)
    return contact_update(contact=existing, actor=actor, **fields), False


@transaction.atomic
def contact_upsert_by_address(*, address: Address, actor=None, **fields) -> tuple[Contact, bool]:
    """Update the contact `address` reaches or create it with that address; True when created.
    A phone address goes through `contact_upsert_by_phone`."""
    if address.transport in PHONE_TRANSPORTS:
        return contact_upsert_by_phone(phone=address.value, actor=actor, **fields)
    address = address_normalize(address)
    existing = contact_by_address(address=address)
    if existing is not None:
        return contact_update(contact=existing, actor=actor, **fields), False
    if actor is not None:
        _check_may_own(actor=actor, responsible=fields.get("responsible"), what="a new contact")
    phone = fields.pop("phone", None)
    try:
        with transaction.atomic():
            contact = Contact.objects.create(
                handle=(address.handle or address.value)[:200], **fields
            )
            ContactAddress.objects.create(
                contact=contact,
                transport=address.transport,
                address=address.value,
                handle=address.handle,
            )
    except IntegrityError:
        # A concurrent upsert created it first: update the winner's row.
        existing = contact_by_address(address=address)
        if existing is None:
            raise
        return contact_update(contact=existing, actor=actor, **fields), False
    if phone:
        contact_update(contact=contact, phone=phone)
    return contact, True


@transaction.atomic
def deal_status_set(*, deal: Deal, status: str, actor=None) -> Deal:
    """Move a deal to `status` through close and reopen, so `closed_at` follows."""
    if status == deal.status:
        return deal
    if deal.status != DealStatus.OPEN:
        deal_reopen(deal=deal, actor=actor)
    if status != DealStatus.OPEN:
        deal_close(deal=deal, won=status == DealStatus.WON, actor=actor)
    return deal
