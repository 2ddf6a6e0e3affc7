from django.db import IntegrityError, transaction

from crm.models import Company, Contact, ContactKind
from crm.phones import phone_normalize


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
) -> Contact:
    """Create a contact from a phone in any format; a taken phone raises `ContactPhoneTaken`."""
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
def contact_update(*, contact: Contact, **fields) -> Contact:
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
    return Contact.objects.get_or_create(phone=phone_e164, defaults={"name": name, "kind": kind})


@transaction.atomic
def contact_upsert_by_phone(*, phone: str, **fields) -> tuple[Contact, bool]:
    """Update the contact owning `phone` (any format) or create it; True when created.

    Two concurrent upserts of a new number end in one contact: the loser of the insert updates
    the winner's row.
    """
    e164 = phone_normalize(phone)
    existing = Contact.objects.filter(phone=e164).first()
    if existing is None:
        try:
            with transaction.atomic():
                return contact_create(phone=e164, **fields), True
        except (ContactPhoneTaken, IntegrityError):
            existing = Contact.objects.get(phone=e164)
    return contact_update(contact=existing, **fields), False
