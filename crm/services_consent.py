"""Consent: what each person agreed to receive, and the one send policy every path asks.

Records are append-only (`ConsentRecord`); the latest record that covers a send decides it. A
record on an address covers that way of reaching the person (a channel type); one without an
address covers the whole contact. `send_policy_check` is the single rule: inbox, tickets,
business-event notifications, the API (and campaigns) all reach it through `message_send`, or call
it directly before they queue anything.
"""

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import (
    ConsentPurpose,
    ConsentRecord,
    ConsentSource,
    ConsentState,
    Contact,
    ContactAddress,
)

MARKETING = "marketing"
UTILITY = "utility"
SERVICE = "service"  # free text inside the customer-service window, reactions, media

BASIS_CONSENT = "consent"
BASIS_LEGITIMATE_INTEREST = "legitimate_interest"


@dataclass(frozen=True)
class SendRefusal:
    """Why the policy refuses a send. `code` is shared by every send path and the API:
    `opted_out`, `no_consent`, `marketing_held`."""

    code: str
    message: str


# The refusal codes of the policy: a business event refused for one of them is skipped, not failed.
CONSENT_REFUSALS = frozenset({"opted_out", "no_consent", "marketing_held"})


def send_category(template_category: str | None) -> str:
    """The policy's category of a send: a template's own category, else a service message."""
    if template_category is None:
        return SERVICE
    return MARKETING if template_category.strip().upper() == "MARKETING" else UTILITY


def _covering(*, contact: Contact, purpose: str, transports: Iterable[str]):
    return ConsentRecord.objects.filter(contact=contact, purpose=purpose).filter(
        Q(address__isnull=True) | Q(address__transport__in=list(transports))
    )


def consent_current(*, contact: Contact, purpose: str, transports: Iterable[str]):
    """The record that decides a send of `purpose` over these address transports, or None."""
    return _covering(contact=contact, purpose=purpose, transports=transports).first()


def send_policy_check(
    *,
    contact: Contact,
    transports: Iterable[str],
    category: str,
    now: datetime | None = None,
) -> SendRefusal | None:
    """None when the send may go; else why not. Utility and service messages go as before;
    marketing needs an opt-in (or, under a legitimate-interest basis, no opt-out) and no hold
    the platform asked for."""
    if category != MARKETING:
        return None
    transports = list(transports)
    record = consent_current(
        contact=contact, purpose=ConsentPurpose.MARKETING, transports=transports
    )
    state = record.state if record is not None else ConsentState.UNKNOWN
    if state == ConsentState.OPTED_OUT:
        return SendRefusal(
            "opted_out",
            f"{contact} opted out of marketing messages ({record.get_source_display().lower()}, "
            f"{timezone.localtime(record.created_at):%Y-%m-%d %H:%M}): no marketing template "
            "may be sent.",
        )
    if state != ConsentState.OPTED_IN and settings.CONSENT_MARKETING_BASIS != (
        BASIS_LEGITIMATE_INTEREST
    ):
        return SendRefusal(
            "no_consent",
            f"{contact} has not opted in to marketing messages: a marketing template needs "
            "their consent.",
        )
    now = now or timezone.now()
    held = (
        ContactAddress.objects.filter(
            contact=contact, transport__in=transports, marketing_held_until__gt=now
        )
        .order_by("-marketing_held_until")
        .first()
    )
    if held is not None:
        return SendRefusal(
            "marketing_held",
            f"Marketing to {contact} is held until "
            f"{timezone.localtime(held.marketing_held_until):%Y-%m-%d %H:%M}: "
            f"{held.marketing_held_reason}",
        )
    return None


@transaction.atomic
def consent_record(
    *,
    contact: Contact,
    purpose: str,
    state: str,
    source: str,
    address: ContactAddress | None = None,
    text_shown: str = "",
    note: str = "",
    actor=None,
) -> ConsentRecord:
    """Append one statement of consent. Raises ValueError on a value outside the choices."""
    for value, choices in (
        (purpose, ConsentPurpose),
        (state, ConsentState),
        (source, ConsentSource),
    ):
        if value not in choices.values:
            raise ValueError(f"{value!r} is not one of {', '.join(choices.values)}.")
    if address is not None and address.contact_id != contact.pk:
        raise ValueError("The address belongs to another contact.")
    return ConsentRecord.objects.create(
        contact=contact,
        address=address,
        purpose=purpose,
        state=state,
        source=source,
        text_shown=text_shown,
        note=note[:255],
        actor=actor if getattr(actor, "pk", None) else None,
    )


