from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role
from accounts.selectors import user_role
from crm.models import Company, Contact, ContactKind, Deal, DealStatus, Pipeline, Stage
from crm.phones import phone_normalize
from crm.selectors import company_is_writable_by, contact_is_writable_by, deal_is_writable_by


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


class ContactPhoneTaken(Exception):
    def __init__(self, phone: str, existing: Contact):
        self.phone = phone
        self.existing = existing
        super().__init__(
            f"The phone {phone} already belongs to contact #{existing.pk} ({existing})."
        )


def _ensure_phone_free(phone: str, *, exclude_pk=None) -> None:
    clash = Contact.objects.filter(phone=phone).exclude(pk=exclude_pk).first()
    if clash is not None:
        raise ContactPhoneTaken(phone, clash)


@transaction.atomic
def contact_create(
    *,
    phone: str,
    name: str = "",
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
            return Contact.objects.create(
                phone=e164,
                name=name,
                kind=kind,
                email=email,
                company=company,
                responsible=responsible,
            )
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
        fields["phone"] = phone_normalize(fields["phone"])
        _ensure_phone_free(fields["phone"], exclude_pk=contact.pk)
    for name, value in fields.items():
        setattr(contact, name, value)
    contact.save()
    return contact


def contact_get_or_create_by_phone(
    *, phone_e164: str, name: str = "", kind: str = ContactKind.LEAD
) -> tuple[Contact, bool]:
    """Find the contact owning an E.164 number or create it as a lead.

    Two first messages from a new number at once end in one contact: the unique index decides and
    the loser reads the winner's row (`get_or_create` retries the read on IntegrityError).
    """
    return Contact.objects.get_or_create(
        phone=phone_e164, defaults={"name": _name_fit(name), "kind": kind}
    )


def _name_fit(name: str) -> str:
    """A name as given from outside (a chat profile), cut to what the column keeps."""
    return name[: Contact._meta.get_field("name").max_length]


def contacts_get_or_create_by_phones(*, names: dict[str, str]) -> dict[str, Contact]:
    """`contact_get_or_create_by_phone` for many numbers at once: {E.164: name for a new lead}.

    Two statements however many numbers: the unknown ones are inserted with ON CONFLICT DO
    NOTHING, so a concurrent creator wins quietly, and are then read back with everyone else.
    """
    if not names:
        return {}
    known = set(Contact.objects.filter(phone__in=names).values_list("phone", flat=True))
    missing = [phone for phone in names if phone not in known]
    if missing:
        Contact.objects.bulk_create(
            [
                Contact(phone=phone, name=_name_fit(names[phone]), kind=ContactKind.LEAD)
                for phone in missing
            ],
            ignore_conflicts=True,
        )
    return {contact.phone: contact for contact in Contact.objects.filter(phone__in=names)}


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
        name=f"{contact.name or contact.phone} \N{EN DASH} {source}",
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
def deal_status_set(*, deal: Deal, status: str, actor=None) -> Deal:
    """Move a deal to `status` through close and reopen, so `closed_at` follows."""
    if status == deal.status:
        return deal
    if deal.status != DealStatus.OPEN:
        deal_reopen(deal=deal, actor=actor)
    if status != DealStatus.OPEN:
        deal_close(deal=deal, won=status == DealStatus.WON, actor=actor)
    return deal