@transaction.atomic
def consent_record_for_transports(
    *,
    contact: Contact,
    transports: Iterable[str],
    purpose: str,
    state: str,
    source: str,
    note: str = "",
    text_shown: str = "",
    actor=None,
) -> list[ConsentRecord]:
    """One record per address the contact has on these transports (the channel type the person
    spoke on); the whole contact when they have none there."""
    addresses = list(ContactAddress.objects.filter(contact=contact, transport__in=list(transports)))
    return [
        consent_record(
            contact=contact,
            address=address,
            purpose=purpose,
            state=state,
            source=source,
            note=note,
            text_shown=text_shown,
            actor=actor,
        )
        for address in addresses or [None]
    ]


def address_marketing_hold(
    *, contact: Contact, transports: Iterable[str], until: datetime, reason: str
) -> int:
    """Hold marketing to these addresses until `until` (the platform's per-user limit)."""
    return ContactAddress.objects.filter(contact=contact, transport__in=list(transports)).update(
        marketing_held_until=until, marketing_held_reason=reason[:255]
    )


# ---------------------------------------------------------------------------------------------
# Keywords


OPT_OUT = "opt_out"
OPT_IN = "opt_in"


def keyword_normalize(text: str) -> str:
    """Whole-message matching: case, accents, surrounding punctuation and spaces do not count."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.strip(" \t\r\n.!?,;:'\"").split()).upper()


def consent_keyword_match(*, text: str = "", payload: str = "") -> tuple[str, str] | None:
    """(action, language) when the message is exactly an opt-out or opt-in keyword, or a
    template's opt-out button payload; None otherwise."""
    if payload and payload.strip() in settings.CONSENT_OPT_OUT_PAYLOADS:
        return OPT_OUT, ""
    word = keyword_normalize(text)
    if not word:
        return None
    for language, actions in settings.CONSENT_KEYWORDS.items():
        for action in (OPT_OUT, OPT_IN):
            if word in {keyword_normalize(k) for k in actions.get(action, ())}:
                return action, language
    return None


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class ConsentLine:
    purpose: str
    state: str
    scope: str  # "all channels" or the address
    source: str
    at: datetime


def consent_lines(*, contact: Contact) -> list[ConsentLine]:
    """The current state per purpose and scope, newest first, in one query: what the admin and
    the inbox contact panel show."""
    seen, lines = set(), []
    records = ConsentRecord.objects.filter(contact=contact).select_related("address")
    for record in records:
        key = (record.purpose, record.address_id)
        if key in seen:
            continue
        seen.add(key)
        lines.append(
            ConsentLine(
                purpose=record.get_purpose_display(),
                state=record.get_state_display(),
                scope=str(record.address) if record.address else "all channels",
                source=record.get_source_display(),
                at=record.created_at,
            )
        )
    return lines


@transaction.atomic
def contact_consent_add(
    *,
    contact: Contact,
    purpose: str,
    state: str,
    source: str,
    transport: str = "",
    text_shown: str = "",
    note: str = "",
    actor=None,
) -> list[ConsentRecord]:
    """Consent as the API, an import or an agent states it: for the whole contact, or for their
    addresses on one transport. Raises ValueError when the contact has no such address."""
    if not transport:
        return [
            consent_record(
                contact=contact,
                purpose=purpose,
                state=state,
                source=source,
                text_shown=text_shown,
                note=note,
                actor=actor,
            )
        ]
    if not contact.addresses.filter(transport=transport).exists():
        raise ValueError(f"{contact} has no {transport} address to give consent for.")
    return consent_record_for_transports(
        contact=contact,
        transports=[transport],
        purpose=purpose,
        state=state,
        source=source,
        text_shown=text_shown,
        note=note,
        actor=actor,
    )


def consent_import_rows(*, rows: Iterable[dict], actor=None) -> tuple[int, list[str]]:
    """Import consent from rows with `phone`, `purpose`, `state` and optionally `transport`,
    `text_shown`, `source` (default import). A row with an unknown phone or a bad value is
    reported by its line and skipped; the others are kept."""
    from crm.phones import PhoneNumberInvalid, phone_normalize

    imported, errors = 0, []
    for line, row in enumerate(rows, start=2):
        try:
            phone = phone_normalize(str(row.get("phone") or ""))
            contact = Contact.objects.filter(phone=phone).first()
            if contact is None:
                raise ValueError(f"no contact has the phone {phone}")
            imported += len(
                contact_consent_add(
                    contact=contact,
                    purpose=(row.get("purpose") or "").strip(),
                    state=(row.get("state") or "").strip(),
                    source=(row.get("source") or ConsentSource.IMPORT).strip(),
                    transport=(row.get("transport") or "").strip(),
                    text_shown=row.get("text_shown") or "",
                    note="import",
                    actor=actor,
                )
            )
        except (ValueError, PhoneNumberInvalid) as exc:
            message = exc.messages[0] if isinstance(exc, PhoneNumberInvalid) else str(exc)
            errors.append(f"line {line}: {message}")
    return imported, errors
